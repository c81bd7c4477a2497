"""The ``dnaseq`` command line: argument parsing only; every command calls the Python API."""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from typing import List, Optional

from .._version import __version__
from ..settings import STRAND_TEXT
from . import design, interpret, tune, variants, weights
from .common import HelpFormatter, add_run_options, progress_wanted, run_options, split_list


def _build_dataset(args) -> int:
    from ..data.build import build_dataset, parse_peak_arg, read_manifest
    from ..data.dataset import format_summary

    features = read_manifest(args.manifest) if args.manifest else []
    features += [parse_peak_arg(p) for p in args.peaks or []]
    report = build_dataset(
        args.reference, features, args.out, bin_size=args.bin_size, window_size=args.window_size,
        min_coverage=args.min_coverage, max_n_fraction=args.max_n_fraction, regions=args.regions,
        blacklist=args.blacklist, chroms=split_list(args.chroms),
        valid_chroms=split_list(args.valid_chroms) or (), test_chroms=split_list(args.test_chroms) or (),
        valid_fraction=args.valid_fraction, test_fraction=args.test_fraction, seed=args.seed,
        require_positive=args.require_positive, pack_labels=args.pack_labels,
        on_bad_line="skip" if args.skip_bad_lines else "error", progress=progress_wanted(args.quiet),
        command=" ".join(shlex.quote(a) for a in ["dnaseq"] + sys.argv[1:]))
    summary = report.as_dict()
    print(f"wrote {args.out} in {report.seconds:.1f} s")
    print(format_summary(summary))
    _print_left_out(summary)
    return 0


