import h5py
import numpy as np
import scipy.io

from dnaseq import decode, open_split
from dnaseq.data.deepsea_bundle import deepsea_groups

AGCT = "AGCT"


def _deepsea_onehot(seqs):
    """One-hot in DeepSEA's A,G,C,T channel order, (N, 4, L)."""
    x = np.zeros((len(seqs), 4, len(seqs[0])), np.uint8)
    for i, s in enumerate(seqs):
        for j, b in enumerate(s):
            if b in AGCT:
                x[i, AGCT.index(b), j] = 1
    return x


def _seqs(n, L, seed):
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), size=L)) for _ in range(n)]
    seqs[0] = "N" + seqs[0][1:]
    return seqs


def test_v5_valid_and_test_mat(tmp_path):
    seqs = _seqs(5, 40, 0)
    y = np.random.default_rng(1).integers(0, 2, size=(5, 919)).astype(np.uint8)
    scipy.io.savemat(tmp_path / "valid.mat", {"validxdata": _deepsea_onehot(seqs), "validdata": y})
    src = open_split(str(tmp_path), "valid")
    codes, labels = src.read(np.arange(5))
    assert [decode(c) for c in codes] == seqs
    assert np.array_equal(labels, y)
    assert src.info.feature_groups == deepsea_groups(919)
    assert src.info.feature_groups.count("TF") == 690


def test_v73_train_mat_is_hdf5_with_transposed_axes(tmp_path):
    seqs = _seqs(9, 30, 2)
    y = np.random.default_rng(3).integers(0, 2, size=(9, 6)).astype(np.uint8)
    x = _deepsea_onehot(seqs)  # (N, 4, L)
    with h5py.File(tmp_path / "train.mat", "w") as h5:
        h5["trainxdata"] = np.transpose(x, (2, 1, 0))  # (L, 4, N) as h5py sees MATLAB v7.3
        h5["traindata"] = y.T  # (F, N)
    (tmp_path / "features.txt").write_text("".join(f"f{i}\tHistone\n" for i in range(6)))
    src = open_split(str(tmp_path / "train.mat"), "train")
    assert len(src) == 9 and src.info.seq_len == 30 and src.info.feature_names[0] == "f0"
    idx = np.array([8, 0, 4, 5])
    codes, labels = src.read(idx)
    assert [decode(c) for c in codes] == [seqs[i] for i in idx]
    assert np.array_equal(labels, y[idx])
    assert np.array_equal(src.read(idx, max_gap=0)[0], codes)
