"""``dnaseq score-variants``: argument parsing only (the work is :func:`dnaseq.apply.variants.score_variants`)."""
from __future__ import annotations

import argparse
import sys

from ..apply.variant_writers import DEFAULT_SCORES, DEFAULT_THRESHOLD, REF_POLICIES, SCORES
from ..settings import STRAND_TEXT
from .common import (
    UsageError, add_overwrite, add_run_options, name_list, positive_float, positive_int, refuse_to_overwrite,
    run_options)

NOTHING_SCORED = 3  # exit status of score-variants when no variant was scored (none in the VCF, or none scorable)


def _threshold(text: str) -> float:
    """``--evalue-threshold``: an e-value, above 0 and at most 1."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"an e-value is at most 1, not {text}")
    return value


def _score_variants(args) -> int:
    if args.evalue_threshold is not None and not args.background:
        raise UsageError("--evalue-threshold counts features below an e-value: it needs --background")
    from ..apply.variant_writers import output_path
    from ..apply.variants import score_variants  # torch: after the checks of the options
    refuse_to_overwrite(args, output_path(args.format, args.out), f"{args.out}.summary.json")
    summary = score_variants(args.checkpoint, args.vcf, args.reference, args.out, scores=args.scores,
                             fmt=args.format, ref_policy=args.ref_policy,
                             strand=args.strand, chunk_size=args.chunk_size, run=run_options(args),
                             resume=args.resume, background=args.background,
                             evalue_threshold=DEFAULT_THRESHOLD if args.evalue_threshold is None
                             else args.evalue_threshold)
    if summary is None:
        return 0
    print(summary.format())
    print(STRAND_TEXT[summary.meta["strand"]])
    print("wrote " + ", ".join(summary.outputs + [f"{args.out}.summary.json"]))
    if not summary.rows:
        print(f"dnaseq score-variants: {args.vcf} holds no variant record: nothing was scored (exit status "
              f"{NOTHING_SCORED})", file=sys.stderr)
        return NOTHING_SCORED
    if not summary.statuses.get("scored"):  # variants, but none could be scored
        print(f"dnaseq score-variants: {_nothing_scored(args, summary)}", file=sys.stderr)
        return NOTHING_SCORED
    return 0


def _nothing_scored(args, summary, shown: int = 5) -> str:
    """Why nothing was scored, in one line: for chromosomes missing from the reference, the
    VCF's names that are missing and the first names the reference has."""
    text = f"nothing was scored (exit status {NOTHING_SCORED})"
    if not summary.statuses.get("unknown_chromosome"):
        return text + f"; see the status and note columns of {summary.outputs[0] if summary.outputs else args.out}"
    from ..sequence.genome import Genome
    from ..sequence.vcf import read_vcf

    missing = {}
    with Genome(args.reference) as genome:
        for row in read_vcf(args.vcf):
            if row.scorable and row.chrom not in missing and not genome.has(row.chrom):
                missing[row.chrom] = None
        names = genome.chromosomes

    def listed(items):
        items = list(items)
        return ", ".join(items[:shown]) + (f" ... ({len(items):,} in all)" if len(items) > shown else "")

    return (f"{text}: VCF chromosome{'s' if len(missing) != 1 else ''} {listed(missing)} "
            f"{'are' if len(missing) != 1 else 'is'} not in the reference {args.reference} (which has "
            f"{listed(names)}); use the reference the VCF was called against, or rename its chromosomes")


def register(sub) -> None:
    """Add ``score-variants`` to the ``dnaseq`` subcommands ``sub``."""

    v = sub.add_parser("score-variants", help="score VCF variants: reference/alternative predictions and effects",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       epilog=f"Exit status: 0 when the run finished; {NOTHING_SCORED} when nothing was scored: "
                              f"the VCF holds no variant, or none could be scored (the outputs, with every row's "
                              f"status, and the warning are still written); 1 on an error, before any output.")
    v.add_argument("--checkpoint", "-m", required=True)
    v.add_argument("--vcf", required=True, help="VCF, plain or gzip/bgzip")
    v.add_argument("--reference", "-r", required=True, help="reference FASTA (plain or bgzip)")
    v.add_argument("--out", "-o", required=True, help="output prefix: PREFIX.tsv or PREFIX.h5, PREFIX.summary.json")
    v.add_argument("--scores", type=name_list, default=",".join(DEFAULT_SCORES),
                   help=f"comma-separated, from {', '.join(SCORES)}")
    v.add_argument("--format", choices=["tsv", "hdf5"], default="tsv")
    v.add_argument("--ref-policy", choices=REF_POLICIES, default="genome",
                   help="on REF mismatch: score with the genome's REF, the VCF's REF, or skip")
    v.add_argument("--chunk-size", type=positive_int, default=1024, help="variants per streamed chunk (unit of work)")
    v.add_argument("--background", help="a background file of dnaseq background: adds e-values per feature "
                                         "and per-row summary columns (smallest e-value, its feature, ...)")
    v.add_argument("--evalue-threshold", type=_threshold, metavar="E",
                   help=f"with --background: count the features whose e-value is below E (default "
                        f"{DEFAULT_THRESHOLD:g})")
    v.add_argument("--resume", action="store_true",
                   help="continue a killed TSV run from where PREFIX.tsv.partial ends")
    add_overwrite(v)
    add_run_options(v, "score-variants")
    v.set_defaults(func=_score_variants)
