#!/usr/bin/env python
"""Per-feature metrics at DeepSEA test-set scale: 455,024 windows x 919 features.
Target (issue 4): under 60 s on 2 CPU cores with peak RSS under 6 GB.

    python scripts/bench/evaluate_scale.py [--windows 455024] [--features 919]

Synthetic labels (about 2% positive, varying by feature) and float32 predictions that are
informative but noisy; times dnaseq.apply.evaluate.feature_metrics + summarize (scikit-learn
roc_auc_score and average_precision_score per feature) and reports peak RSS of this process.
"""
import argparse
import resource
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=455_024)
    ap.add_argument("--features", type=int, default=919)
    ap.add_argument("--jobs", type=int, default=-1)
    args = ap.parse_args()
    from dnaseq.apply.evaluate import feature_metrics, summarize

    rng = np.random.default_rng(0)
    n, f = args.windows, args.features
    rates = rng.uniform(0.002, 0.05, size=f).astype(np.float32)
    labels = np.empty((n, f), np.uint8)
    probs = np.empty((n, f), np.float32)
    for lo in range(0, n, 50_000):  # generate in slabs to keep the set-up's memory small
        u = rng.random((min(50_000, n - lo), f), dtype=np.float32)
        y = u < rates
        labels[lo:lo + len(u)] = y
        probs[lo:lo + len(u)] = rng.random(u.shape, dtype=np.float32) * 0.7 + y * 0.3
    names = [f"f{i}" for i in range(f)]
    groups = ["DNase"] * (f // 7) + ["TF"] * (f - 2 * (f // 7)) + ["Histone"] * (f // 7)
    setup_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t = time.perf_counter()
    table = feature_metrics(labels, probs, names, groups, n_jobs=args.jobs)
    summary = summarize(table)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(summary.to_string(index=False))
    print(f"{n:,} windows x {f} features: metrics in {dt:.1f} s (target < 60 s), peak RSS {peak:.2f} GB "
          f"(inputs alone {setup_rss:.2f} GB; target < 6 GB)")


if __name__ == "__main__":
    main()
