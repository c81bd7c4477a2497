"""``dnaseq evaluate``, ``compare``, ``predict``, ``ism`` and ``models``: argument parsing only (the
work is in :mod:`dnaseq.apply` and :mod:`dnaseq.models`)."""
from __future__ import annotations

import argparse
import glob
import os
import sys

from ..outputs import output_prefix
from ..settings import STRAND_TEXT
from .common import (
    Once, UsageError, add_overwrite, add_run_options, non_negative_int, positive_int, progress_wanted, refuse_to_overwrite,
    run_options, split_list)


def _evaluate_language_model(args) -> int:
    chromatin_only = [o for o, given in (("--save-predictions", args.save_predictions),
                                         ("--plot-features", args.plot_features),
                                         ("--strand both", args.strand == "both")) if given]
    if chromatin_only:
        raise UsageError(f"{', '.join(chromatin_only)}: for a chromatin model on a dataset; a language model on a "
                         f"reference FASTA reads the given strand and writes lm_metrics.tsv/json/png")
    from ..apply.lm_evaluate import evaluate_language_model, parse_classes  # torch: after the option checks

    result = evaluate_language_model(args.checkpoint, args.data, chroms=split_list(args.chroms),
                                     classes=parse_classes(args.classes), baseline=args.baseline,
                                     out_dir=args.out, run=run_options(args), split=args.split)
    if result is None:
        return 0
    print(result.format())
    pseudo = " (pseudo bits: a bidirectional model sees both sides)" if result.meta["pseudo"] else ""
    print(f"held-out {', '.join(result.meta['chromosomes'])}, {result.meta['window']} bp windows{pseudo}")
    if args.out:
        print(f"wrote {args.out}/lm_metrics.tsv, lm_metrics.json, lm_metrics.png")
    return 0


def _evaluate(args) -> int:
    from ..apply.evaluate import evaluate
    from ..sequence.genome import is_fasta

    if args.out:
        refuse_to_overwrite(args, os.path.join(args.out, "metrics.json"), os.path.join(args.out, "lm_metrics.json"))
    if is_fasta(args.data):  # a reference: a DNA language model's held-out bits per base
        return _evaluate_language_model(args)
    if args.chroms or args.classes or args.baseline:
        raise ValueError("--chroms, --classes and --baseline are for a language model evaluated on a reference "
                         f"FASTA; {args.data} is a dataset")

    result = evaluate(args.checkpoint, args.data, split=args.split, strand=args.strand, out_dir=args.out,
                      save_predictions=args.save_predictions, plot_features=split_list(args.plot_features),
                      run=run_options(args))
    if result is None:  # another rank of a multi-process run: rank 0 reports
        return 0
    print(result.format())
    print(STRAND_TEXT[result.meta["strand"]])
    if args.out:
        print(f"wrote {args.out}/metrics_per_feature.tsv, metrics_summary.tsv, metrics.json, curves.png, "
              f"auc_by_group.png" + (", predictions.h5" if args.save_predictions else ""))
    if result.table["roc_auc"].isna().all():  # every AUC undefined: nothing was measured
        print(f"dnaseq evaluate: no feature has both positive and negative windows in the {args.split} split "
              f"({result.meta.get('windows', '?')} windows), so no AUC could be computed (exit status 3); "
              "evaluate a larger split", file=sys.stderr)
        return 3
    return 0


def _predict(args) -> int:
    from ..apply.predict import predict

    suffix = {"tsv": "tsv", "hdf5": "h5", "h5": "h5"}.get(args.format, args.format)
    args.out = output_prefix(args.out, "." + suffix)  # -o preds.tsv: the prefix preds, as predict() takes it
    refuse_to_overwrite(args, f"{args.out}.{suffix}", *sorted(glob.glob(glob.escape(args.out) + ".*.bw")))
    result = predict(args.checkpoint, args.out, reference=args.reference, regions=args.regions, fasta=args.fasta,
                     chroms=split_list(args.chroms), stride=args.stride, fmt=args.format,
                     bigwig=split_list(args.bigwig), strand=args.strand, resume=args.resume, run=run_options(args))
    if result is None:
        return 0
    s = result.summary
    print(f"{s['windows']:,} windows predicted for {len(result.features)} features "
          f"({STRAND_TEXT[s['strand']].split(' (')[0]})")
    if s["gap_bins_skipped"]:
        print(f"{s['gap_bins_skipped']:,} bins entirely N (assembly gaps) were not predicted")
    if s["mostly_n"]:
        print(f"{s['mostly_n']:,} windows are more than half N (column n_fraction)")
    if s["bigwig_overlaps_dropped"]:
        print(f"{s['bigwig_overlaps_dropped']:,} bins overlapping an earlier bin were left out of the bigWig tracks")
    print("wrote " + ", ".join(result.paths))
    return 0


def _compare(args) -> int:
    from ..apply.compare import compare

    if args.out:
        refuse_to_overwrite(args, os.path.join(args.out, "comparison.tsv"))

    # progress bars only on a terminal (a log file or pipe gets no carriage-return bars)
    result = compare(args.a, args.b, out_dir=args.out, data=args.data, split=args.split,
                     progress=progress_wanted(args.quiet))
    print(result.format())
    if args.out:
        print(f"wrote {args.out}/comparison.tsv, comparison.json, comparison.png")
    return 0


def _ism(args) -> int:
    from ..apply.ism_run import run_ism

    refuse_to_overwrite(args, args.out)
    result = run_ism(args.checkpoint, args.out, reference=args.reference, region=args.region,
                     fasta=args.fasta, feature=args.feature, plot_dir=args.plot_dir, strand=args.strand,
                     logo_width=args.logo_width, run=run_options(args))
    if result is None:
        return 0
    n, _, p, f = result.predictions.shape
    print(f"ISM of {n} sequence(s) x {p} positions x 4 bases x {f} features -> {args.out}")
    if args.plot_dir:
        print(f"plots for {args.feature or result.features[0]} in {args.plot_dir}/")
    return 0


