"""``dnaseq lm-baseline``: argument parsing only; the work is :func:`dnaseq.models.ngram.lm_baseline`."""
from __future__ import annotations

import argparse
import sys

from .common import progress_wanted, split_list

MAX_ORDER = 12  # dnaseq.models.ngram.MAX_ORDER (not imported: the parser answers before numpy work)


def _order(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not 0 <= value <= MAX_ORDER:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_ORDER}, not {value}")
    return value


def _lm_baseline(args) -> int:
    if args.reference and not (args.train_chromosomes and args.test_chromosomes):
        raise ValueError("--reference needs --train-chromosomes and --test-chromosomes")
    if args.data and (args.train_chromosomes or args.test_chromosomes or args.regions):
        raise ValueError("--train-chromosomes, --test-chromosomes and --regions go with --reference, "
                         "not --data (a dataset's splits are its own)")
    # imported after the checks: dnaseq.models (above ngram.py) loads torch
    from ..apply.lm_baseline import lm_baseline

    progress = progress_wanted(args.quiet)
    echo = None if progress or args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    summary = lm_baseline(args.out, reference=args.reference, train_chromosomes=split_list(args.train_chromosomes),
                          test_chromosomes=split_list(args.test_chromosomes), regions=args.regions,
                          data=args.data, held_out_split=args.held_out_split, max_k=args.max_k,
                          smoothing=args.smoothing, progress=progress, echo=echo)
    table = summary["table_frame"]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    s = summary["seconds"]
    print(f"best k = {summary['best_k']}: {summary['best_bits_per_base']:.4f} bits per base held-out "
          f"(perplexity {summary['best_perplexity']:.4f}; {summary['settings']['smoothing_rule']})")
    print(f"{summary['counts']['train_bases']:,} training bases, {summary['counts']['held_out_bases']:,} held-out; "
          f"{s['total']:.1f} s (read {s['read']:.1f}, count {s['count']:.1f}, "
          f"score {s['score_held_out'] + s['score_train']:.1f})")
    files = summary["files"]
    print(f"wrote {files['table']}, {files['figure']}, {files['summary']}, {files['model']}")
    return 0


def register(sub) -> None:
    """Add the ``lm-baseline`` subcommand to the argparse subparsers ``sub``."""
    p = sub.add_parser("lm-baseline", help="k-th order Markov (n-gram) baselines for DNA language models: "
                                           "held-out bits per base for k = 0..12",
                       description="Fit k-th order Markov models (k = 0..--max-k, one counting pass) on "
                                   "training sequences and report held-out bits per base for each k: the "
                                   "bar a neural DNA language model must clear. N breaks a sequence: no "
                                   "k-mer spans it, a base after it is predicted from the shorter context "
                                   "since the break, and N is never scored. See docs/lm.md.")
    src = p.add_argument_group("sequences (a reference FASTA with chromosome lists, or a dataset)")
    one = src.add_mutually_exclusive_group(required=True)
    one.add_argument("--reference", "-r", help="reference FASTA (.fa, .fa.gz bgzipped)")
    one.add_argument("--data", "-d", help="dnaseq dataset HDF5 (or DeepSEA .mat): split 'train' against "
                                          "--held-out-split, overlapping windows stitched back into stretches")
    src.add_argument("--train-chromosomes", help="with --reference: training chromosomes, comma-separated")
    src.add_argument("--test-chromosomes", help="with --reference: held-out chromosomes, comma-separated")
    src.add_argument("--regions", help="with --reference: only these BED intervals of those chromosomes")
    src.add_argument("--held-out-split", choices=("test", "valid"), default="test",
                     help="with --data: the split scored")
    p.add_argument("--max-k", type=_order, default=MAX_ORDER, help="highest order (context length), 0 to 12")
    p.add_argument("--smoothing", choices=("kn", "wb"), default="kn",
                   help="kn: interpolated modified Kneser-Ney (three discounts per order); wb: interpolated "
                        "Witten-Bell")
    p.add_argument("--out", "-o", required=True,
                   help="output prefix: PREFIX.tsv, PREFIX.png, PREFIX.json, PREFIX.best.npz")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress (bars on a terminal, one line per "
                                                              "order otherwise)")
    p.set_defaults(func=_lm_baseline)
