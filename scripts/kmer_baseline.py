#!/usr/bin/env python
"""k-mer logistic-regression baseline on a dnaseq dataset (per feature, test split by default).

    python scripts/kmer_baseline.py [--data data/dm3_insulators.h5] [--k 5] [--split valid] [--out results/kmer]

Features: counts of every k-mer with its reverse complement merged (strand-blind, like the
CNN's reverse-complement averaging), log1p-scaled and standardised; one L2 logistic regression
per chromatin feature (scikit-learn), fit on train, scored on the chosen split.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dnaseq.apply.evaluate import evaluate_predictions  # noqa: E402
from dnaseq.data.dataset import open_split  # noqa: E402
from dnaseq.models.kmers import canonical_kmers  # noqa: E402


def canonical_index(k: int) -> np.ndarray:
    """Map each k-mer index to the index of the smaller of it and its reverse complement."""
    return canonical_kmers(k)


def kmer_counts(codes: np.ndarray, k: int, canon: np.ndarray) -> np.ndarray:
    n, L = codes.shape
    n_canon = int(canon.max()) + 1
    out = np.zeros((n, n_canon), np.float32)
    for lo in range(0, n, 4096):
        c = codes[lo:lo + 4096].astype(np.int64)
        idx = np.zeros((len(c), L - k + 1), np.int64)
        valid = np.ones_like(idx, dtype=bool)
        for i in range(k):
            part = c[:, i:L - k + 1 + i]
            valid &= part < 4
            idx = idx * 4 + np.minimum(part, 3)
        rows = np.repeat(np.arange(len(c)), idx.shape[1]).reshape(idx.shape)
        flat = rows[valid] * n_canon + canon[idx[valid]]
        out[lo:lo + len(c)] = np.bincount(flat, minlength=len(c) * n_canon).reshape(len(c), n_canon)
    return np.log1p(out)


def run(data: str, k: int = 5, out: str | None = None, quiet: bool = False, split: str = "test",
        with_probs: bool = False):
    """Fit on train, score ``split``: its Evaluation, and with ``with_probs`` also the (windows,
    features) probabilities and labels (the split's windows in file order)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    train, test = open_split(data, "train"), open_split(data, split)
    canon = canonical_index(k)
    Xtr_codes, ytr = train.read(np.arange(len(train)))
    Xte_codes, yte = test.read(np.arange(len(test)))
    scaler = StandardScaler()
    Xtr = scaler.fit_transform(kmer_counts(Xtr_codes, k, canon))
    Xte = scaler.transform(kmer_counts(Xte_codes, k, canon))
    probs = np.zeros(yte.shape, np.float32)
    for j in range(ytr.shape[1]):
        if 0 < ytr[:, j].sum() < len(ytr):
            clf = LogisticRegression(C=0.01, max_iter=300)
            clf.fit(Xtr, ytr[:, j])
            probs[:, j] = clf.predict_proba(Xte)[:, 1]
    result = evaluate_predictions(yte, probs, test.info.feature_names, test.info.feature_groups,
                                  {"model": f"{k}-mer logistic regression", "data": data, "split": split,
                                   "windows": int(len(yte)), "seconds": round(time.perf_counter() - t0, 1)})
    if out:
        result.write(out)
    if not quiet:
        print(result.format())
        print(f"({time.perf_counter() - t0:.0f} s)")
    return (result, probs, yte) if with_probs else result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/dm3_insulators.h5")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--split", default="test", help="split to score (default test; valid while choosing a model)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    run(args.data, args.k, args.out, split=args.split)


if __name__ == "__main__":
    main()
