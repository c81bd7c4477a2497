#!/usr/bin/env python
"""A recipe against k-mer logistic regression, per feature, over several seeds.

    python scripts/accuracy.py --config configs/quickstart.yaml --seeds 1 2 3 --split valid \
        [--kmers 5 6] [--out results/accuracy] [--runs RUN_DIR ...]

Each seed is a real `dnaseq train --config C --seed_everything S` run (in --out/runs), evaluated
with `dnaseq evaluate --split SPLIT`; `--runs` evaluates finished run folders instead of training.
The k-mer baselines are scripts/kmer_baseline.py (fit on train, scored on the same split). Prints,
per feature, the model's ROC AUC and PR AUC (mean and standard deviation over seeds) beside the
best k-mer model's, and counts a win only when the model's mean minus one standard deviation is
above the baseline. Beside it, how far the test windows themselves decide the comparison: the
model's (seed-mean) AUC minus the best k-mer model's on --draws paired half-samples of the
windows (half of the split's 10 kb genome blocks, drawn without replacement, whose spread
approximates the whole split's; whole blocks, because neighbouring windows share sequence and
peaks): the sd of that difference and how often the model is ahead. With ~150 positives a PR AUC
difference of 0.001 is well inside that sd: the split cannot resolve it. Writes accuracy.tsv (one
row per feature) and accuracy.json (summary) to --out.
Choose a recipe on --split valid; look at --split test once, at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Optional

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import h5py  # noqa: E402
import yaml  # noqa: E402

from dnaseq.apply.evaluate import load_evaluation  # noqa: E402
from dnaseq.training.metrics import roc_and_pr_auc  # noqa: E402

METRICS = {"roc": 0, "pr": 1}  # positions in roc_and_pr_auc's (ROC AUC, average precision)


def sh(*args) -> str:
    print("$ " + " ".join(args), flush=True)
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout


def train(config: str, seed: int, out: str) -> tuple:
    """(run folder, training seconds) of one seed."""
    t0 = time.perf_counter()
    text = sh("dnaseq", "train", "--config", config, "--seed_everything", str(seed),
              "--trainer.default_root_dir", os.path.join(out, "runs"), "--trainer.enable_progress_bar", "false")
    run = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("run folder: "))
    return run, time.perf_counter() - t0


def genome_blocks(chrom, start, block_bp: int = 10_000) -> np.ndarray:
    """Block id of each window: its chromosome and ``start // block_bp``. Neighbouring windows
    share most of their sequence (and one peak covers several bins), so they are not independent
    samples; resampling whole blocks of the genome keeps what they share together."""
    keys = pd.MultiIndex.from_arrays([np.asarray(chrom).astype(str), np.asarray(start) // block_bp])
    return pd.factorize(keys)[0]


def paired_spreads(labels: np.ndarray, model_probs, base_probs: dict, blocks: Optional[np.ndarray] = None,
                   draws: int = 200, seed: int = 0) -> dict:
    """{metric: (sd, fraction ahead)} of the mean-over-models metric minus the baseline's, over
    ``draws`` paired half-samples of one feature's windows: labels (N,), model_probs a list of
    (N,) arrays, base_probs {metric ("roc" / "pr"): (N,) baseline probabilities} (each metric's
    own best baseline), blocks (N,) block ids (:func:`genome_blocks`; None: each window its own).
    Half of the blocks are drawn without replacement: such half-samples vary about as much as
    the whole set would between independent draws of it, without the ties that duplicated
    windows give a bootstrap's ranking metrics. Both metrics come from one threshold sweep per
    model and half-sample. (nan, nan) when the labels are one class."""
    labels = np.asarray(labels)
    nan = (float("nan"), float("nan"))
    if not 0 < labels.sum() < len(labels):
        return {m: nan for m in base_probs}
    blocks = np.arange(len(labels)) if blocks is None else np.asarray(blocks)
    ids, members = np.unique(blocks, return_inverse=True)
    rng = np.random.default_rng(seed)
    diffs = {m: [] for m in base_probs}
    for _ in range(20 * draws):  # a half without one class is redrawn; give up on hopeless data
        if len(diffs[next(iter(diffs))]) == draws:
            break
        i = np.flatnonzero(np.isin(members, rng.choice(len(ids), len(ids) // 2, replace=False)))
        y = labels[i]
        if not 0 < y.sum() < len(y):
            continue
        model = np.mean([roc_and_pr_auc(y, p[i]) for p in model_probs], axis=0)
        base = {}  # a baseline that is best in both metrics is scored once
        for m, b in base_probs.items():
            scores = base.setdefault(id(b), roc_and_pr_auc(y, b[i]))
            diffs[m].append(model[METRICS[m]] - scores[METRICS[m]])
    out = {}
    for m, d in diffs.items():
        d = np.asarray(d)
        out[m] = (float(d.std(ddof=1)), float(np.mean(d > 0))) if len(d) >= 2 else nan
    return out


def paired_spread(labels: np.ndarray, model_probs, base_probs: np.ndarray, metric: str,
                  blocks: Optional[np.ndarray] = None, draws: int = 200, seed: int = 0) -> tuple:
    """:func:`paired_spreads` for one metric against one baseline: (sd, fraction ahead)."""
    return paired_spreads(labels, model_probs, {metric: base_probs}, blocks, draws, seed)[metric]


def window_spread(table: pd.DataFrame, labels: np.ndarray, model_probs, base_probs: dict,
                  blocks: Optional[np.ndarray], draws: int) -> pd.DataFrame:
    """Add, per feature and metric, the paired half-sample sd and fraction ahead against the
    best k-mer baseline (the one :func:`summarise` compares with)."""
    out = table.copy()
    spreads = []
    for j, row in enumerate(out.itertuples()):
        best = {m: base_probs[max(base_probs, key=lambda k: getattr(row, f"{m}_{k}mer"))][:, j] for m in METRICS}
        spreads.append(paired_spreads(labels[:, j], [p[:, j] for p in model_probs], best, blocks, draws))
    for m in METRICS:
        out[f"{m}_windows_sd"] = [s[m][0] for s in spreads]
        out[f"{m}_ahead"] = [s[m][1] for s in spreads]
    return out


def summarise(model_tables, baselines) -> pd.DataFrame:
    """One row per feature: the model's mean/sd over seeds and each baseline's ROC/PR AUC."""
    roc = np.array([t.roc_auc.to_numpy() for t in model_tables])
    pr = np.array([t.pr_auc.to_numpy() for t in model_tables])
    out = pd.DataFrame({"feature": model_tables[0].feature,
                        "roc_mean": roc.mean(0), "roc_sd": roc.std(0, ddof=1) if len(roc) > 1 else 0.0,
                        "pr_mean": pr.mean(0), "pr_sd": pr.std(0, ddof=1) if len(pr) > 1 else 0.0})
    for k, table in baselines.items():
        out[f"roc_{k}mer"], out[f"pr_{k}mer"] = table.roc_auc.to_numpy(), table.pr_auc.to_numpy()
    best_roc = out[[f"roc_{k}mer" for k in baselines]].max(axis=1)
    best_pr = out[[f"pr_{k}mer" for k in baselines]].max(axis=1)
    out["roc_win"] = out.roc_mean - out.roc_sd > best_roc
    out["pr_win"] = out.pr_mean - out.pr_sd > best_pr
    out["roc_margin"], out["pr_margin"] = out.roc_mean - best_roc, out.pr_mean - best_pr
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/quickstart.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs", nargs="+", help="evaluate these finished run folders instead of training")
    ap.add_argument("--split", default="valid", help="valid while choosing; test once, at the end")
    ap.add_argument("--kmers", type=int, nargs="+", default=[5, 6])
    ap.add_argument("--out", default="results/accuracy")
    ap.add_argument("--draws", type=int, default=200, help="paired half-samples of the windows (0: skip)")
    ap.add_argument("--block-bp", type=int, default=10_000, help="genome blocks the half-samples draw whole")
    args = ap.parse_args()
    data = yaml.safe_load(open(args.config))["data"]["data"]
    os.makedirs(args.out, exist_ok=True)
    runs, seconds = [], []
    if args.runs:
        runs = list(args.runs)
    else:
        for seed in args.seeds:
            run, s = train(args.config, seed, args.out)
            runs.append(run)
            seconds.append(round(s, 1))
            print(f"seed {seed}: {run} ({s:.0f} s)", flush=True)
    tables, model_probs, labels, blocks = [], [], None, None
    for i, run in enumerate(runs):
        ev = os.path.join(args.out, f"eval_{args.split}_{i}")
        sh("dnaseq", "evaluate", "--checkpoint", run, "--data", data, "--split", args.split, "--out", ev, "--quiet",
           "--save-predictions")
        tables.append(load_evaluation(ev).table)
        with h5py.File(os.path.join(ev, "predictions.h5"), "r") as h5:
            model_probs.append(h5["probabilities"][:])
            if labels is None:
                labels = h5["labels"][:]
                if "window_start" in h5:
                    blocks = genome_blocks(h5["chrom"].asstr()[:], h5["window_start"][:], args.block_bp)
            elif not np.array_equal(h5["labels"][:], labels):
                raise SystemExit(f"{run} and {runs[0]} list the {args.split} windows differently")

    import kmer_baseline
    baselines, base_probs = {}, {}
    for k in args.kmers:
        result, probs, base_labels = kmer_baseline.run(data, k=k, split=args.split, quiet=True, with_probs=True,
                                                       out=os.path.join(args.out, f"kmer{k}_{args.split}"))
        if not np.array_equal(base_labels, labels):
            raise SystemExit(f"{k}-mer baseline and dnaseq evaluate list the {args.split} windows differently")
        baselines[k], base_probs[k] = result.table, probs
    table = summarise(tables, baselines)
    if args.draws:
        if blocks is None:
            print("no window coordinates: half-samples draw single windows (neighbours are not independent, "
                  "so the spread is too small)")
        table = window_spread(table, labels, model_probs, base_probs, blocks, args.draws)
    table.to_csv(os.path.join(args.out, "accuracy.tsv"), sep="\t", index=False, float_format="%.4f")
    ks = "/".join(f"{k}-mer" for k in args.kmers)
    print(f"\n{args.split} split, {len(runs)} run(s) of {args.config}; model = mean +- sd over runs")
    print(f"{'feature':<12}{'model ROC':>16}" + "".join(f"{f'{k}-mer':>8}" for k in args.kmers)
          + f"{'model PR':>16}" + "".join(f"{f'{k}-mer':>8}" for k in args.kmers) + "  wins (ROC, PR)"
          + ("  windows: PR diff sd, ahead" if args.draws else ""))
    for r in table.itertuples():
        row = f"{r.feature:<12}{r.roc_mean:>9.4f}+-{r.roc_sd:.3f}"
        row += "".join(f"{getattr(r, f'roc_{k}mer'):>8.4f}" for k in args.kmers)
        row += f"{r.pr_mean:>9.4f}+-{r.pr_sd:.3f}" + "".join(f"{getattr(r, f'pr_{k}mer'):>8.4f}" for k in args.kmers)
        row += f"  {'yes' if r.roc_win else 'no':>4} {'yes' if r.pr_win else 'no':>4}"
        print(row + (f"  {r.pr_windows_sd:>8.4f} {r.pr_ahead:>5.0%}" if args.draws else ""))
    run_means = [(t.roc_auc.mean(), t.pr_auc.mean()) for t in tables]
    roc_means, pr_means = np.array(run_means).T
    sd = (lambda v: float(v.std(ddof=1)) if len(v) > 1 else 0.0)
    summary = {"config": args.config, "split": args.split, "runs": runs, "train_seconds": seconds,
               "mean_roc": float(roc_means.mean()), "mean_roc_sd": sd(roc_means),
               "mean_pr": float(pr_means.mean()), "mean_pr_sd": sd(pr_means),
               **{f"mean_roc_{k}mer": float(b.roc_auc.mean()) for k, b in baselines.items()},
               **{f"mean_pr_{k}mer": float(b.pr_auc.mean()) for k, b in baselines.items()},
               "roc_wins": int(table.roc_win.sum()), "pr_wins": int(table.pr_win.sum()), "features": len(table)}
    best = max(summary[f"mean_roc_{k}mer"] for k in args.kmers)
    summary["mean_roc_margin"] = summary["mean_roc"] - best
    with open(os.path.join(args.out, "accuracy.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    print(f"mean ROC AUC {summary['mean_roc']:.4f} +- {summary['mean_roc_sd']:.4f} (best {ks}: {best:.4f}, "
          f"margin {summary['mean_roc_margin']:+.4f}); mean PR AUC {summary['mean_pr']:.4f} +- "
          f"{summary['mean_pr_sd']:.4f}; wins beyond one sd: ROC {summary['roc_wins']}/{len(table)}, "
          f"PR {summary['pr_wins']}/{len(table)}" + (f"; training {seconds} s" if seconds else ""))


if __name__ == "__main__":
    main()
