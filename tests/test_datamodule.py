import numpy as np
import torch

from dnaseq.datamodule import ChunkShuffleSampler, DNADataModule, expand_batch


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
    assert all(len(p) == 3 for p in parts)
    rows = np.concatenate([np.concatenate(p) for p in parts])
    assert len(set(rows.tolist())) == len(rows) == 900


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
