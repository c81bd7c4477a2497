#!/usr/bin/env python
"""The normal path, timed at two checkouts in one run: the checks added for damaged and
degenerate inputs must not slow ordinary work (issue 32: within 3%).

    git worktree add ../before bcff4e1
    python scripts/bench/normal_path.py --before ../before [--runs 5]

Cases (each a fresh ``python -m dnaseq.cli`` process with ``PYTHONPATH`` set to the checkout,
start-up included, runs of the two checkouts alternated so both see the same machine state;
medians):

* build-dataset of the README (``data/dm3_slice``, 8 features, 400 kb);
* build-dataset of docs/data.md (``data/dm3_lm``, 2 features, chromosome hold-outs, 25 Mbp);
* score-variants of the shipped S. aureus VCF (109 variants, ``tests/data/saureus``) with the
  quick-start architecture (untrained weights, written once by this checkout).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import make_checkpoint  # noqa: E402


def cases(ckpt: Path, out: Path):
    s = ROOT / "data" / "dm3_slice"
    sa = ROOT / "tests" / "data" / "saureus"
    vcf = next(p for p in sa.iterdir() if p.name.endswith((".vcf.gz", ".vcf")))
    fa = next(p for p in sa.iterdir() if p.name.endswith((".fa", ".fasta", ".fa.gz", ".fna")))
    return [
        ("build-dataset, README (dm3 slice, 8 features)",
         ["build-dataset", "--reference", str(s / "dm3_chr2L_400k.fa.gz"), "--manifest", str(s / "manifest.tsv"),
          "--out", str(out / "slice.h5"), "--max-n-fraction", "0", "-q"]),
        ("build-dataset, docs/data.md (dm3_lm, 2 features, hold-outs)",
         ["build-dataset", "--reference", str(ROOT / "data" / "dm3_lm" / "dm3_lm.fa.gz"), "--valid-chroms", "chrX",
          "--test-chroms", "chr2L", "--peaks", f"BEAF_Kc:TF={s / 'BEAF_Kc_Bushey_2009.bed'}",
          "--peaks", f"CTCF_Kc:TF={s / 'CTCF_Kc_Bushey_2009.bed'}", "--out", str(out / "holdout.h5"), "-q"]),
        (f"score-variants, {vcf.name} (quick-start architecture)",
         ["score-variants", "-m", str(ckpt), "--vcf", str(vcf), "-r", str(fa), "-o", str(out / "sv"), "-q"]),
    ]


def once(checkout: Path, argv, out: Path) -> float:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "dnaseq.cli", *argv], env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode not in (0, 3):
        raise SystemExit(f"{checkout}: {' '.join(argv)} failed ({p.returncode}):\n{p.stderr[-1500:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    checkouts = {"before": Path(args.before).resolve(), "after": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "model.ckpt"
        make_checkpoint(ckpt)
        print("| case | before (median s) | after (median s) | after / before |")
        print("|---|---|---|---|")
        for name, argv in cases(ckpt, tmp / "out"):
            times = {k: [] for k in checkouts}
            for _ in range(args.runs):
                for k, c in checkouts.items():
                    times[k].append(once(c, argv, tmp / "out"))
            b, a = statistics.median(times["before"]), statistics.median(times["after"])
            print(f"| {name} | {b:.2f} | {a:.2f} | {a / b:.3f} |", flush=True)


if __name__ == "__main__":
    main()
