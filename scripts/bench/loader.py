#!/usr/bin/env python
"""DataModule throughput, windows/s, over whole epochs of a dataset's training split.

    python scripts/bench/loader.py [--data data/dm3_insulators.h5] [--batch-size 512] [--epochs 3]

Three figures (issue 31, item 3; the target there is >= 200,000 windows/s from disk with 2 workers):

* **codes from disk**: what a GPU run's loader delivers: uint8 base codes and, for a bit-packed
  dataset, packed labels (a Trainer drives the loader: one-hot and label unpacking happen on the
  device after transfer), 2 worker processes, chunk-aware shuffling, pinned memory when CUDA is
  there; the labels are unpacked here as the device would;
* **codes from memory**: the same with the split loaded into RAM (0 workers);
* **bare h5py**: the same bytes (sequences and labels of the split) read chunk by chunk in file
  order with no shuffling: the physical reference for this disk and compression;
* and, as before (issue 2), float one-hot batches made on the CPU from disk (the CPU-training path).

Epochs after the first are reported separately (workers stay up between epochs, as in training).
"""
import argparse
import time
from types import SimpleNamespace

import h5py
import torch

from dnaseq.data.datamodule import DNADataModule, expand_batch, unpack_labels


def epochs(data, batch_size, workers, in_memory, n_epochs, onehot=False):
    dm = DNADataModule(data, batch_size=batch_size, num_workers=workers, in_memory=in_memory)
    if not onehot:  # as under a Trainer: labels stay packed until after the transfer
        dm.trainer = SimpleNamespace(world_size=1, global_rank=0, training=True)
    loader = dm.train_dataloader()
    rates = []
    for ep in range(n_epochs):
        loader.sampler.set_epoch(ep)
        t, n = time.perf_counter(), 0
        for codes, labels in loader:
            if onehot:
                codes, labels = expand_batch(codes, labels, rc_augment=True)
            elif dm._train_packed:
                labels = unpack_labels(labels, dm.n_features)
            n += codes.shape[0]
        rates.append(n / (time.perf_counter() - t))
    return n, rates


def bare_h5py(data):
    with h5py.File(data) as h5:
        seq, lab = h5["train/sequences"], h5["train/labels"]
        t = time.perf_counter()
        step = seq.chunks[0] if seq.chunks else 4096
        for lo in range(0, seq.shape[0], step):
            seq[lo:lo + step]
        step = lab.chunks[0] if lab.chunks else 4096
        for lo in range(0, lab.shape[0], step):
            lab[lo:lo + step]
        return seq.shape[0] / (time.perf_counter() - t), f"{seq.chunks} {seq.compression}, labels {lab.shape[1]} bytes/row"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/dm3_insulators.h5")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--disk-only", action="store_true", help="only the bare read and codes from disk (a split "
                    "too large to load into memory)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    ref, how = bare_h5py(args.data)
    print(f"{'bare h5py, file order':34}: {ref:11,.0f} windows/s ({how})")
    for label, workers, mem, onehot in (("codes from disk, 2 workers", 2, False, False),
                                        ("codes from memory, 0 workers", 0, True, False),
                                        ("one-hot on the CPU, disk, 2 workers", 2, False, True)):
        if args.disk_only and (mem or onehot):
            continue
        n, rates = epochs(args.data, args.batch_size, workers, mem, args.epochs, onehot)
        later = sum(rates[1:]) / len(rates[1:]) if len(rates) > 1 else rates[0]
        print(f"{label:34}: {later:11,.0f} windows/s after the first epoch (first {rates[0]:,.0f}; "
              f"{n:,} windows per epoch; loader / bare read {later / ref:.2f})", flush=True)


if __name__ == "__main__":
    main()
