import numpy as np
import pytest
import torch

import dnaseq
from dnaseq.data.datamodule import ChunkShuffleSampler, DNADataModule, expand_batch


def test_sampler_covers_every_row_once_and_is_seeded():
    s = ChunkShuffleSampler(1000, 64, chunk_rows=50, seed=3, mix_chunks=4)
    s.set_epoch(1)
    batches = list(s)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert len(batches) == len(s) == 16
    assert all((np.diff(b) > 0).all() for b in batches)
    again = ChunkShuffleSampler(1000, 64, chunk_rows=50, seed=3, mix_chunks=4)
    again.set_epoch(1)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    again.set_epoch(2)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_sampler_ranks_partition_batches():
    parts = [list(ChunkShuffleSampler(1000, 100, seed=0, num_replicas=3, rank=r)) for r in range(3)]
    assert all(len(p) == 4 for p in parts)  # 3 full rounds + the 10th batch split in three
    assert sorted(len(p[-1]) for p in parts) == [33, 33, 34]
    rows = np.concatenate([np.concatenate(p) for p in parts])
    assert len(set(rows.tolist())) == len(rows) == 1000


def test_batches_with_workers_from_disk(shipped_dataset):
    dm = DNADataModule(str(shipped_dataset), batch_size=32, num_workers=2, in_memory=False)
    assert dm.n_features == 8 and dm.seq_len == 1000
    loader = dm.val_dataloader()
    seen = 0
    for i, (codes, labels) in enumerate(loader):
        assert codes.dtype == torch.uint8 and codes.shape == (32, 1000)
        assert labels.dtype == torch.uint8 and labels.shape == (32, 8)
        x, y = expand_batch(codes, labels, rc_augment=True)
        assert x.shape == (32, 4, 1000) and x.dtype == torch.float32 and y.dtype == torch.float32
        seen += 1
        if i == 5:
            break
    assert seen == 6
    # on-disk and in-memory reads agree
    mem = DNADataModule(str(shipped_dataset), in_memory=True).source("valid")
    disk = dm.source("valid")
    idx = np.array([0, 5, 700, 13000])
    assert np.array_equal(mem.read(idx)[0], disk.read(idx)[0])
    assert np.array_equal(mem.read(idx)[1], disk.read(idx)[1])


