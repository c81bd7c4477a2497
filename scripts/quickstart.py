#!/usr/bin/env python
"""The README's main job: train configs/quickstart.yaml on the shipped dm3 data, evaluate it on
the held-out chromosome (chr2L), and print it next to a 5-mer logistic-regression baseline.

    python scripts/quickstart.py [--config configs/quickstart.yaml] [--out out/quickstart]

Each step is the public CLI run as a user would run it:
    dnaseq train --config configs/quickstart.yaml
    dnaseq evaluate --checkpoint <best> --data data/dm3_insulators.h5 --out out/quickstart/eval
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from dnaseq.apply.evaluate import load_evaluation  # noqa: E402


def sh(*args) -> str:
    """Run a command as a user would, showing its output line by line as it comes (a long
    training is never silent); returns its standard output."""
    print("$ " + " ".join(args), flush=True)
    lines = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the child's lines as it prints them, in order with stderr
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, bufsize=1, env=env) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args, "".join(lines))
    return "".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/quickstart.yaml")
    ap.add_argument("--out", default="out/quickstart")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = yaml.safe_load(open(args.config))
    data = cfg["data"]["data"]
    out = sh("dnaseq", "train", "--config", args.config)  # a new run folder each time
    best = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("best checkpoint: "))
    eval_dir = os.path.join(args.out, "eval")
    sh("dnaseq", "evaluate", "--checkpoint", best, "--data", data, "--out", eval_dir, "--quiet")

    import kmer_baseline
    print("$ python scripts/kmer_baseline.py --k 5", flush=True)
    base = kmer_baseline.run(data, k=5, out=os.path.join(args.out, "kmer5"), quiet=True)
    model = load_evaluation(eval_dir)

    print()
    print(f"held-out test chromosome: {model.meta.get('windows')} windows of {data}")
    print(f"{'feature':<14}{'model ROC':>10}{'5-mer ROC':>10}{'model PR':>10}{'5-mer PR':>10}")
    for m, b in zip(model.table.itertuples(), base.table.itertuples()):
        print(f"{m.feature:<14}{m.roc_auc:>10.4f}{b.roc_auc:>10.4f}{m.pr_auc:>10.4f}{b.pr_auc:>10.4f}")
    mr, br = model.table.roc_auc.mean(), base.table.roc_auc.mean()
    mp, bp = model.table.pr_auc.mean(), base.table.pr_auc.mean()
    print(f"{'mean':<14}{mr:>10.4f}{br:>10.4f}{mp:>10.4f}{bp:>10.4f}")
    verdict = "beats" if (mr > br and mp > bp) else "does NOT beat"
    roc_wins = int((model.table.roc_auc.to_numpy() > base.table.roc_auc.to_numpy()).sum())
    pr_wins = int((model.table.pr_auc.to_numpy() > base.table.pr_auc.to_numpy()).sum())
    print(f"\nthe model {verdict} the 5-mer baseline on mean ROC AUC and mean PR AUC, and wins on "
          f"{roc_wins} of {len(model.table)} features in ROC AUC, {pr_wins} in PR AUC "
          f"(total {time.perf_counter() - t0:.0f} s; tables in {args.out}/; 5-mer and 6-mer over "
          f"seeds: scripts/accuracy.py)")


if __name__ == "__main__":
    main()
