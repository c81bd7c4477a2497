"""``dnaseq lm-baseline`` and ``dnaseq generate``: argument parsing only; the work is in
:mod:`dnaseq.apply.lm_baseline` and :mod:`dnaseq.apply.generate`."""
from __future__ import annotations

import argparse
import sys
from typing import List

from ..apply.generation_strategy import Strategy, parse_strategy
from ..outputs import prepare_output_prefix
from .common import (
    UsageError, add_overwrite, non_negative_int, positive_int, progress_wanted, refuse_to_overwrite, split_list)

MAX_ORDER = 12  # dnaseq.models.ngram.MAX_ORDER (not imported: the parser answers before numpy work)


def _order(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not 0 <= value <= MAX_ORDER:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_ORDER}, not {value}")
    return value


def _strategies(text: str) -> List[Strategy]:
    """``--strategies``: comma-separated specs, each parsed here (a bad one is a usage error)."""
    try:
        parsed = [parse_strategy(spec) for spec in split_list(text) or []]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not parsed:
        raise argparse.ArgumentTypeError("no strategy given")
    return list({p.name: p for p in parsed}.values())  # greedy,greedy: one greedy (its records share a name)


def _lm_baseline(args) -> int:
    refuse_to_overwrite(args, *(args.out + s for s in (".tsv", ".json", ".png", ".best.npz")))
    if args.reference and not (args.train_chromosomes and args.test_chromosomes):
        raise UsageError("--reference needs --train-chromosomes and --test-chromosomes")
    if args.data and (args.train_chromosomes or args.test_chromosomes or args.regions):
        raise UsageError("--train-chromosomes, --test-chromosomes and --regions go with --reference, "
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


def _generate(args) -> int:
    if (args.baseline or args.chroms) and not args.reference:
        raise UsageError(f"{'--baseline' if args.baseline else '--chroms'} goes with the comparison with the genome: "
                         f"give --reference (and --chroms)")
    from ..apply.generate import compare_with_genome, generate, write_generation  # torch: after the checks

    strategies = args.strategies
    refuse_to_overwrite(args, args.out + ".fa", args.out + ".tsv", args.out + ".json")
    prepare_output_prefix(args.out)  # a folder given as the prefix, or an unwritable place, before generating
    results = generate(args.checkpoint, n=args.n, length=args.length, strategies=strategies, prompt=args.prompt or "",
                       seed=args.seed, accelerator=args.accelerator)
    report = None
    if args.reference:
        report = compare_with_genome(results, args.reference, split_list(args.chroms), args.baseline, seed=args.seed)
        print(report.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    else:
        for r in results:
            print(f"{r.strategy.name}: {len(r.sequences)} sequence(s), {r.bits_per_base.mean():.4f} bits per base "
                  f"under the model")
    print(f"wrote {', '.join(write_generation(results, report, args.out))}")
    return 0


def register(sub) -> None:
    """Add the ``lm-baseline`` and ``generate`` subcommands to the argparse subparsers ``sub``."""
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
    add_overwrite(p)
    p.set_defaults(func=_lm_baseline)

    g = sub.add_parser("generate", help="sequences from a causal DNA language model (greedy, beam, temperature, "
                                        "top-k), compared with held-out genome",
                       description="Write sequences from a causal DNA language model as FASTA. Strategies: greedy, "
                                   "beam:W, sample:T (temperature T), topk:K[:T]; greedy and beam give one "
                                   "sequence per prompt (beam: its best min(n, W)). With --reference and --chroms "
                                   "a table compares each strategy with random held-out stretches: 4-mer "
                                   "spectrum distance, GC, n-gram bits per base (--baseline), short tandem "
                                   "repeats. See docs/lm.md.")
    g.add_argument("--checkpoint", "-m", required=True, help="a causal language model (arch lm)")
    g.add_argument("-n", type=positive_int, default=10, help="sequences per sampling strategy")
    g.add_argument("--length", "-L", type=positive_int, default=1000, help="bases generated per sequence")
    g.add_argument("--strategies", "-s", type=_strategies, default="sample:1.0",
                   help="comma-separated: greedy, beam:W, sample:T, topk:K[:T]")
    g.add_argument("--prompt", help="bases read before generating (default: none, the model's start)")
    g.add_argument("--seed", type=non_negative_int, default=0)
    g.add_argument("--reference", "-r", help="reference FASTA for the comparison with held-out genome")
    g.add_argument("--chroms", help="held-out chromosomes to compare with, comma-separated")
    g.add_argument("--baseline", help="n-gram model (dnaseq lm-baseline PREFIX.best.npz): bits per base of each set")
    g.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    g.add_argument("--out", "-o", required=True, help="output prefix: PREFIX.fa (and PREFIX.tsv, PREFIX.json)")
    add_overwrite(g)
    g.set_defaults(func=_generate)