def _models(args) -> int:
    from ..models import describe_models

    try:
        counts = [int(n) for n in split_list(args.features) or []]
    except ValueError:
        raise ValueError(f"--features takes comma-separated numbers such as 919,8, not {args.features!r}") from None
    if not counts or min(counts) < 1 or args.seq_len < 1:
        raise ValueError("--features and --seq-len must be positive numbers")
    print(describe_models(seq_len=args.seq_len, feature_counts=counts))
    return 0


def register(sub) -> None:
    """Add ``models``, ``evaluate``, ``compare``, ``predict`` and ``ism`` to the ``dnaseq`` subcommands ``sub``."""
    ms = sub.add_parser("models", help="the architectures for model.arch, with their arguments, defaults and "
                                       "parameter counts (also: dnaseq train --list-models)")
    ms.add_argument("--seq-len", type=positive_int, default=1000, help="window length (bp) for the parameter counts")
    ms.add_argument("--features", default="919,8", help="comma-separated feature counts for the parameter "
                                                        "counts (919: DeepSEA's; 8: the shipped dm3 data)")
    ms.set_defaults(func=_models)

    e = sub.add_parser("evaluate", help="per-feature ROC AUC / PR AUC of a checkpoint on a dataset split (a "
                                        "language model: bits per base on a reference's held-out chromosomes)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--checkpoint", "-m", required=True)
    e.add_argument("--data", "-d", required=True, help="dnaseq HDF5 dataset or DeepSEA bundle; for a language "
                                                         "model, a reference FASTA")
    e.add_argument("--split", default="test")
    e.add_argument("--out", "-o", help="output folder for tables, plots and predictions")
    e.add_argument("--save-predictions", action="store_true", help="write predictions.h5")
    e.add_argument("--plot-features", help="comma-separated features for the curves (default: best, median, worst)")
    lm = e.add_argument_group("a DNA language model (--data a reference FASTA): held-out bits per base")
    lm.add_argument("--chroms", help="comma-separated held-out chromosomes (default: the checkpoint's test chromosomes)")
    lm.add_argument("--classes", action="append", default=[], metavar="[NAME=]BED",
                    help="a region class (peaks, repeats ...): bits per base inside it too; repeatable")
    lm.add_argument("--baseline", help="an n-gram model from dnaseq lm-baseline (PREFIX.best.npz), scored on the same bases")
    add_run_options(e, "evaluate")
    add_overwrite(e)
    e.set_defaults(func=_evaluate)

    c = sub.add_parser("compare", help="compare two evaluations (or two checkpoints on --data)")
    c.add_argument("a", help="evaluation folder / metrics.json / checkpoint")
    c.add_argument("b", help="evaluation folder / metrics.json / checkpoint")
    c.add_argument("--out", "-o", help="output folder for comparison.tsv/json/png")
    c.add_argument("--data", help="dataset, when A and B are checkpoints")
    c.add_argument("--split", default="test")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bar (there is none when stderr "
                                                              "is not a terminal)")
    add_overwrite(c)
    c.set_defaults(func=_compare)

    r = sub.add_parser("predict", help="predictions for BED regions, FASTA sequences or whole chromosomes "
                                       "(TSV/HDF5, bigWig tracks)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--checkpoint", "-m", required=True)
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--regions", help="BED of regions (with --reference): one centred window each, or tiled "
                                       "with --stride")
    src.add_argument("--chroms", help="comma-separated chromosomes, or 'all' (with --reference), tiled in "
                                      "--stride bp bins (default 200)")
    src.add_argument("--fasta", help="FASTA of sequences of the model's length (shorter: N-padded; longer: "
                                     "need --stride; with --stride every sequence of another length is tiled)")
    r.add_argument("--reference", "-r", help="reference FASTA for --regions / --chroms")
    r.add_argument("--stride", type=positive_int, help="bin size: each bin is predicted from the window centred on it")
    r.add_argument("--out", "-o", required=True, help="output prefix: PREFIX.tsv or PREFIX.h5 (+ PREFIX.FEATURE.bw)")
    r.add_argument("--format", choices=["tsv", "hdf5"], default="tsv")
    r.add_argument("--bigwig", help="comma-separated features to write as bigWig tracks, or 'all'")
    r.add_argument("--resume", action="store_true",
                   help="continue a run stopped by Ctrl-C, SIGTERM or a kill (same command): its rows in "
                        "PREFIX.tsv.partial / PREFIX.h5.partial are kept and the rest predicted")
    add_run_options(r, "predict")
    add_overwrite(r)
    r.set_defaults(func=_predict)

    s = sub.add_parser("ism", help="in-silico saturation mutagenesis of a region or FASTA sequences",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--checkpoint", "-m", required=True)
    s.add_argument("--region", action=Once, help="chrom:start-end (1-based, inclusive), at most the model's length "
                                                 "(one region; many sequences: --fasta)")
    s.add_argument("--reference", "-r", help="reference FASTA for --region")
    s.add_argument("--fasta", help="FASTA of sequences of exactly the model's length")
    s.add_argument("--out", "-o", required=True, help="output HDF5")
    s.add_argument("--feature", help="feature to plot (default: the first)")
    s.add_argument("--plot-dir", help="folder for heatmap and logo PNGs")
    s.add_argument("--logo-width", type=non_negative_int, default=100,
                   help="bp the logo shows: the strongest stretch of a longer sequence; 0 shows all of it")
    add_run_options(s, "ism")
    add_overwrite(s)
    s.set_defaults(func=_ism)
