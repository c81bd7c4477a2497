#!/usr/bin/env python
"""Does a DNA language model's trunk help a chromatin model when labels are few?

For each seed, trains the same ``lm_chromatin`` model (configs/lm_chromatin.yaml) twice on a
seeded share of the dataset's training windows (``data.train_fraction``): once from the language
model's trunk (``model.init_from``), once from scratch, with everything else equal (no freezing,
one learning rate: the start is the only difference). Both are then scored on the test split
(every ``--test-stride``-th window: with 1000 bp windows every 200 bp, 5 gives non-overlapping
windows) and the script prints and writes per-feature ROC AUC and PR AUC, their means over
seeds with the spread, and the mean over features.

    python scripts/lm_finetune_benchmark.py --lm runs/lm/version_0 --data data/dm3_insulators.h5 \\
        --fraction 0.1 --seeds 0,1,2 --epochs 1 --out results/finetune

The language model must not have trained on the test chromosomes (the run warns if it did).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dnaseq.apply.evaluate import feature_metrics  # noqa: E402
from dnaseq.data.dataset import open_split  # noqa: E402
from dnaseq.inference.predictor import predict_codes  # noqa: E402
from dnaseq.training.checkpoint import load_model  # noqa: E402
from dnaseq.training.train import fit, build_cli  # noqa: E402

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "lm_chromatin.yaml")


def train_one(args, seed: int, start: str, root: str) -> str:
    cli_args = ["--config", CONFIG, "--data.data", args.data, "--data.train_fraction", str(args.fraction),
                "--data.train_subset_seed", str(seed), "--seed_everything", str(seed),
                "--model.freeze_trunk_epochs", "0", "--model.trunk_lr_scale", "1.0",
                "--trainer.max_epochs", str(args.epochs), "--trainer.limit_val_batches", str(args.val_batches),
                "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", os.path.join(root, f"{start}_{seed}")]
    cli_args += ["--model.init_from", args.lm] if start == "lm" else ["--model.init_from", "null"]
    cli = fit(build_cli(cli_args, progress_bars=False))
    return cli.trainer.checkpoint_callback.best_model_path


def test_metrics(ckpt: str, args) -> pd.DataFrame:
    src = open_split(args.data, "test")
    idx = np.arange(0, len(src), args.test_stride)
    codes, labels = src.read(idx)
    src.close()
    model = load_model(ckpt)
    probs = predict_codes(model, codes)
    return feature_metrics(labels, probs, model.feature_names, model.feature_groups)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", required=True, help="the language model's checkpoint or run folder")
    ap.add_argument("--data", default="data/dm3_insulators.h5")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--val-batches", type=int, default=10)
    ap.add_argument("--test-stride", type=int, default=5)
    ap.add_argument("--out", default="results/finetune")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, seconds = [], {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for start in ("lm", "scratch"):
            t0 = time.perf_counter()
            ckpt = train_one(args, seed, start, os.path.join(args.out, "runs"))
            table = test_metrics(ckpt, args)
            seconds[f"{start}_{seed}"] = round(time.perf_counter() - t0, 1)
            table.insert(0, "seed", seed)
            table.insert(0, "start", start)
            rows.append(table)
            print(f"seed {seed} {start}: mean ROC AUC {table.roc_auc.mean():.4f}, PR AUC {table.pr_auc.mean():.4f} "
                  f"({seconds[f'{start}_{seed}']} s)", flush=True)
    all_rows = pd.concat(rows, ignore_index=True)
    all_rows.to_csv(os.path.join(args.out, "per_seed.tsv"), sep="\t", index=False)
    per_feature = all_rows.groupby(["feature", "start"])[["roc_auc", "pr_auc"]].agg(["mean", "std"]).unstack("start")
    per_feature.columns = [f"{m}_{s}_{stat}" for m, stat, s in per_feature.columns]
    per_feature.to_csv(os.path.join(args.out, "per_feature.tsv"), sep="\t")
    means = all_rows.groupby(["start", "seed"])[["roc_auc", "pr_auc"]].mean().groupby("start").agg(["mean", "std"])
    print(per_feature.round(4).to_string())
    print(means.round(4).to_string())
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump({"settings": vars(args), "seconds": seconds,
                   "mean_over_features": {f"{m}_{stat}_{s}": float(v) for (m, stat), col in means.items()
                                          for s, v in col.items()}}, fh, indent=2)


if __name__ == "__main__":
    main()
