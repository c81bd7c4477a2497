#!/usr/bin/env python
"""Zero-shot variant scores of DNA language models on the prioritisation benchmark.

Scores the benchmark's three VCFs (``scripts/prioritize_benchmark.py``: ``positives.vcf``, SNVs
that break a strong insulator-motif match inside a ChIP peak; ``negatives_random.vcf`` and
``negatives_peak.vcf``) with each language-model checkpoint through ``dnaseq score-variants``
(the same engine, statuses and TSV), then reports the ROC AUC and PR AUC of ``-llr:site`` and
``-llr:window`` (a more negative log-likelihood ratio = the ALT is less expected = more likely to
matter) for positives against each negative set, and the same ROC within each substitution
(REF>ALT) class, averaged with the positives' weights (``matched_roc_auc``): the benchmark's
positives are nearly all C/G>C/G changes (the base that lowers a GC-rich motif's score most), so
a score that knows only base composition already separates them from random SNVs, in either
direction. ``composition`` rows score ``-log2 f(ALT) / f(REF)`` with the reference's base
frequencies, that bar. Rows that were not scored are left out; the counts are in the output.

    python scripts/prioritize_benchmark.py --reference ../shared/data/dm3/dm3_partial.fa.gz \\
        --peaks-dir ../shared/data/dm3 --motifs tests/data/interpret/jaspar2024_core_subset.meme \\
        --chromosomes chr2L,chrX --out results/prioritize_benchmark --seed 0
    python scripts/lm_zero_shot_benchmark.py --benchmark results/prioritize_benchmark \\
        --reference ../shared/data/dm3/dm3_partial.fa.gz --lm causal=runs/lm/version_0 \\
        --lm bidirectional=runs/lm/version_1 --out results/lm_zero_shot

Writes ``OUT/NAME.SET.tsv`` (the scores), ``OUT/zero_shot.tsv`` and ``OUT/zero_shot.json`` (the
table), and prints the table as Markdown. The language models must not have trained on the
benchmark's chromosomes for the figures to be zero-shot on held-out sequence.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dnaseq.apply.variants import score_variants  # noqa: E402
from dnaseq.sequence.genome import Genome  # noqa: E402

SETS = {"positives": "positives.vcf", "random": "negatives_random.vcf", "peak": "negatives_peak.vcf"}
SCORES = ("llr:site", "llr:window")


def score_sets(name: str, checkpoint: str, benchmark: str, reference: str, out: str) -> dict:
    """Each set's scored rows (a DataFrame) and status counts, scored once (kept on disk)."""
    frames = {}
    for set_name, vcf in SETS.items():
        prefix = os.path.join(out, f"{name}.{set_name}")
        if not os.path.exists(prefix + ".tsv"):
            score_variants(checkpoint, os.path.join(benchmark, vcf), reference, prefix, progress=False)
        frames[set_name] = pd.read_csv(prefix + ".tsv", sep="\t", keep_default_na=False, na_values=["nan"])
    return frames


def matched_roc(pos: pd.DataFrame, neg: pd.DataFrame, score: str, min_neg: int = 20) -> float:
    """ROC AUC of ``-score`` within each REF>ALT class (classes with at least ``min_neg``
    negatives), averaged with the number of positives in each class as weights."""
    total = weight = 0.0
    for (ref, alt), p in pos.groupby(["ref", "alt"]):
        n = neg[(neg["ref"] == ref) & (neg["alt"] == alt)]
        if len(n) < min_neg:
            continue
        y = np.r_[np.ones(len(p)), np.zeros(len(n))]
        total += len(p) * roc_auc_score(y, -np.r_[p[score].to_numpy(float), n[score].to_numpy(float)])
        weight += len(p)
    return total / weight if weight else float("nan")


def composition(frame: pd.DataFrame, freq: dict) -> pd.DataFrame:
    """The frame with a ``composition`` score: log2 f(ALT) / f(REF), like an LLR."""
    out = frame.copy()
    out["composition"] = np.log2(out["alt"].map(freq).astype(float) / out["ref"].map(freq).astype(float))
    return out


def table_rows(name: str, frames: dict, scores=SCORES) -> list:
    pos = frames["positives"]
    pos = pos[pos["status"] == "scored"]
    rows = []
    for neg_name in ("random", "peak"):
        neg = frames[neg_name]
        neg = neg[neg["status"] == "scored"]
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        for score in scores:
            s = -np.r_[pos[score].to_numpy(float), neg[score].to_numpy(float)]
            rows.append({"model": name, "score": f"-{score}", "negatives": neg_name,
                         "positives": len(pos), "negatives_n": len(neg),
                         "roc_auc": roc_auc_score(y, s), "pr_auc": average_precision_score(y, s),
                         "matched_roc_auc": matched_roc(pos, neg, score),
                         "positive_fraction": len(pos) / len(y),
                         "mean_llr_positives": float(pos[score].mean()),
                         "mean_llr_negatives": float(neg[score].mean())})
    return rows


def base_frequencies(reference: str) -> dict:
    """A, C, G, T frequencies over the reference's known bases."""
    genome = Genome(reference)
    counts = np.zeros(5, np.int64)
    for chrom in genome.chromosomes:
        counts += np.bincount(genome.chromosome_codes(chrom), minlength=5)[:5]
    return {b: counts[i] / counts[:4].sum() for i, b in enumerate("ACGT")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--benchmark", required=True, help="folder written by scripts/prioritize_benchmark.py")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--lm", action="append", required=True, metavar="NAME=CKPT",
                    help="a language model's checkpoint or run folder (repeat for several)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows, frames = [], None
    for spec in args.lm:
        name, _, ckpt = spec.rpartition("=")
        name = name or os.path.basename(os.path.normpath(ckpt))
        t0 = time.perf_counter()
        frames = score_sets(name, ckpt, args.benchmark, args.reference, args.out)
        rows += table_rows(name, frames)
        print(f"{name}: scored in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    freq = base_frequencies(args.reference)
    rows += table_rows("composition", {k: composition(v, freq) for k, v in frames.items()}, ("composition",))
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(args.out, "zero_shot.tsv"), sep="\t", index=False)
    with open(os.path.join(args.out, "zero_shot.json"), "w") as fh:
        json.dump({"benchmark": args.benchmark, "reference": args.reference, "models": args.lm, "rows": rows}, fh, indent=1)
    print("| model | score | vs | ROC AUC | PR AUC (baseline) | ROC within substitution class | "
          "mean LLR pos / neg (bits) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | `{r['score']}` | {r['negatives']} ({r['negatives_n']}) | {r['roc_auc']:.3f} | "
              f"{r['pr_auc']:.3f} ({r['positive_fraction']:.3f}) | {r['matched_roc_auc']:.3f} | "
              f"{r['mean_llr_positives']:+.3f} / {r['mean_llr_negatives']:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
