#!/usr/bin/env python
"""Which variants matter (issue 29): the figures its closing note must show, measured in one run.

    python scripts/bench/prioritize.py --checkpoint runs/quickstart/version_0/best.ckpt \\
        [--reference ../shared/data/dm3/dm3_partial.fa.gz] [--background-n 100000] [--held-out 2000] \\
        [--million 1000000] [--only background,held,benchmark,million] [--out results/bench_prioritize]

* background: ``dnaseq background`` of ``--background-n`` random SNVs drawn from the checkpoint's
  training chromosomes (chr2R, chr3L, chr3R for the quick start), in a fresh process: wall time and
  peak RSS.
* held: ``--held-out`` other random SNVs of the same chromosomes (another seed) scored with
  ``--background``: per feature and score type, the Kolmogorov-Smirnov p-value of their e-values
  against the uniform distribution (the smallest and the median over features).
* benchmark: ``scripts/prioritize_benchmark.py`` (positives that break insulator motifs in peaks of
  chr2L / chrX vs random SNVs, and vs in-peak motif-free SNVs), scored with the background; ROC AUC
  and PR AUC with cross-validation grouped by chromosome (fit on one chromosome, test on the other)
  of (a) the classifier (profile of |diff|, |logit_diff|; and with e-values), (b) the smallest
  e-value alone, (c) the largest |diff| alone, (d) the 6-mer logistic regression's delta.
* million: ``score-variants`` of ``--million`` SNVs with a small model (8 features, 200 bp; the one of
  ``scripts/bench/variants.py``), with and without ``--background``, each in a fresh process: RSS
  growth and variants/s.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

TRAIN_CHROMS = "chr2R,chr3L,chr3R"


def sh(args, **kw):
    """Run a command, print it and how long it took; returns (seconds, peak RSS MB of children so far)."""
    print("$ " + " ".join(map(str, args)), flush=True)
    t = time.perf_counter()
    subprocess.run(list(map(str, args)), check=True, **kw)
    dt = time.perf_counter() - t
    return dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def write_random_vcf(reference, path, n, seed, chromosomes):
    from dnaseq.prioritize.background import random_snvs
    from dnaseq.sequence.genome import Genome
    with Genome(reference) as g:
        rows = sorted(random_snvs(g, n, 1000, seed=seed, chromosomes=chromosomes.split(",")),
                      key=lambda r: (r.chrom, r.pos))
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        fh.writelines(f"{r.chrom}\t{r.pos}\t{r.id}\t{r.ref}\t{r.alt}\t.\t.\t.\n" for r in rows)
    return path


def run_timed(cmd) -> dict:
    """Run ``cmd`` in a fresh process under /usr/bin/time -v: wall seconds and its own peak RSS."""
    print("$ " + " ".join(map(str, cmd)), flush=True)
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v"] + list(map(str, cmd)), capture_output=True, text=True)
    dt = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    print(proc.stdout, flush=True)
    rss = next(int(l.split()[-1]) for l in proc.stderr.splitlines() if "Maximum resident set size" in l) / 1024
    return {"seconds": dt, "peak_rss_mb": rss}


def part_background(args, res):
    out = os.path.join(args.out, "background.h5")
    r = run_timed([sys.executable, "-m", "dnaseq.cli", "background", "-m", args.checkpoint, "-r", args.reference,
                   "-o", out, "-n", args.background_n, "--seed", "0", "--chromosomes", TRAIN_CHROMS, "-q"])
    res["background"] = {"n": args.background_n, **r, "variants_per_s": args.background_n / r["seconds"],
                         "file_mb": os.path.getsize(out) / 2**20}


def part_held(args, res):
    from scipy.stats import kstest
    from dnaseq.apply.calibration import Background
    from dnaseq.apply.variant_writers import read_scores_tsv
    bg = os.path.join(args.out, "background.h5")
    vcf = write_random_vcf(args.reference, os.path.join(args.out, "held_out.vcf"), args.held_out, 12345, TRAIN_CHROMS)
    sh([sys.executable, "-m", "dnaseq.cli", "score-variants", "-m", args.checkpoint, "-r", args.reference,
        "--vcf", vcf, "--background", bg, "-o", os.path.join(args.out, "held_out"), "-q"])
    t = read_scores_tsv(os.path.join(args.out, "held_out.tsv"))
    b = Background.load(bg)
    ps = {f"{s}:{f}": float(kstest(t[f"evalue_{s}:{f}"], "uniform").pvalue) for s in b.scores for f in b.features}
    res["held_out"] = {"n": args.held_out, "ks_p_min": min(ps.values()), "ks_p_median": float(np.median(list(ps.values()))),
                       "ks_p": ps}


def auc_table(y, score, chrom):
    from sklearn.metrics import average_precision_score, roc_auc_score
    out = {}
    for c in sorted(set(chrom)) + ["pooled"]:
        m = np.ones(len(y), bool) if c == "pooled" else chrom == c
        out[c] = {"roc_auc": float(roc_auc_score(y[m], score[m])), "pr_auc": float(average_precision_score(y[m], score[m]))}
    return out


def part_benchmark(args, res):
    import pandas as pd
    from dnaseq.prioritize.classifier import fit_classifier
    bench = os.path.join(args.out, "benchmark")
    sh([sys.executable, os.path.join(ROOT, "scripts", "prioritize_benchmark.py"), "--out", bench])
    sh([sys.executable, os.path.join(ROOT, "scripts", "prioritize_benchmark.py"), "kmer", "--out", bench])
    bg = os.path.join(args.out, "background.h5")
    for name in ("positives", "negatives_random", "negatives_peak"):
        sh([sys.executable, "-m", "dnaseq.cli", "score-variants", "-m", args.checkpoint, "-r", args.reference,
            "--vcf", os.path.join(bench, f"{name}.vcf"), "--background", bg, "--scores", "ref,alt,diff,logit_diff",
            "-o", os.path.join(bench, name), "-q"])
    res["benchmark"] = {}
    for neg in ("negatives_random", "negatives_peak"):
        entry = {}
        for use_e in (False, True):
            r = fit_classifier(os.path.join(bench, "positives.tsv"), os.path.join(bench, f"{neg}.tsv"),
                               os.path.join(args.out, f"clf_{neg}{'_evalues' if use_e else ''}"), use_evalues=use_e)
            folds = r.folds
            for scorer in folds.scorer.unique():
                key = {"classifier": "(a) classifier" + (" + e-values" if use_e else ""),
                       "min e-value": "(b) smallest e-value", "max |diff|": "(c) largest |diff|"}[scorer]
                f = folds[folds.scorer == scorer]
                entry[key] = {**{row.held_out: {"roc_auc": row.roc_auc, "pr_auc": row.pr_auc}
                                 for row in f.itertuples()}, "pooled": r.pooled[scorer]}
        kp = pd.read_csv(os.path.join(bench, "positives.kmer_delta.tsv"), sep="\t")
        kn = pd.read_csv(os.path.join(bench, f"{neg}.kmer_delta.tsv"), sep="\t")
        y = np.r_[np.ones(len(kp)), np.zeros(len(kn))]
        entry["(d) 6-mer LR delta"] = auc_table(y, np.r_[kp.kmer_delta, kn.kmer_delta], np.r_[kp.chrom, kn.chrom])
        res["benchmark"][neg] = entry


def part_million(args, res):
    tmp = os.path.join(args.out, "million")
    os.makedirs(tmp, exist_ok=True)
    sys.path.insert(0, HERE)
    from variants import make_million_inputs
    make_million_inputs(tmp, args.million)
    ckpt, fa = os.path.join(tmp, "small.ckpt"), os.path.join(tmp, "big.fa")
    bg = os.path.join(tmp, "bg.h5")
    res["million"] = {"background": run_timed([sys.executable, "-m", "dnaseq.cli", "background", "-m", ckpt, "-r", fa,
                                               "-o", bg, "-n", args.million, "-q"])}
    res["million"]["background"]["n"] = args.million
    print("background", res["million"]["background"], flush=True)
    for label, extra in (("without --background", "None"), ("with --background", repr(bg))):
        code = textwrap.dedent(f'''
            import os, resource, sys, time
            sys.path.insert(0, {ROOT!r})
            from dnaseq.apply.variants import score_variants
            def rss_mb():
                with open("/proc/self/status") as fh:
                    return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) / 1024
            base = rss_mb()
            t = time.perf_counter()
            s = score_variants({ckpt!r}, {os.path.join(tmp, "million.vcf")!r}, {fa!r}, {os.path.join(tmp, "out")!r},
                               fmt="hdf5", scores=("diff", "logit_diff"), batch_size=1024, chunk_size=8192,
                               progress=False, background={extra})
            dt = time.perf_counter() - t
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print("MILLION", s.rows, dt, base, peak)
        ''')
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("MILLION")), None)
        if line is None:
            raise RuntimeError(proc.stderr[-3000:])
        _, rows, dt, base, peak = line.split()
        res["million"][label] = {"rows": int(rows), "seconds": float(dt), "variants_per_s": int(rows) / float(dt),
                                 "rss_growth_mb": float(peak) - float(base)}
        print(label, res["million"][label], flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="runs/quickstart/version_0/best.ckpt")
    ap.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "data", "dm3", "dm3_partial.fa.gz"))
    ap.add_argument("--background-n", type=int, default=100_000)
    ap.add_argument("--held-out", type=int, default=2000)
    ap.add_argument("--million", type=int, default=1_000_000)
    ap.add_argument("--only", default="background,held,benchmark,million")
    ap.add_argument("--out", default="results/bench_prioritize")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    res = json.load(open(path)) if os.path.exists(path) else {}
    for part in args.only.split(","):
        globals()[f"part_{part}"](args, res)
        with open(path, "w") as fh:
            json.dump(res, fh, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "held_out"}, indent=1))
    if "held_out" in res:
        print("held-out KS p: min", res["held_out"]["ks_p_min"], "median", res["held_out"]["ks_p_median"])


if __name__ == "__main__":
    main()