def _print_left_out(summary) -> None:
    dropped = {k: v for k, v in summary.get("dropped", {}).items() if v}
    if dropped:
        print("windows left out: " + ", ".join(f"{v:,} {k}" for k, v in dropped.items()))
    for name, chroms in summary.get("peaks_unknown_chrom", {}).items():
        print(f"feature {name}: {sum(chroms.values()):,} peaks on chromosomes not in the reference "
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
    print(format_summary(summary))
    _print_left_out(summary)
    return 0


def _evaluate(args) -> int:
    from ..apply.evaluate import evaluate

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
    return 0


def _predict(args) -> int:
    from ..apply.predict import predict

    result = predict(args.checkpoint, args.out, reference=args.reference, regions=args.regions, fasta=args.fasta,
                     chroms=split_list(args.chroms), stride=args.stride, fmt=args.format,
                     bigwig=split_list(args.bigwig), strand=args.strand, run=run_options(args))
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
    return 0 if s["windows"] else 1


def _compare(args) -> int:
    from ..apply.compare import compare

    result = compare(args.a, args.b, out_dir=args.out, data=args.data, split=args.split)
    print(result.format())
    if args.out:
        print(f"wrote {args.out}/comparison.tsv, comparison.json, comparison.png")
    return 0


def _ism(args) -> int:
    from ..apply.ism_run import run_ism

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


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dnaseq", description="Deep-learning models of DNA sequence.")
    p.add_argument("--version", action="version", version=f"dnaseq {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("build-dataset", help="FASTA + peak files -> DeepSEA-style HDF5 dataset",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--reference", "-r", required=True, help="reference FASTA (plain or bgzip)")
    b.add_argument("--manifest", help="TSV: feature name, group (TF/DNase/Histone...), peak file path")
    b.add_argument("--peaks", action="append", metavar="NAME[:GROUP]=PATH", help="a peak file (repeatable)")
    b.add_argument("--out", "-o", required=True, help="output HDF5 path")
    b.add_argument("--bin-size", type=int, default=200)
    b.add_argument("--window-size", type=int, default=1000)
    b.add_argument("--min-coverage", type=float, default=0.5, help="fraction of a bin peaks must cover")
    b.add_argument("--max-n-fraction", type=float, default=0.05, help="drop windows with more N than this")
    b.add_argument("--regions", help="BED: keep only bins at least half inside these regions")
    b.add_argument("--blacklist", help="BED: drop windows touching these regions")
    b.add_argument("--chroms", help="comma-separated chromosomes to use (default: all in the FASTA)")
    b.add_argument("--valid-chroms", help="comma-separated chromosomes held out for validation")
    b.add_argument("--test-chroms", help="comma-separated chromosomes held out for testing")
    b.add_argument("--valid-fraction", type=float, default=0.05, help="random split (no --*-chroms)")
    b.add_argument("--test-fraction", type=float, default=0.05, help="random split (no --*-chroms)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--require-positive", action="store_true", help="keep only bins with a positive feature")
    b.add_argument("--pack-labels", action="store_true", help="bit-pack labels (many features)")
    b.add_argument("--skip-bad-lines", action="store_true", help="count and skip malformed BED lines")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    b.set_defaults(func=_build_dataset)

    sub.add_parser("train", help="train a model from a YAML config (dnaseq train --config X.yaml; "
                                 "see dnaseq train --help)", add_help=False)

    ms = sub.add_parser("models", help="the architectures for model.arch, with their arguments, defaults and "
                                       "parameter counts (also: dnaseq train --list-models)")
    ms.add_argument("--seq-len", type=int, default=1000, help="window length (bp) for the parameter counts")
    ms.add_argument("--features", default="919,8", help="comma-separated feature counts for the parameter "
                                                        "counts (919: DeepSEA's; 8: the shipped dm3 data)")
    ms.set_defaults(func=_models)

    e = sub.add_parser("evaluate", help="per-feature ROC AUC / PR AUC of a checkpoint on a dataset split",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--checkpoint", "-m", required=True)
    e.add_argument("--data", "-d", required=True, help="dnaseq HDF5 dataset or DeepSEA bundle")
    e.add_argument("--split", default="test")
    e.add_argument("--out", "-o", help="output folder for tables, plots and predictions")
    e.add_argument("--save-predictions", action="store_true", help="write predictions.h5")
    e.add_argument("--plot-features", help="comma-separated features for the curves (default: best, median, worst)")
    add_run_options(e, "evaluate")
    e.set_defaults(func=_evaluate)

    c = sub.add_parser("compare", help="compare two evaluations (or two checkpoints on --data)")
    c.add_argument("a", help="evaluation folder / metrics.json / checkpoint")
    c.add_argument("b", help="evaluation folder / metrics.json / checkpoint")
    c.add_argument("--out", "-o", help="output folder for comparison.tsv/json/png")
    c.add_argument("--data", help="dataset, when A and B are checkpoints")
    c.add_argument("--split", default="test")
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
                                     "tiled with --stride)")
    r.add_argument("--reference", "-r", help="reference FASTA for --regions / --chroms")
    r.add_argument("--stride", type=int, help="bin size: each bin is predicted from the window centred on it")
    r.add_argument("--out", "-o", required=True, help="output prefix: PREFIX.tsv or PREFIX.h5 (+ PREFIX.FEATURE.bw)")
    r.add_argument("--format", choices=["tsv", "hdf5"], default="tsv")
    r.add_argument("--bigwig", help="comma-separated features to write as bigWig tracks, or 'all'")
    add_run_options(r, "predict")
    r.set_defaults(func=_predict)

    s = sub.add_parser("ism", help="in-silico saturation mutagenesis of a region or FASTA sequences",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--checkpoint", "-m", required=True)
    s.add_argument("--region", help="chrom:start-end (1-based, inclusive), at most the model's length")
    s.add_argument("--reference", "-r", help="reference FASTA for --region")
    s.add_argument("--fasta", help="FASTA of sequences of exactly the model's length")
    s.add_argument("--out", "-o", required=True, help="output HDF5")
    s.add_argument("--feature", help="feature to plot (default: the first)")
    s.add_argument("--plot-dir", help="folder for heatmap and logo PNGs")
    s.add_argument("--logo-width", type=int, default=100,
                   help="bp the logo shows: the strongest stretch of a longer sequence; 0 shows all of it")
    add_run_options(s, "ism")
    s.set_defaults(func=_ism)

    i = sub.add_parser("info", help="summary of a dataset (dnaseq HDF5 or DeepSEA bundle)")
    i.add_argument("data")
    i.set_defaults(func=_info)

    for group in (variants, interpret, design, weights, tune):  # each adds its subcommands
        group.register(sub)
    for command in sub.choices.values():  # each option says its default once (see HelpFormatter)
        command.formatter_class = HelpFormatter
        for action in command._actions:
            if action.help is None and not any(action.default is x for x in (None, False, argparse.SUPPRESS)):
                action.help = "(default: %(default)s)"  # argparse prints nothing for options without help
    return p



def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":  # Lightning's own CLI parses everything after `train`
        from ..training.train import main as train_main
        return train_main(argv[1:])
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"dnaseq {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dnaseq {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
