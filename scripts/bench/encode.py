#!/usr/bin/env python
"""Encoding throughput on one core: text -> uint8 codes, codes -> float32 one-hot, and
reverse complement. Target (issue 2): encode >= 200 Mbp/s on one core.

    python scripts/bench/encode.py [--mbp 100]
"""
import argparse
import time

import numpy as np
import torch

import dnaseq


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mbp", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n = args.mbp * 1_000_000
    rng = np.random.default_rng(0)
    text = rng.choice(np.frombuffer(b"ACGTacgtN", np.uint8), size=n).tobytes()
    t = best_of(lambda: dnaseq.encode(text))
    print(f"text -> codes      : {args.mbp / t:8.0f} Mbp/s  (target >= 200)")
    codes = dnaseq.encode(text)[: n // 1000 * 1000].reshape(-1, 1000)
    batch = codes[:1024]
    reps = max(1, (n // 1000) // 1024)
    t = best_of(lambda: [dnaseq.one_hot(batch) for _ in range(reps)])
    print(f"codes -> one-hot   : {reps * 1024 * 1000 / 1e6 / t:8.0f} Mbp/s  (batches of 1024 x 1000 bp, float32)")
    t = best_of(lambda: dnaseq.reverse_complement(codes))
    print(f"reverse complement : {args.mbp / t:8.0f} Mbp/s  (codes)")


if __name__ == "__main__":
    main()
