"""``dnaseq design``: argument parsing only; the work is :func:`dnaseq.design.run_design`."""
from __future__ import annotations

import argparse

from .common import (
    add_overwrite, add_run_options, non_negative_float, non_negative_int, number_between, positive_int,
    refuse_to_overwrite, run_options)


def _pair(text: str):
    """``0.35,0.6`` -> (0.35, 0.6)."""
    parts = [p for p in text.replace(":", ",").split(",") if p.strip()]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (e.g. 0.35,0.6), got {text!r}")
    return float(parts[0]), float(parts[1])


def _strategies(text: str):
    return [s.strip() for s in text.split(",") if s.strip()]


def register(sub) -> None:
    """Add the ``design`` subcommand to the argparse subparsers ``sub``."""

    def handler(args) -> int:
        from ..design import run_design

        refuse_to_overwrite(args, *(args.out + s for s in (".designed.fa", ".trajectory.tsv", ".objective.png")))
        result = run_design(
            args.checkpoint, args.out, args.objective, reference=args.reference, regions=args.regions,
            fasta=args.fasta, random=args.random, protect=args.protect, motifs=args.forbid_motifs,
            motif_pvalue=args.motif_pvalue, max_edits=args.max_edits, protect_core=args.protect_core,
            gc_range=args.gc_range, plot=not args.no_plot, strategies=args.strategies, width=args.beam_width,
            temperature=args.temperature, final_temperature=args.final_temperature, chains=args.chains,
            seed=args.seed, steps=args.steps, space=args.space, strand=args.strand, fast=not args.full_passes,
            run=run_options(args))
        if result is None:  # another rank of a multi-process run: rank 0 reports
            return 0
        _print_summary(result)
        print("wrote " + ", ".join(result.paths))
        return 0

    d = sub.add_parser("design", help="design edits that raise an objective over features (greedy, beam, "
                                      "temperature sampling)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d.add_argument("--checkpoint", "-m", required=True)
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--regions", help="BED of regions (with --reference): the model-length window centred on each")
    src.add_argument("--fasta", help="FASTA of sequences of exactly the model's length")
    src.add_argument("--random", type=positive_int, metavar="N", help="N random sequences of the model's length (--seed)")
    d.add_argument("--reference", "-r", help="reference FASTA for --regions")
    d.add_argument("--objective", required=True,
                   help="features to raise (+) and lower (-), optionally weighted: '+BEAF_Kc -BEAF_Mbn2', "
                        "'+2*CTCF_Kc' (write --objective='-X +Y' when it starts with '-')")
    d.add_argument("--space", choices=["prob", "logit"], default="prob", help="objective on probabilities or logits")
    d.add_argument("--strategies", type=_strategies, default=["greedy", "beam", "sample"],
                   help="comma-separated, from greedy, beam, sample")
    d.add_argument("--max-edits", type=non_negative_int, default=5, help="edit budget: positions that may differ from the start")
    d.add_argument("--steps", type=positive_int, help="search steps (default: --max-edits)")
    d.add_argument("--beam-width", type=positive_int, default=4)
    d.add_argument("--temperature", type=non_negative_float, default=0.1, help="sampling: softmax(gain / T); 0 is greedy")
    d.add_argument("--final-temperature", type=non_negative_float, help="anneal T geometrically to this over the steps")
    d.add_argument("--chains", type=positive_int, default=8, help="independent sampling chains per sequence")
    d.add_argument("--seed", type=int, default=0, help="sampling and --random seed")
    d.add_argument("--protect", help="BED of bases that may not change (genome coordinates for --regions; "
                                     "sequence name and 0-based positions for --fasta / --random)")
    d.add_argument("--protect-core", type=non_negative_int, default=0, metavar="BP", help="keep the central BP bases unchanged")
    d.add_argument("--gc-range", type=_pair, metavar="MIN,MAX", help="keep the GC fraction within this range")
    d.add_argument("--forbid-motifs", metavar="MOTIFS", help="MEME or JASPAR motif file: edits may not create hits (both "
                                                          "strands) the start lacks")
    d.add_argument("--motif-pvalue", type=number_between(0, 1, low_open=True), default=1e-4, help="p-value threshold of a motif hit")
    d.add_argument("--full-passes", action="store_true", help="score edits by full forward passes (slower; "
                                                              "for checking)")
    d.add_argument("--no-plot", action="store_true", help="skip PREFIX.objective.png")
    d.add_argument("--out", "-o", required=True,
                   help="output prefix: PREFIX.designed.fa, PREFIX.trajectory.tsv, PREFIX.objective.png")
    add_run_options(d, "design")
    add_overwrite(d)
    d.set_defaults(func=handler)


def _print_summary(result) -> None:
    """Per strategy: mean objective at the start and of the designs, mean edits, seconds per sequence."""
    t = result.designed
    print(f"objective {result.objective.describe()}, {len(result.starts.names)} sequence(s), strand {result.strand}")
    print(f"{'strategy':<10}{'start':>12}{'designed':>12}{'gain':>12}{'edits':>8}{'s/seq':>8}")
    for name, part in t.groupby("strategy", sort=False):
        print(f"{name:<10}{part.start_objective.mean():>12.4g}{part.objective.mean():>12.4g}"
              f"{part.gain.mean():>12.4g}{part.n_edits.mean():>8.1f}{part.seconds.mean():>8.1f}")
