"""``dnaseq background`` (what ``score-variants --background`` reads) and ``dnaseq prioritize fit |
rank``: argument parsing only; the work is :mod:`dnaseq.prioritize`."""
from __future__ import annotations

import os

from .common import (
    UsageError, add_overwrite, add_run_options, name_list, positive_float, positive_int, refuse_to_overwrite,
    run_options, split_list)


#: how random SNVs are drawn: options that mean nothing with --vcf (its variants are the background)
_DRAW = {"n": "-n", "seed": "--seed", "regions": "--regions", "chromosomes": "--chromosomes", "ts_tv": "--ts-tv"}


def _background(args) -> int:
    given = [option for dest, option in _DRAW.items() if getattr(args, dest) is not None]
    if args.vcf and given:
        raise UsageError(f"{', '.join(given)} {'choose' if len(given) > 1 else 'chooses'} the random SNVs drawn "
                         f"without --vcf; with --vcf the background is the VCF's variants (filter the VCF instead)")
    from ..prioritize.background import build_background  # torch: after the checks of the options
    drawn = {dest: getattr(args, dest) for dest in _DRAW if getattr(args, dest) is not None}
    refuse_to_overwrite(args, args.out)
    summary = build_background(args.checkpoint, args.reference, args.out, vcf=args.vcf,
                               **{**drawn, "chromosomes": split_list(args.chromosomes)},
                               scores=args.scores, tail=args.tail, strand=args.strand,
                               run=run_options(args), chunk_size=args.chunk_size, resume=args.resume)
    if summary is not None:
        print(summary.format())
        print(f"use it with: dnaseq score-variants ... --background {args.out}")
    return 0


def register(sub) -> None:
    """Add ``background`` and ``prioritize`` to the ``dnaseq`` subcommands ``sub``."""
    b = sub.add_parser("background", help="score background variants: the effect distributions that "
                                           "score-variants --background turns into e-values",
                       description="Score a background set of variants (a VCF, or N random SNVs of the "
                                   "reference) and store, per feature, the distribution of |diff| and "
                                   "|logit_diff| for e-values in score-variants --background.")
    b.add_argument("--checkpoint", "-m", required=True)
    b.add_argument("--reference", "-r", required=True, help="reference FASTA (plain or bgzip)")
    b.add_argument("--out", "-o", required=True, help="background file to write (HDF5, e.g. background.h5)")
    b.add_argument("--vcf", help="score these variants (e.g. common variants) instead of random SNVs")
    b.add_argument("-n", "--n", type=positive_int, help="random SNVs to draw (without --vcf; default 100,000)")
    b.add_argument("--seed", type=int, help="seed of the random draw (default 0)")
    b.add_argument("--regions", help="draw only inside these BED intervals (e.g. the training regions)")
    b.add_argument("--chromosomes", help="draw only on these chromosomes (comma-separated)")
    b.add_argument("--ts-tv", type=positive_float, help="expected transition/transversion ratio of "
                                                         "the random ALTs (default 2)")
    b.add_argument("--scores", type=name_list, default="diff,logit_diff",
                   help="score types kept: diff, logit_diff, combined")
    b.add_argument("--tail", type=positive_int, default=None,
                   help="exact values kept per feature (default 100,000, fewer past 128 MiB); a histogram "
                        "covers the rest")
    b.add_argument("--chunk-size", type=positive_int, default=1024, help="variants per streamed chunk")
    b.add_argument("--resume", action="store_true", help="continue a killed run from OUT.partial")
    add_overwrite(b)
    add_run_options(b, "background")
    b.set_defaults(func=_background)
    register_prioritize(sub)


def _fit(args) -> int:
    from ..prioritize.classifier import fit_classifier

    refuse_to_overwrite(args, os.path.join(args.out, "classifier.json"))

    result = fit_classifier(args.positives, args.negatives, args.out, checkpoint=args.checkpoint,
                            reference=args.reference, background=args.background, use_evalues=args.use_evalues,
                            C=args.C, min_per_class=args.min_per_class, run=run_options(args))
    print(result.format())
    print(f"wrote {result.classifier}, {result.coefficients}, {result.plot}, "
          f"{os.path.join(args.out, 'cv_folds.tsv')}")
    return 0


def _rank(args) -> int:
    from ..prioritize.rank import rank_variants

    refuse_to_overwrite(args, args.out, args.plot or os.path.splitext(args.out)[0] + ".png")
    r = rank_variants(args.score_file, args.out, classifier=args.classifier, top=args.top, plot=args.plot)
    skipped = f" ({r.not_scored:,} rows that were not scored are left out)" if r.not_scored else ""
    print(f"ranked {r.rows:,} variants by {r.rank_by}{skipped}")
    shown = [c for c in ("rank", "chrom", "pos", "id", "ref", "alt", r.rank_by, "min_evalue_diff", "min_feature_diff",
                         "n_below_diff") if c in r.table.columns]
    print(r.table[shown].head(args.show).to_string(index=False, max_colwidth=24))
    print("wrote " + ", ".join([r.path] + ([r.plot] if r.plot else [])))
    return 0


def register_prioritize(sub) -> None:
    """Add ``prioritize fit`` and ``prioritize rank`` to the ``dnaseq`` subcommands ``sub``."""
    p = sub.add_parser("prioritize", help="which variants matter: fit a functional-variant classifier, rank "
                                          "scored variants")
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    f = steps.add_parser("fit", help="fit and cross-validate (grouped by chromosome) a classifier of "
                                     "functional vs other variants over their effect profiles")
    f.add_argument("--positives", required=True, help="functional variants: a VCF, or a score file of "
                                                      "score-variants (TSV or HDF5)")
    f.add_argument("--negatives", required=True, help="other variants (e.g. common or random ones), same kinds")
    f.add_argument("--out", "-o", required=True, help="output folder: classifier.json, cv_folds.tsv, "
                                                      "coefficients.tsv, curves.png")
    f.add_argument("--checkpoint", "-m", help="to score VCFs given as positives / negatives")
    f.add_argument("--reference", "-r", help="to score VCFs given as positives / negatives")
    f.add_argument("--background", help="a background file, for e-values of the VCFs scored here")
    f.add_argument("--use-evalues", action="store_true", help="add -log10 e-values to the profile")
    f.add_argument("--C", type=positive_float, default=1.0, help="inverse L2 strength of the logistic regression")
    f.add_argument("--min-per-class", type=positive_int, default=10, help="scored variants needed in each class")
    add_run_options(f, "score-variants")
    add_overwrite(f)
    f.set_defaults(func=_fit, command="prioritize fit")
    r = steps.add_parser("rank", help="rank the variants of a score file by the classifier's score or, "
                                      "without one, by combined e-value")
    r.add_argument("--scores", dest="score_file", required=True, help="a score file of score-variants (TSV or HDF5)")
    r.add_argument("--out", "-o", required=True, help="the ranked table (TSV)")
    r.add_argument("--classifier", help="classifier.json of dnaseq prioritize fit")
    r.add_argument("--top", type=positive_int, default=30, help="variants in the e-value heatmap")
    r.add_argument("--plot", help="the heatmap's path (default: OUT with .png)")
    r.add_argument("--show", type=positive_int, default=10, help="rows printed")
    add_overwrite(r)
    r.set_defaults(func=_rank, command="prioritize rank")
