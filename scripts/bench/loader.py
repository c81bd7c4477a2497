#!/usr/bin/env python
"""DataModule throughput: windows/s into float one-hot batches (what the model receives).
Target (issue 2): >= 20,000 windows/s on 2 CPU cores.

    python scripts/bench/loader.py [--data data/dm3_insulators.h5] [--batch-size 256]

Measures the on-disk path (chunked HDF5, 2 workers) and the in-memory path (0 workers) over one
pass of the training split, with reverse-complement augmentation on.
"""
import argparse
import time

import torch

from dnaseq.data.datamodule import DNADataModule, expand_batch


def run(data, batch_size, workers, in_memory):
    dm = DNADataModule(data, batch_size=batch_size, num_workers=workers, in_memory=in_memory)
    loader = dm.train_dataloader()
    t = time.perf_counter()
    n = 0
    for codes, labels in loader:
        x, y = expand_batch(codes, labels, rc_augment=True)
        n += x.shape[0]
    return n, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/dm3_insulators.h5")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(2)
    for label, workers, mem in (("on disk, 2 workers", 2, False), ("in memory, 0 workers", 0, True)):
        n, dt = run(args.data, args.batch_size, workers, mem)
        print(f"{label:22}: {n / dt:9,.0f} windows/s ({n:,} windows in {dt:.1f} s; target >= 20,000)")


if __name__ == "__main__":
    main()
