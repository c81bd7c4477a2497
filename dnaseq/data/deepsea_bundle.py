"""Readers for the published DeepSEA training bundle (deepsea_train/).

* ``train.mat`` is MATLAB v7.3, i.e. HDF5: ``trainxdata`` has shape (1000, 4, N) as h5py sees
  it and ``traindata`` (919, N). It is read lazily with h5py.
* ``valid.mat`` / ``test.mat`` are MATLAB v5: ``validxdata`` / ``testxdata`` (N, 4, 1000) and
  ``validdata`` / ``testdata`` (N, 919), read whole with scipy (they fit in memory) and
  converted to codes at once.

DeepSEA orders one-hot channels A, G, C, T; dnaseq's order is A, C, G, T, so every read goes
through :data:`DEEPSEA_TO_DNASEQ_CHANNELS`. A column that is not exactly one base becomes N.

The bundle ships no feature names. For the 919-feature bundle the published order is
125 DNase, 690 TF, 104 histone features, so those are the default groups; pass a names file
(one per line, optionally ``name<TAB>group``) as ``features.txt`` beside the .mat files to name them.
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import h5py
import numpy as np

from .layout import DatasetInfo, SplitSource, row_indices

#: index into a DeepSEA (A, G, C, T) axis that gives dnaseq's (A, C, G, T)
DEEPSEA_TO_DNASEQ_CHANNELS = np.array([0, 2, 1, 3])
_VARS = {"train": ("trainxdata", "traindata"), "valid": ("validxdata", "validdata"),
         "test": ("testxdata", "testdata")}


def deepsea_groups(n_features: int) -> List[str]:
    if n_features == 919:
        return ["DNase"] * 125 + ["TF"] * 690 + ["Histone"] * 104
    return ["unknown"] * n_features


def _names_file(directory: str, n_features: int) -> Tuple[List[str], List[str]]:
    path = os.path.join(directory, "features.txt")
    names = [f"feature_{i}" for i in range(n_features)]
    groups = deepsea_groups(n_features)
    if os.path.exists(path):
        with open(path) as fh:
            rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
        if len(rows) != n_features:
            raise ValueError(f"{path} names {len(rows)} features but the bundle has {n_features}")
        names = [r[0] for r in rows]
        groups = [r[1] if len(r) > 1 else g for r, g in zip(rows, groups)]
    return names, groups


def onehot_to_codes(x: np.ndarray, channel_axis: int) -> np.ndarray:
    """DeepSEA one-hot (any layout, channels A,G,C,T on ``channel_axis``) -> codes (N, L)."""
    x = np.moveaxis(np.asarray(x), channel_axis, -1)[..., DEEPSEA_TO_DNASEQ_CHANNELS]
    codes = x.argmax(axis=-1).astype(np.uint8)
    exactly_one = (x.sum(axis=-1) == 1) & (x.max(axis=-1) == 1)
    codes[~exactly_one] = 4
    return codes


def _split_of(path: str) -> Optional[str]:
    base = os.path.basename(path)
    for split in _VARS:
        if base.startswith(split):
            return split
    return None


def available_splits(path: str) -> List[str]:
    if os.path.isdir(path):
        return [s for s in _VARS if os.path.exists(os.path.join(path, f"{s}.mat"))]
    split = _split_of(path)
    return [split] if split else []


def open_mat_split(path: str, split: str) -> SplitSource:
    """Open ``split`` of a DeepSEA bundle directory, or the single .mat file ``path``."""
    if os.path.isdir(path):
        file = os.path.join(path, f"{split}.mat")
        directory = path
    else:
        file, directory = path, os.path.dirname(path) or "."
        if _split_of(path) not in (None, split):
            raise ValueError(f"{path} holds the {_split_of(path)!r} split, not {split!r}")
    if not os.path.exists(file):
        raise FileNotFoundError(f"DeepSEA file not found: {file}")
    if h5py.is_hdf5(file):
        return MatV73Split(file, split, directory)
    return MatV5Split(file, split, directory)


class MatV5Split(SplitSource):
    """valid.mat / test.mat (MATLAB v5): loaded whole, converted to codes once."""

    def __init__(self, path: str, split: str, directory: str):
        import scipy.io  # start-up cost: only the published bundle's MATLAB files need it

        xname, yname = _VARS[split]
        try:
            mat = scipy.io.loadmat(path, variable_names=[xname, yname])
        except Exception as exc:  # scipy raises several types for truncated/odd files
            raise ValueError(f"{path}: cannot read as MATLAB v5 ({exc})") from exc
        if xname not in mat or yname not in mat:
            raise KeyError(f"{path} lacks {xname!r}/{yname!r}; has {[k for k in mat if not k.startswith('__')]}")
        x, y = mat[xname], mat[yname]
        if x.ndim != 3 or x.shape[1] != 4:
            raise ValueError(f"{path}: {xname} should be (N, 4, L), got {x.shape}")
        self.codes = onehot_to_codes(x, channel_axis=1)
        self.labels = np.ascontiguousarray(y, dtype=np.uint8)
        self.n = len(self.codes)
        names, groups = _names_file(directory, self.labels.shape[1])
        self.info = DatasetInfo(names, groups, self.codes.shape[1], {"source": path, "format": "deepsea-mat-v5"})
        self.chunk_rows = 1

    def read(self, idx):
        idx = row_indices(idx, self.n)
        return self.codes[idx], self.labels[idx]


class MatV73Split(SplitSource):
    """train.mat (MATLAB v7.3 = HDF5): ``trainxdata`` (L, 4, N), ``traindata`` (F, N), lazy."""

    def __init__(self, path: str, split: str, directory: str):
        self.path = path
        self.xname, self.yname = _VARS[split]
        with h5py.File(path, "r") as h5:
            if self.xname not in h5 or self.yname not in h5:
                raise KeyError(f"{path} lacks {self.xname!r}/{self.yname!r}; has {list(h5.keys())}")
            L, four, n = h5[self.xname].shape
            if four != 4:
                raise ValueError(f"{path}: {self.xname} should be (L, 4, N), got {h5[self.xname].shape}")
            n_features = h5[self.yname].shape[0]
            chunks = h5[self.xname].chunks
        self.n = n
        names, groups = _names_file(directory, n_features)
        self.info = DatasetInfo(names, groups, L, {"source": path, "format": "deepsea-mat-v7.3"})
        self.chunk_rows = chunks[2] if chunks else 1
        self._h5 = None
        self._pid = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"] = None
        return state

    def _file(self):
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._h5

    def read(self, idx, max_gap: int = 4096):
        idx = row_indices(idx, self.n)
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        h5 = self._file()
        codes = np.empty((len(idx), self.info.seq_len), np.uint8)
        labels = np.empty((len(idx), self.info.n_features), np.uint8)
        # read contiguous slabs along N (HDF5 point selections are far slower), one per run of
        # indices with gaps below max_gap
        breaks = np.nonzero(np.diff(sorted_idx) > max_gap)[0] + 1
        for run in np.split(np.arange(len(sorted_idx)), breaks):
            if len(run) == 0:
                continue
            lo, hi = int(sorted_idx[run[0]]), int(sorted_idx[run[-1]]) + 1
            local = sorted_idx[run] - lo
            x = h5[self.xname][:, :, lo:hi][:, :, local]
            y = h5[self.yname][:, lo:hi][:, local]
            codes[order[run]] = onehot_to_codes(x, channel_axis=1).T
            labels[order[run]] = y.T
        return codes, labels

    def close(self):
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
