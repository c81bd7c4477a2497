"""``dnaseq motifs`` and ``dnaseq attribute``: argument parsing only (see :mod:`dnaseq.interpret`)."""
from __future__ import annotations

import argparse
import os

from ..interpret.methods import METHODS
from ..outputs import ensure_writable_dir
from ..settings import MAX_IG_STEPS
from .common import (
    add_overwrite, add_run_options, non_negative_int, number_between, positive_int, refuse_to_overwrite, run_options,
    whole_number_between)


def register(sub) -> None:
    """Add the ``motifs`` and ``attribute`` subcommands to the subparsers ``sub``."""
    m = sub.add_parser("motifs", help="first-layer filters as motifs, matched to a motif database "
                                      "(TOMTOM), with each filter's influence per feature",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m.add_argument("--checkpoint", "-m", required=True)
    m.add_argument("--data", "-d", required=True, help="dnaseq HDF5 dataset or DeepSEA bundle")
    m.add_argument("--split", default="test")
    m.add_argument("--motif-db", help="motif database, MEME or JASPAR format (e.g. JASPAR2024_CORE.meme); "
                                      "without it filters are not matched")
    m.add_argument("--out", "-o", required=True, help="output folder")
    m.add_argument("--threshold", type=float, default=0.5,
                   help="a site is where a filter's activation exceeds this fraction of its maximum (DanQ: 0.5)")
    m.add_argument("--max-windows", type=positive_int, help="use a seeded random subset of the split's windows")
    m.add_argument("--influence-windows", type=non_negative_int, default=1000,
                   help="windows used for filter influence (0: skip it)")
    m.add_argument("--trim-ic", type=number_between(0, 2), default=0.3,
                   help="leave filter flanks under this many bits out of the TOMTOM comparison")
    m.add_argument("--q-threshold", type=number_between(0, 1, low_open=True), default=0.05, help="q-value for a match to count")
    m.add_argument("--no-logos", action="store_true", help="skip the logo PNGs")
    m.add_argument("--show-motif", action="append", metavar="ID",
                   help="also print the best filter (and pattern) for this database motif, matched or not "
                        "(e.g. MA0529; repeatable)")
    m.add_argument("--from-attributions", metavar="FEATURE", action="append",
                   help="also run TF-MoDISco on the attributions of FEATURE's positive windows (repeatable, "
                        "or comma-separated: the patterns of each feature, matched together)")
    m.add_argument("--modisco-windows", type=positive_int, default=1000, help="positive windows for TF-MoDISco")
    m.add_argument("--modisco-method", choices=("saliency", "ism"), default="saliency",
                   help="hypothetical contributions for TF-MoDISco")
    m.add_argument("--seed", type=int, default=0)
    add_run_options(m, "motifs")
    add_overwrite(m)
    m.set_defaults(func=_motifs)


    a = sub.add_parser("attribute", help="per-base attributions of one feature for regions or FASTA sequences "
                                         "(HDF5 + logo tracks)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("--checkpoint", "-m", required=True)
    a.add_argument("--region", action="append", help="chrom:start-end (1-based, inclusive), at most the model's "
                                                     "length; repeat for several regions of one length")
    a.add_argument("--reference", "-r", help="reference FASTA for --region")
    a.add_argument("--fasta", help="FASTA of sequences of exactly the model's length")
    a.add_argument("--method", choices=METHODS, default="input-x-gradient")
    a.add_argument("--feature", help="feature to explain (default: the first)")
    a.add_argument("--output", choices=("probability", "logit"), default="probability",
                   help="what is explained: the feature's probability, or (gradient methods) its logit")
    a.add_argument("--out", "-o", required=True, help="output HDF5")
    a.add_argument("--plot-dir", help="folder for one logo track PNG per sequence")
    a.add_argument("--steps", type=whole_number_between(1, MAX_IG_STEPS), default=50,
                   help=f"integrated-gradients steps (at most {MAX_IG_STEPS:,})")
    a.add_argument("--shuffles", type=positive_int, default=20, help="deeplift-shap: dinucleotide-shuffled references")
    a.add_argument("--seed", type=int, default=0)
    add_run_options(a, "attribute")
    add_overwrite(a)
    a.set_defaults(func=_attribute)


def _motifs(args) -> int:
    from ..interpret.motifs import filter_motifs, write_motif_report

    refuse_to_overwrite(args, os.path.join(args.out, "filter_motifs.tsv"))
    _check_show_motif(args)
    ensure_writable_dir(args.out)
    result = filter_motifs(args.checkpoint, args.data, split=args.split, motif_db=args.motif_db,
                           threshold=args.threshold, strand=args.strand, max_windows=args.max_windows,
                           influence_windows=args.influence_windows, trim_ic=args.trim_ic, seed=args.seed,
                           run=run_options(args))
    if args.from_attributions:
        result.patterns = _patterns(args)
    paths = write_motif_report(result, args.out, logos=not args.no_logos, q_threshold=args.q_threshold)
    meta, pfms = result.meta, result.pfms
    print(f"{pfms.n_filters} filters of width {meta['filter_width']} over {meta['windows']:,} windows "
          f"({args.split}, strand {meta['strand']}); {int((pfms.sites > 0).sum())} with sites")
    if result.matches is not None:
        hits = result.significant(args.q_threshold)
        print(f"{len(hits)} filters match a motif of {meta['database_motifs']:,} at q < {args.q_threshold}:")
        if len(hits):
            print(_format(hits))
    if result.patterns is not None:
        print(f"TF-MoDISco patterns for {result.patterns.feature}:")
        print(_format(result.patterns.table(), key="pattern"))
    for prefix in args.show_motif or []:
        _show_motif(result, prefix)
    folders = sorted({p.split("/logos/")[0] + "/logos/" for p in paths if "/logos/" in p})
    shown = [p for p in paths if "/logos/" not in p] + folders
    print("wrote " + ", ".join(shown))
    return 0


def _check_show_motif(args) -> None:
    """A --show-motif prefix that names no motif of the database stops before any work and
    before any output is written (the database is read here once more: it is small)."""
    if not args.show_motif:
        return
    if not args.motif_db:
        raise ValueError("--show-motif needs --motif-db (the database the motif id is in)")
    from ..sequence.motifs import read_motifs
    motifs = read_motifs(args.motif_db)
    for prefix in args.show_motif:
        if not any(m.id.startswith(prefix) for m in motifs):
            near = sorted(m.id for m in motifs if m.id[:4].lower() == prefix[:4].lower())[:5]
            raise ValueError(f"--show-motif {prefix}: no motif id in {args.motif_db} starts with it"
                             + (f" (ids there begin like {', '.join(near)})" if near else ""))


def _show_motif(result, prefix: str) -> None:
    """The best filter (and modisco pattern) for one database motif, whether or not it passes."""
    sources = [("filter", result.matches)]
    if result.patterns is not None and result.patterns.matches is not None:
        sources.append(("pattern", result.patterns.matches))
    for kind, matches in sources:
        if matches is None:
            continue
        rows = matches.for_target(prefix)
        if not len(rows):
            print(f"{prefix}: no {kind} to compare")
            continue
        r = rows.iloc[0]
        print(f"{r.match_id} {r.match_name}: best {kind} {r.query} p={r.p_value:.3g} q={r.q_value:.3g} "
              f"offset {r.offset} orientation {r.orientation}")


def _patterns(args):
    import numpy as np

    from ..interpret.modisco import discover_patterns, merge_patterns
    from ..interpret.motifs import load_windows
    from ..sequence.motifs import read_motifs
    from ..training.checkpoint import as_model

    model, _ = as_model(args.checkpoint)
    codes, labels, features = load_windows(args.data, args.split)
    wanted = [f.strip() for arg in args.from_attributions for f in arg.split(",") if f.strip()]
    missing = [f for f in wanted if f not in features]
    if missing:
        raise ValueError(f"--from-attributions {', '.join(map(repr, missing))}: not a feature of {args.data}; "
                         f"it has {features}")
    db = read_motifs(args.motif_db) if args.motif_db else None
    found = []
    run = run_options(args)
    wanted = list(dict.fromkeys(wanted))
    for i, feature in enumerate(wanted):
        pos = np.nonzero(labels[:, features.index(feature)])[0]
        if len(pos) > args.modisco_windows:
            pos = np.sort(np.random.default_rng(args.seed).choice(pos, args.modisco_windows, replace=False))
        run.say(f"TF-MoDISco patterns of {feature} ({i + 1} of {len(wanted)}): {args.modisco_method} "
                f"attributions of {len(pos):,} positive windows")
        found.append(discover_patterns(model, codes[pos], feature, motif_db=None, method=args.modisco_method,
                                       strand=args.strand, run=run))
    return merge_patterns(found, db, trim_ic=args.trim_ic)


def _format(table, key: str = "filter") -> str:
    cols = [c for c in (key, "feature", "sites", "seqlets", "information_content", "consensus", "match_id", "match_name",
                        "p_value", "q_value", "offset", "orientation", "top_feature") if c in table.columns]
    return table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}")


def _attribute(args) -> int:
    from ..interpret.attribute_run import run_attribute

    refuse_to_overwrite(args, args.out)
    if args.plot_dir:
        ensure_writable_dir(args.plot_dir, "--plot-dir")
    result = run_attribute(args.checkpoint, args.out, reference=args.reference, regions=args.region,
                           fasta=args.fasta, feature=args.feature, method=args.method, plot_dir=args.plot_dir,
                           strand=args.strand, steps=args.steps, shuffles=args.shuffles, seed=args.seed,
                           output=args.output, run=run_options(args))
    if result is None:
        return 0
    contrib = result.contributions
    print(f"{result.method} attributions of {result.feature} (strand {result.strand}) for {len(result.names)} "
          f"sequence(s) x {len(result.positions)} positions")
    print(f"{'sequence':<28} {'probability':>11} {'sum':>10} {'max |a|':>10}")
    for n, name in enumerate(result.names):
        print(f"{name[:28]:<28} {result.probability[n]:>11.4f} {contrib[n].sum():>10.4g} "
              f"{abs(contrib[n]).max():>10.4g}")
    print("wrote " + args.out + (f", {args.plot_dir}/" if args.plot_dir else ""))
    return 0
