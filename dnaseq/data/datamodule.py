"""LightningDataModule over dnaseq HDF5 datasets and DeepSEA bundles.

Batches travel as uint8 base codes (1 byte per base) and become float one-hot only in
``on_after_batch_transfer``, i.e. on the training device (the GPU when training there), where
the optional reverse-complement augmentation also happens.

Shuffling is chunk-aware: HDF5 decompresses whole chunks, so a batch of rows drawn uniformly
from the whole split would decompress one chunk per row. :class:`ChunkShuffleSampler` shuffles
the order of chunks, then shuffles rows within groups of ``mix_chunks`` chunks and cuts those
into batches; each batch then touches a few chunks that the reader caches. Splits that fit in
memory are loaded whole and shuffled freely.

``data`` may also be a reference FASTA (recognised by its content): windows are then read
straight from it for a DNA language model (:mod:`dnaseq.data.genome_windows`, options under
``windows``), and each batch is ``(one-hot, base codes)``: the targets are the bases themselves,
reverse-complemented and shifted with the input.

Training can be resumed mid-epoch exactly: the training loader is *stateful* in Lightning's
sense (``state_dict`` / ``load_state_dict``), recording the epoch and how many batches the model
has taken; a resumed run skips those batches of the same shuffled order. Nothing here draws from
the global random generators (the loaders have their own, and reverse-complement flips are drawn
from a generator seeded by seed, epoch, batch and rank), so the global stream is left to the model
(dropout) and :mod:`dnaseq.training.resume` can restore it exactly.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Iterator, List, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome, is_fasta
from ..sequence.onehot import one_hot, reverse_complement_one_hot
from ..settings import DEFAULT_FILL, whole_number
from .dataset import SplitSource, available_splits, open_split
from .genome_windows import BASES, GenomeWindows, GenomeWindowSplit, as_windows, split_chromosomes
from .layout import DatasetInfo, SubsetSource


class ChunkShuffleSampler(DistributedSampler):
    """Yields one sorted index array per batch; reproducible from (seed, epoch).

    With ``num_replicas > 1`` each rank takes every ``num_replicas``-th batch, so DDP needs no
    extra sampler, and every window goes to exactly one rank. Training (``even=True``) gives every
    rank the same number of batches, as DDP needs: the windows of the last, incomplete round of
    batches are split evenly into one smaller batch per rank (only when fewer windows than ranks
    remain are those padded with windows from the start of the epoch's order). Evaluation
    (``even=False``) leaves the last round as it is (some ranks get one batch fewer).

    ``skip`` batches are left out of the next iteration only (a resumed epoch); ``consumed``
    counts the batches of the current epoch the model has taken (the data module advances it).

    It is a ``DistributedSampler`` only so that a Trainer with ``use_distributed_sampler=True``
    (Lightning's default) does not shard its batches a second time; none of the parent's code
    runs (its ``__init__`` needs a process group, this sampler does not).
    """

    def __init__(self, n: int, batch_size: int, chunk_rows: int = 1, shuffle: bool = True,
                 seed: int = 0, mix_chunks: int = 16, drop_last: bool = False,
                 num_replicas: int = 1, rank: int = 0, even: bool = True):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.n, self.batch_size, self.chunk_rows = n, batch_size, max(1, chunk_rows)
        self.shuffle, self.seed, self.mix_chunks, self.drop_last = shuffle, seed, mix_chunks, drop_last
        self.num_replicas, self.rank, self.even = num_replicas, rank, even
        self.epoch = 0
        self.skip = 0
        self.consumed = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict:
        """Where the current epoch stands: enough to continue it exactly after a restart."""
        return {"epoch": self.epoch, "consumed": self.consumed, "seed": self.seed, "n": self.n,
                "batch_size": self.batch_size, "num_replicas": self.num_replicas}

    def load_state_dict(self, state: dict) -> None:
        """Continue after ``state``: the rest of its epoch, or the next epoch if it was done."""
        same = all(state.get(k) == getattr(self, k) for k in ("seed", "n", "batch_size", "num_replicas"))
        if not same:
            raise ValueError("cannot resume mid-epoch: the checkpoint's data order was made for "
                             f"{ {k: state.get(k) for k in ('seed', 'n', 'batch_size', 'num_replicas')} }, this run has "
                             f"{ {k: getattr(self, k) for k in ('seed', 'n', 'batch_size', 'num_replicas')} }")
        self.epoch, self.skip = int(state["epoch"]), int(state["consumed"])
        if self.skip >= len(self):
            self.epoch, self.skip = self.epoch + 1, 0

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.chunk_rows <= 1:
            return rng.permutation(self.n)
        n_chunks = math.ceil(self.n / self.chunk_rows)
        chunks = rng.permutation(n_chunks)
        order = []
        for g in range(0, n_chunks, self.mix_chunks):
            rows = np.concatenate([np.arange(c * self.chunk_rows, min((c + 1) * self.chunk_rows, self.n))
                                   for c in chunks[g:g + self.mix_chunks]])
            order.append(rng.permutation(rows))
        return np.concatenate(order)

    def _batches(self) -> List[np.ndarray]:
        order = self._order()
        batches = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.num_replicas == 1:
            return batches
        if not self.even:
            return batches[self.rank::self.num_replicas]
        usable = len(batches) // self.num_replicas * self.num_replicas
        mine = batches[self.rank:usable:self.num_replicas]
        if usable < len(batches):  # the last round: one smaller batch per rank
            tail = np.concatenate(batches[usable:])
            if len(tail) < self.num_replicas:
                tail = np.concatenate([tail, order[:self.num_replicas - len(tail)]])
            mine.append(np.array_split(tail, self.num_replicas)[self.rank])
        return mine

    def __iter__(self) -> Iterator[np.ndarray]:
        skip, self.skip, self.consumed = self.skip, 0, self.skip
        for b in self._batches()[skip:]:
            yield np.sort(b)

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        count = full + (1 if rest and not self.drop_last else 0)
        if self.num_replicas == 1:
            return count
        if self.even:
            return -(-count // self.num_replicas)
        return len(range(self.rank, count, self.num_replicas))


def keep_numpy(batch):
    """The loaders' collate function (it runs in the worker processes): a batch stays the numpy
    arrays :class:`BatchDataset` read, so it crosses to the main process pickled through the
    worker's pipe, which for batches of about a megabyte is faster than torch's shared-memory
    tensors (one file descriptor passed per tensor): 180,000 -> 280,000 windows/s with 2 workers."""
    return batch


class BatchLoader(DataLoader):
    """A DataLoader of whole batches (:class:`BatchDataset` items) that turns them into tensors
    in the main process (pinned when ``pin_batches`` and CUDA is there: the pinning thread of
    ``pin_memory=True`` sees numpy arrays, not tensors)."""

    def __init__(self, *args, pin_batches: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.pin_batches = pin_batches

    def __iter__(self):
        pin = self.pin_batches and torch.cuda.is_available()
        for codes, labels in super().__iter__():
            codes, labels = torch.from_numpy(codes), torch.from_numpy(labels)
            yield (codes.pin_memory(), labels.pin_memory()) if pin else (codes, labels)


class ResumableLoader(BatchLoader):
    """A batch loader whose position in the epoch Lightning saves in checkpoints and restores
    (Lightning's stateful-loader protocol), delegated to its :class:`ChunkShuffleSampler`."""

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


class BatchDataset(Dataset):
    """Map-style dataset whose items are whole batches: ``ds[index_array] -> (codes, labels)``;
    with ``packed`` the labels stay bit-packed as stored (8 features per byte, a ninth of the
    bytes to move from the loader workers), for :func:`unpack_labels` on the training device."""

    def __init__(self, source: SplitSource, packed: bool = False):
        self.source, self.packed = source, packed

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, idx):
        """(codes, labels) as numpy arrays (:class:`BatchLoader` makes them tensors)."""
        return self.source.read(np.asarray(idx), packed=True) if self.packed else self.source.read(np.asarray(idx))


def unpack_labels(packed: torch.Tensor, n_features: int) -> torch.Tensor:
    """Bit-packed label rows (B, ceil(F / 8)) uint8, as ``numpy.packbits`` writes them (first
    feature in the high bit) -> (B, F) uint8 0/1, on the tensor's device (numpy's unpackbits on
    the CPU, where it is hundreds of times faster than torch's element-wise shifts)."""
    if packed.device.type == "cpu":
        return torch.from_numpy(np.unpackbits(packed.numpy(), axis=1, count=n_features))
    return _unpack_bits(packed, n_features)


def _unpack_bits(packed: torch.Tensor, n_features: int) -> torch.Tensor:
    """:func:`unpack_labels` by element-wise shifts, for accelerators."""
    shifts = torch.arange(7, -1, -1, device=packed.device, dtype=torch.uint8)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(packed.shape[0], -1)[:, :n_features]


def shift_codes(codes: torch.Tensor, shifts: torch.Tensor, n_code: int = 4) -> torch.Tensor:
    """Shift each row of uint8 codes (B, L) right by ``shifts[b]`` bases (left when negative);
    the bases shifted in are N (``n_code``). The window keeps its length."""
    L = codes.shape[1]
    idx = torch.arange(L, device=codes.device)[None, :] - shifts.to(codes.device)[:, None]
    out = codes.gather(1, idx.clamp(0, L - 1))
    return out.masked_fill((idx < 0) | (idx >= L), n_code)


def reverse_complement_codes(codes: torch.Tensor) -> torch.Tensor:
    """uint8 codes (B, L) of the reverse strand: A<->T, C<->G, N stays N, order reversed."""
    return torch.where(codes < N_CODE, 3 - codes, codes).flip(-1)


def expand_batch(codes: torch.Tensor, labels: torch.Tensor, rc_augment: bool = False,
                 fill: float = DEFAULT_FILL, generator: Optional[torch.Generator] = None):
    """uint8 codes (B, L) + labels (B, F) -> float one-hot (B, 4, L) + float labels, on the
    codes' device; with ``rc_augment`` a random half of the batch is reverse-complemented."""
    x = one_hot(codes, fill=fill)
    if rc_augment:
        flip = torch.rand(x.shape[0], generator=generator, device="cpu") < 0.5
        flip = flip.to(x.device)
        if flip.any():
            x = x.clone()
            x[flip] = reverse_complement_one_hot(x[flip])
    return x, labels.float()


class DNADataModule(pl.LightningDataModule):
    """Feeds Lightning from a dnaseq HDF5 dataset, a DeepSEA ``.mat`` file or a bundle folder.

    Args:
        data: path to the dataset (``dnaseq build-dataset`` output) or DeepSEA bundle folder.
        batch_size: windows per batch.
        num_workers: DataLoader worker processes (each opens its own HDF5 handle).
        rc_augment: reverse-complement a random half of every training batch.
        in_memory: load splits into RAM; ``None`` = when a split is under 2 GiB.
        seed: shuffling seed (combined with the epoch number).
        pin_memory: pin host memory (only takes effect when training on CUDA).
        mix_chunks: chunks mixed into one shuffle group for on-disk splits.
        fill: one-hot value of N in every channel.
        jitter: random shift augmentation: each training window is shifted by up to this many
            bases either way (drawn per window), N filling what comes in at the edge. A few tens
            of bases keep the labelled centre bin inside the window and teach the model that a
            motif counts wherever it lies; 0 (default) turns it off.
        train_split / val_split / test_split: names of the splits to use.
        train_fraction: train on this share of the training split's windows (a random subset drawn
            with ``train_subset_seed``, the same in every run and on every rank): learning curves,
            or how much a pretrained start helps when labels are few. 1.0 (default): all of them.
        windows: when ``data`` is a reference FASTA (a DNA language model's input): window
            length, stride, held-out chromosomes, regions and the N limit
            (:class:`dnaseq.data.genome_windows.GenomeWindows`); ignored for datasets.
    """

    def __init__(self, data: str, batch_size: int = 128, num_workers: int = 0,
                 rc_augment: bool = False, in_memory: Optional[bool] = None, seed: int = 0,
                 pin_memory: bool = True, mix_chunks: int = 16, fill: float = DEFAULT_FILL, jitter: int = 0,
                 train_split: str = "train", val_split: str = "valid", test_split: str = "test",
                 predict_split: str = "test", train_fraction: float = 1.0, train_subset_seed: int = 0,
                 windows: Optional[GenomeWindows] = None):
        super().__init__()
        if not 0 < train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
        self.train_fraction, self.train_subset_seed = float(train_fraction), int(train_subset_seed)
        self.data = data
        self.batch_size = whole_number(batch_size, "data.batch_size")
        self.num_workers = whole_number(num_workers, "data.num_workers", least=0)
        self.rc_augment, self.in_memory, self.seed = rc_augment, in_memory, seed
        self.pin_memory, self.mix_chunks, self.fill = pin_memory, mix_chunks, fill
        if not 0 <= int(jitter) < 500:
            raise ValueError(f"jitter must be between 0 and 499 bases, got {jitter}")
        self.jitter = int(jitter)
        self.splits = {"train": train_split, "valid": val_split, "test": test_split, "predict": predict_split}
        self._sources = {}
        self.windows = None
        if os.path.isfile(data) and is_fasta(data):  # a reference: windows for a language model
            self.windows = as_windows(windows)
            self.windows.check()
            with Genome(data) as genome:
                self.chromosomes = split_chromosomes(genome, self.windows)  # names checked now, not at setup
            self.info = DatasetInfo(list(BASES), ["base"] * 4, int(self.windows.window), {"kind": "genome_windows"})
            return
        # read the header now so models can be sized from the data before setup()
        probe = open_split(data, val_split if self._has(val_split) else train_split, in_memory=False)
        self.info = probe.info
        probe.close()

    @property
    def language_model(self) -> bool:
        """Whether batches are windows of a reference for a language model (targets: the bases)."""
        return self.windows is not None

    def _has(self, split: str) -> bool:
        if self.language_model:
            return split in ("train", "valid") or (split == "test" and bool(self.windows.test_chroms))
        return split in available_splits(self.data)

    @property
    def n_features(self) -> int:
        return self.info.n_features

    @property
    def seq_len(self) -> int:
        return self.info.seq_len

    @property
    def feature_names(self) -> List[str]:
        return list(self.info.feature_names)

    @property
    def feature_groups(self) -> List[str]:
        return list(self.info.feature_groups)

    def source(self, role: str) -> SplitSource:
        split = self.splits[role]
        if split not in self._sources:
            if self.language_model:
                if split not in ("train", "valid", "test"):
                    raise ValueError(f"{self.data}: a reference's splits are train, valid and test, not {split!r}")
                self._sources[split] = GenomeWindowSplit(self.data, split, self.windows)
            else:
                self._sources[split] = open_split(self.data, split, in_memory=self.in_memory)
            if role == "train" and self.train_fraction < 1:
                full = self._sources[split]
                keep = max(1, round(full.n * self.train_fraction))
                rows = np.random.default_rng(self.train_subset_seed).choice(full.n, keep, replace=False)
                self._sources[split] = SubsetSource(full, rows)
        return self._sources[split]

    def setup(self, stage: str) -> None:
        """Lightning's hook, as a run starts: a language model's run says what its windows are."""
        if self.language_model and stage == "fit" and self.trainer is not None and self.trainer.is_global_zero:
            for role in ("train", "valid"):  # windows over the N limit were dropped without a word
                print(self.source(role).describe(), file=sys.stderr, flush=True)

    def _loader(self, role: str, shuffle: bool) -> DataLoader:
        src = self.source(role)
        replicas, rank = 1, 0
        if self.trainer is not None and self.trainer.world_size > 1 and role in ("train", "valid"):
            replicas, rank = self.trainer.world_size, self.trainer.global_rank
        sampler = ChunkShuffleSampler(len(src), self.batch_size, getattr(src, "chunk_rows", 1),
                                      shuffle=shuffle, seed=self.seed, mix_chunks=self.mix_chunks,
                                      num_replicas=replicas, rank=rank, even=role == "train")
        loader_cls = ResumableLoader if role == "train" else BatchLoader
        # training under a Trainer: bit-packed labels travel as they are and are unpacked on the
        # device (on_after_batch_transfer); a loader iterated by hand gives 0/1 labels as always
        packed = role == "train" and self.trainer is not None and bool(getattr(src, "packed", False))
        if role == "train":
            self._train_packed = packed
        loader = loader_cls(BatchDataset(src, packed=packed), sampler=sampler, batch_size=None,
                            num_workers=self.num_workers, collate_fn=keep_numpy, pin_batches=self.pin_memory,
                            persistent_workers=self.num_workers > 0 and role == "train",
                            generator=torch.Generator().manual_seed(self.seed))  # not the global stream
        if role == "train":
            self._train_sampler, self._rank = sampler, rank
        return loader

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if torch.is_tensor(batch):  # a model's example input (one-hot, for Lightning's summary): as it is
            return batch
        codes, labels = batch
        training = self.trainer is not None and self.trainer.training
        if training and getattr(self, "_train_packed", False):
            labels = unpack_labels(labels, self.n_features)
        generator = None
        sampler = getattr(self, "_train_sampler", None)
        if training and sampler is not None:
            # flips depend on (seed, epoch, batch, rank) only, so a resumed run draws the same ones
            generator = torch.Generator().manual_seed(
                int(np.random.SeedSequence([self.seed, sampler.epoch, sampler.consumed, self._rank])
                    .generate_state(1)[0]))
            sampler.consumed += 1  # taken by the model: what a checkpoint saved now has done
        if training and self.jitter:
            shifts = torch.randint(-self.jitter, self.jitter + 1, (codes.shape[0],), generator=generator)
            codes = shift_codes(codes, shifts)
        if self.language_model:  # the targets are the (augmented) bases themselves
            if self.rc_augment and training:
                flip = (torch.rand(codes.shape[0], generator=generator, device="cpu") < 0.5).to(codes.device)
                codes = torch.where(flip[:, None], reverse_complement_codes(codes), codes)
            return one_hot(codes, fill=self.fill), codes
        return expand_batch(codes, labels, rc_augment=self.rc_augment and training, fill=self.fill,
                            generator=generator)

    def teardown(self, stage: str) -> None:
        for src in self._sources.values():
            src.close()
        self._sources = {}
