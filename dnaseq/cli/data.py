"""``dnaseq build-dataset`` and ``dnaseq info``: argument parsing only (the work is in :mod:`dnaseq.data`)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from .common import add_overwrite, fraction, positive_int, progress_mode, refuse_to_overwrite, split_list


SUMMARY_ROWS = 40  # features listed one per row; more are condensed by group


def _build_dataset(args) -> int:
    from ..data.build import build_dataset, parse_peak_arg, read_manifest
    from ..data.dataset import format_summary

    if not args.manifest and not args.peaks:  # a usage error (exit 2), as a missing required option is
        print("dnaseq build-dataset: error: no peak files given: pass --manifest FILE or --peaks NAME=PATH "
              "(once per feature)", file=sys.stderr)
        return 2
    refuse_to_overwrite(args, args.out)

    features = read_manifest(args.manifest) if args.manifest else []
    features += [parse_peak_arg(p) for p in args.peaks or []]
    report = build_dataset(
        args.reference, features, args.out, bin_size=args.bin_size, window_size=args.window_size,
        min_coverage=args.min_coverage, max_n_fraction=args.max_n_fraction, regions=args.regions,
        blacklist=args.blacklist, chroms=split_list(args.chroms),
        valid_chroms=split_list(args.valid_chroms) or (), test_chroms=split_list(args.test_chroms) or (),
        valid_fraction=args.valid_fraction, test_fraction=args.test_fraction, seed=args.seed,
        require_positive=args.require_positive, pack_labels=args.pack_labels,
        on_bad_line="skip" if args.skip_bad_lines else "error", progress=progress_mode(args.quiet),
        command=" ".join(shlex.quote(a) for a in ["dnaseq"] + sys.argv[1:]), gff_type=args.gff_type,
        strict=args.strict)
    summary = report.as_dict()
    print(f"wrote {args.out} in {report.seconds:.1f} s")
    print(format_summary(summary, max_rows=SUMMARY_ROWS, more=f"(every feature: dnaseq info {args.out} --all)"))
    _print_left_out(summary)
    return 0


def _peak_option(text: str) -> str:
    """``--peaks`` must name its feature: a bare path is a usage error (exit 2) naming the form."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expects NAME=PATH or NAME:GROUP=PATH (the feature's name, then its "
                                         f"peak file), got {text!r}")
    return text


def _print_left_out(summary) -> None:
    dropped = {k: v for k, v in summary.get("dropped", {}).items() if v}
    if dropped:
        print("windows left out: " + ", ".join(f"{v:,} {k}" for k, v in dropped.items()))
    for name, chroms in summary.get("peaks_unknown_chrom", {}).items():
        print(f"feature {name}: {sum(chroms.values()):,} peaks on chromosomes not in the reference "
              f"({', '.join(sorted(chroms))}) were not used")
    for name, chroms in summary.get("peaks_past_end", {}).items():
        print(f"feature {name}: {sum(chroms.values()):,} peaks past the end of their chromosome "
              f"({', '.join(sorted(chroms))}) were not used")
    for name, reasons in summary.get("bad_lines_skipped", {}).items():
        print(f"feature {name}: skipped lines: " + ", ".join(f"{v} {k}" for k, v in reasons.items()))


def _info(args) -> int:
    from ..data.dataset import available_splits, format_summary, open_split

    splits = available_splits(args.data)
    if not splits:
        print(f"{args.data}: no splits found", file=sys.stderr)
        return 1
    src = open_split(args.data, splits[0], in_memory=False)
    info = src.info
    attrs = info.attrs
    print(f"dataset: {args.data}")
    print(f"format: {attrs.get('format')}  dnaseq {attrs.get('dnaseq_version', '-')}")
    print(f"window: {info.seq_len} bp  bins: {attrs.get('bin_size', '-')} bp  features: {info.n_features}")
    if attrs.get("genome_path"):
        print(f"genome: {attrs['genome_path']} ({attrs.get('genome_checksum')})")
    if attrs.get("split"):
        print(f"split: {json.dumps(attrs['split'])}")
    summary = attrs.get("summary")
    if not summary:  # DeepSEA bundles carry no summary: count now
        summary = {"features": info.feature_names, "groups": info.feature_groups, "windows": {}, "positives": {}}
        for s in splits:
            labels = open_split(args.data, s).read_all_labels()
            summary["windows"][s] = len(labels)
            summary["positives"][s] = labels.sum(axis=0).astype(int).tolist()
    print(format_summary(summary, max_rows=None if args.all else SUMMARY_ROWS,
                         more=f"(every feature: dnaseq info {args.data} --all)"))
    _print_left_out(summary)
    return 0


def register(sub) -> None:
    """Add ``build-dataset`` and ``info`` to the ``dnaseq`` subcommands ``sub``."""
    b = sub.add_parser("build-dataset", help="FASTA + peak files -> DeepSEA-style HDF5 dataset",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--reference", "-r", required=True, help="reference FASTA (plain or bgzip)")
    b.add_argument("--manifest", help="TSV: feature name, group (TF/DNase/Histone...), peak file path")
    b.add_argument("--peaks", action="append", metavar="NAME[:GROUP]=PATH", type=_peak_option,
                   help="a peak file (repeatable)")
    b.add_argument("--out", "-o", required=True, help="output HDF5 path")
    b.add_argument("--bin-size", type=positive_int, default=200)
    b.add_argument("--window-size", type=positive_int, default=1000)
    b.add_argument("--min-coverage", type=fraction, default=0.5, help="fraction of a bin peaks must cover")
    b.add_argument("--max-n-fraction", type=fraction, default=0.05, help="drop windows with more N than this")
    b.add_argument("--regions", help="BED: keep only bins at least half inside these regions")
    b.add_argument("--blacklist", help="BED: drop windows touching these regions")
    b.add_argument("--chroms", help="comma-separated chromosomes to use (default: all in the FASTA)")
    b.add_argument("--valid-chroms", help="comma-separated chromosomes held out for validation")
    b.add_argument("--test-chroms", help="comma-separated chromosomes held out for testing")
    b.add_argument("--valid-fraction", type=fraction, default=0.05, help="random split (no --*-chroms)")
    b.add_argument("--test-fraction", type=fraction, default=0.05, help="random split (no --*-chroms)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--require-positive", action="store_true", help="keep only bins with a positive feature")
    b.add_argument("--pack-labels", action="store_true", help="bit-pack labels (many features)")
    b.add_argument("--skip-bad-lines", action="store_true", help="count and skip malformed BED lines")
    b.add_argument("--gff-type", metavar="TYPE", help="peak files that are GFF/GTF (recognised by content): use only "
                   "the lines of this feature type (column 3, e.g. exon or gene); the others are counted")
    b.add_argument("--strict", action="store_true", help="stop, writing nothing, when a feature has no positive "
                   "(or no negative) window in the train split (without it: a warning naming the features)")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_overwrite(b)
    b.set_defaults(func=_build_dataset)

    i = sub.add_parser("info", help="summary of a dataset (dnaseq HDF5 or DeepSEA bundle)")
    i.add_argument("data")
    i.add_argument("--all", action="store_true",
                   help=f"a row for every feature (past {SUMMARY_ROWS} features the table is condensed by group)")
    i.set_defaults(func=_info)
