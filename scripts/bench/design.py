#!/usr/bin/env python
"""Sequence design on the quickstart model: greedy, beam (k = 4) and temperature sampling
(T = 0.1, 8 chains, best chain) raising BEAF_Kc in test-split windows where it is low (issue 13).

    nice -n 10 python scripts/bench/design.py --checkpoint 'runs/quickstart/checkpoints/best*.ckpt' \\
        [--data data/dm3_insulators.h5] [--n 100] [--below 0.1] [--threads 1] [--out results/design]
        [--strategies greedy,beam,sample] [--temperature 0.1] [--space prob]

Windows: the test split is shuffled with ``--seed``; the first ``--pool`` windows without N are
predicted (the checkpoint's strand mode) and the first ``--n`` with BEAF_Kc probability below
``--below`` are designed with the objective ``+BEAF_Kc`` (probability), a budget of 5 edits and
no other constraint. Reported: the mean BEAF_Kc probability at the start and after 1, 3 and 5
edits (for beam and sampling the best beam member / chain at that step) and seconds per
sequence of each strategy. Work runs in blocks of ``--block`` windows; the table so far is
rewritten after each block (``OUT/summary.md``, ``OUT/summary.json``) and the designs,
trajectories and plot of every block are written as ``OUT/blockK.*``.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import numpy as np
import pandas as pd
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import dnaseq  # noqa: E402
from dnaseq.design import Constraints, design  # noqa: E402
from dnaseq.design.report import write_outputs  # noqa: E402
from dnaseq.inference.predictor import predict_codes  # noqa: E402

FEATURE = "BEAF_Kc"
STEPS = (0, 1, 3, 5)


def pick_windows(model, data: str, n: int, below: float, pool: int, seed: int):
    """Up to ``n`` test windows (codes, labels) whose FEATURE probability is below ``below``."""
    split = dnaseq.open_split(data, "test")
    order = np.random.default_rng(seed).permutation(len(split))[:pool]
    codes, _ = split.read(np.sort(order))
    codes = codes[(codes < 4).all(axis=1)]
    probs = predict_codes(model, codes)
    j = model.feature_names.index(FEATURE)
    keep = np.nonzero(probs[:, j] < below)[0][:n]
    print(f"{len(codes)} test windows without N predicted; {int((probs[:, j] < below).sum())} have "
          f"{FEATURE} < {below}; designing {len(keep)}", flush=True)
    return codes[keep]


def summarise(traj: pd.DataFrame, seconds: pd.DataFrame) -> pd.DataFrame:
    """Mean FEATURE probability at each of STEPS (best over beam / chains) and seconds per sequence."""
    best = traj.groupby(["strategy", "sequence", "step"], sort=False, as_index=False)[FEATURE].max()
    table = best[best.step.isin(STEPS)].pivot_table(index="strategy", columns="step", values=FEATURE, sort=False)
    table.columns = [f"after {s} edits" if s else "start" for s in table.columns]
    table["s / sequence"] = seconds.groupby("strategy", sort=False)["seconds"].mean()
    table["sequences"] = best[best.step == 0].groupby("strategy", sort=False).size()
    return table


def markdown(table: pd.DataFrame) -> str:
    """The summary as a markdown table (probabilities to 3 decimals, seconds to 1)."""
    cols = list(table.columns)
    lines = ["| strategy | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for name, row in table.iterrows():
        cells = [f"{row[c]:.1f}" if c == "s / sequence" else f"{int(row[c])}" if c == "sequences"
                 else f"{row[c]:.3f}" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="runs/quickstart/checkpoints/best*.ckpt", help="path or glob")
    p.add_argument("--data", default=os.path.join(ROOT, "data", "dm3_insulators.h5"))
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--below", type=float, default=0.1)
    p.add_argument("--pool", type=int, default=3000, help="test windows predicted to find --n low ones")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--block", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    p.add_argument("--strategies", default="greedy,beam,sample")
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--space", choices=["prob", "logit"], default="prob")
    p.add_argument("--out", default="results/design")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = sorted(glob.glob(args.checkpoint))[-1]
    os.makedirs(args.out, exist_ok=True)
    model = dnaseq.load_model(ckpt)
    print(f"checkpoint {ckpt} (strand {model.strand_mode()}), torch threads {args.threads}", flush=True)
    codes = pick_windows(model, args.data, args.n, args.below, args.pool, args.seed)
    trajs, secs = [], []
    for k, lo in enumerate(range(0, len(codes), args.block)):
        t0 = time.perf_counter()
        block = codes[lo:lo + args.block]
        names = [f"test_{lo + i}" for i in range(len(block))]
        res = design(model, block, f"+{FEATURE}", constraints=Constraints(max_edits=5), names=names,
                     strategies=args.strategies.split(","), width=4, temperature=args.temperature, chains=8,
                     seed=args.seed, space=args.space)
        write_outputs(res, os.path.join(args.out, f"block{k}"))
        trajs.append(res.trajectory)
        secs.append(res.seconds)
        table = summarise(pd.concat(trajs), pd.concat(secs))
        print(f"block {k}: {len(block)} windows in {time.perf_counter() - t0:.0f} s\n{table.round(4).to_string()}",
              flush=True)
        with open(os.path.join(args.out, "summary.md"), "w") as fh:
            fh.write(f"checkpoint `{ckpt}`, objective `+{FEATURE}` ({args.space}), budget 5 edits, "
                     f"sampling T = {args.temperature}, torch threads {args.threads}\n\n" + markdown(table) + "\n")
        table.to_json(os.path.join(args.out, "summary.json"), orient="index", indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