def test_rc_augment_flips_about_half():
    codes = torch.randint(0, 4, (200, 50), dtype=torch.uint8)
    labels = torch.zeros(200, 3, dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    x, _ = expand_batch(codes, labels, rc_augment=True, generator=g)
    plain, _ = expand_batch(codes, labels)
    same = (x == plain).flatten(1).all(1)
    assert 60 < int(same.sum()) < 140
    flipped = ~same
    assert torch.equal(x[flipped], torch.flip(plain[flipped], dims=(-2, -1)))


def test_eval_sharding_gives_every_window_to_exactly_one_rank():
    from dnaseq.data.datamodule import ChunkShuffleSampler
    for n, bs, world in ((103, 10, 2), (100, 10, 3), (7, 10, 2), (64, 8, 4)):
        seen = []
        for rank in range(world):
            s = ChunkShuffleSampler(n, bs, chunk_rows=16, shuffle=False, num_replicas=world, rank=rank, even=False)
            batches = list(s)
            assert len(batches) == len(s)
            seen += [int(i) for b in batches for i in b]
        assert sorted(seen) == list(range(n))


def test_validation_auroc_equals_scikit_learn(tmp_path):
    """valid_auroc (torchmetrics, synced across ranks) is scikit-learn's mean per-feature ROC AUC."""
    import pytorch_lightning as pl
    import torch
    from sklearn.metrics import roc_auc_score

    from tests.conftest import build_slice_dataset
    data = build_slice_dataset(tmp_path)
    pl.seed_everything(0, verbose=False)
    dm = dnaseq.DNADataModule(str(data), batch_size=32)
    model = dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [8], "conv_widths": 11, "pool_sizes": 10,
                                                    "rnn_type": "none", "readout": "max", "head_hidden": [8]},
                                 seq_len=dm.seq_len, n_features=dm.n_features)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, accelerator="cpu")
    trainer.fit(model, datamodule=dm)
    logged = float(trainer.callback_metrics["valid_auroc"])
    src = dnaseq.open_split(str(data), "valid")
    codes, labels = src.read(np.arange(len(src)))
    with torch.no_grad():
        p = model.eval().predict_proba(dnaseq.one_hot(codes), strand="forward").numpy()
    aucs = [roc_auc_score(labels[:, j], p[:, j]) for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
    assert len(aucs) >= 3 and logged == pytest.approx(float(np.mean(aucs)), abs=1e-5)


def test_shift_codes_moves_each_row_and_fills_n():
    from dnaseq.data.datamodule import shift_codes
    codes = torch.tensor([[0, 1, 2, 3, 0], [0, 1, 2, 3, 0], [3, 3, 2, 2, 1]], dtype=torch.uint8)
    out = shift_codes(codes, torch.tensor([2, -1, 0]))
    assert out.tolist() == [[4, 4, 0, 1, 2], [1, 2, 3, 0, 4], [3, 3, 2, 2, 1]]
    assert out.dtype == torch.uint8


def test_jitter_shifts_training_batches_only(shipped_dataset):
    from types import SimpleNamespace
    dm = DNADataModule(str(shipped_dataset), batch_size=64, in_memory=True, jitter=7)
    codes, labels = next(iter(dm.train_dataloader()))
    plain, _ = expand_batch(codes, labels)
    dm.trainer = SimpleNamespace(training=False, world_size=1)
    x, _ = dm.on_after_batch_transfer((codes, labels), 0)
    assert torch.equal(x, plain)  # validation and prediction see the windows as they are
    dm.trainer = SimpleNamespace(training=True, world_size=1)
    x, _ = dm.on_after_batch_transfer((codes, labels), 0)
    shifts = []
    for row in range(len(codes)):  # each row is its window shifted by some s in [-7, 7], N at the edge
        s = next(s for s in range(-7, 8)
                 if torch.equal(x[row, :, max(s, 0):1000 + min(s, 0)], plain[row, :, max(-s, 0):1000 - max(s, 0)]))
        edge = x[row, :, :s] if s > 0 else x[row, :, 1000 + s:]
        assert torch.all(edge == 0.25)
        shifts.append(s)
    assert len(set(shifts)) > 5
    with pytest.raises(ValueError, match="jitter"):
        DNADataModule(str(shipped_dataset), jitter=-1)


def test_train_fraction_is_a_seeded_subset(shipped_dataset):
    full = DNADataModule(str(shipped_dataset)).source("train")
    a = DNADataModule(str(shipped_dataset), train_fraction=0.1, train_subset_seed=1).source("train")
    b = DNADataModule(str(shipped_dataset), train_fraction=0.1, train_subset_seed=1).source("train")
    c = DNADataModule(str(shipped_dataset), train_fraction=0.1, train_subset_seed=2).source("train")
    assert len(a) == round(len(full) * 0.1) and np.array_equal(a.rows, b.rows) and not np.array_equal(a.rows, c.rows)
    codes, labels = a.read(np.arange(5))
    full_codes, full_labels = full.read(a.rows[:5])
    assert np.array_equal(codes, full_codes) and np.array_equal(labels, full_labels)
    assert len(DNADataModule(str(shipped_dataset), train_fraction=0.1).source("valid")) == len(
        DNADataModule(str(shipped_dataset)).source("valid"))  # only training is cut
    with pytest.raises(ValueError, match="train_fraction"):
        DNADataModule(str(shipped_dataset), train_fraction=0)


@pytest.mark.parametrize("in_memory", [True, False])
def test_rows_are_read_by_index_or_mask_and_nothing_else(shipped_dataset, in_memory):
    """A boolean mask reads its True rows (it was taken for the indices 0 and 1, silently); an index
    outside the split or of another type is refused the same way in memory and on disk."""
    src = dnaseq.open_split(str(shipped_dataset), "test", in_memory=in_memory)
    mask = np.zeros(len(src), bool)
    mask[[5, 7]] = True
    codes, labels = src.read(mask)
    want_codes, want_labels = src.read(np.array([5, 7]))
    assert codes.shape[0] == 2 and np.array_equal(codes, want_codes) and np.array_equal(labels, want_labels)
    for bad, expect in [(np.array([len(src)]), f"row index {len(src)} is outside the split's"),
                        (np.array([-1]), "row index -1 is outside"), (np.array([0.5]), "must be integers"),
                        (np.ones(3, bool), "one value per row")]:
        with pytest.raises(ValueError, match=expect):
            src.read(bad)
    subset = DNADataModule(str(shipped_dataset), train_fraction=0.1).source("train")
    with pytest.raises(ValueError, match="outside the split's"):
        subset.read(np.array([len(subset)]))


def test_packed_labels_travel_packed_and_are_unpacked_on_the_device(tmp_path):
    """Issue 31, item 3: a bit-packed dataset's labels leave the loader workers packed (8 features
    a byte) when a Trainer drives the loader, and on_after_batch_transfer unpacks them to exactly
    the labels a hand-iterated loader gives; reads that span labels chunks and sequence chunks agree
    with a plain whole-split read."""
    from types import SimpleNamespace

    from dnaseq.data.datamodule import _unpack_bits, unpack_labels
    from dnaseq.data.dataset import open_split
    from tests.conftest import build_slice_dataset

    data = build_slice_dataset(tmp_path, "packed.h5", pack_labels=True, valid_fraction=0.1, test_fraction=0.1)
    src = open_split(str(data), "train", in_memory=False)
    whole = open_split(str(data), "train", in_memory=True)
    assert src.packed and src.label_rows > src.chunk_rows
    idx = np.sort(np.random.default_rng(0).choice(src.n, 300, replace=False))
    codes, labels = src.read(idx)
    codes_m, labels_m = whole.read(idx)
    assert np.array_equal(codes, codes_m) and np.array_equal(labels, labels_m) and labels.shape[1] == 8
    _, packed = src.read(idx, packed=True)
    assert packed.shape == (300, 1) and np.array_equal(packed, np.packbits(labels, axis=1))
    for unpack in (unpack_labels, _unpack_bits):  # numpy on the CPU; shifts on accelerators
        assert torch.equal(unpack(torch.from_numpy(packed), 8), torch.from_numpy(labels))

    plain = DNADataModule(str(data), batch_size=64, in_memory=False, seed=3)
    driven = DNADataModule(str(data), batch_size=64, in_memory=False, seed=3)
    driven.trainer = SimpleNamespace(training=True, world_size=1, global_rank=0)
    for (c1, y1), (c2, y2) in zip(plain.train_dataloader(), driven.train_dataloader()):
        assert y2.shape[1] == 1 and torch.equal(c1, c2)
        _, y = driven.on_after_batch_transfer((c2, y2), 0)
        assert torch.equal(y, y1.float())


def test_dnaseq_train_on_a_packed_dataset(tmp_path):
    """The packed path end to end: Lightning trains and validates on bit-packed labels."""
    from tests.conftest import build_slice_dataset, run_cli
    from tests.test_train import write_config

    data = build_slice_dataset(tmp_path, "packed.h5", pack_labels=True)
    cfg = write_config(tmp_path / "c.yaml", data, tmp_path / "ckpt", limit_train_batches=3)
    run_cli("train", "--config", cfg)
    model = dnaseq.load_model(str(tmp_path / "ckpt" / "last.ckpt"))
    assert model.n_features == 8
    import pandas as pd
    metrics = pd.read_csv(next((tmp_path / "logs").rglob("metrics.csv")))
    assert metrics["valid_auroc"].dropna().between(0, 1).all() and metrics["train_loss_step"].notna().any()


def test_wide_label_chunks_match_sequence_chunks(tmp_path):
    """A shuffled batch decompresses whole labels chunks: for 919 packed features (115 bytes a
    row) a labels chunk holds the rows of one sequences chunk, not sixteen."""
    from dnaseq.data.dataset import DatasetWriter, label_chunk_rows
    assert label_chunk_rows(256, 115) == 256 and label_chunk_rows(256, 919) == 256
    assert label_chunk_rows(256, 8) == 2048 and label_chunk_rows(256, 1) == 4096
    path = tmp_path / "w.h5"
    with DatasetWriter(str(path), 1000, 919, pack_labels=True) as w:
        w.ensure_split("train")
    import h5py
    with h5py.File(path) as h5:
        assert h5["train/labels"].chunks == (256, 115) and h5["train/sequences"].chunks == (256, 1000)
