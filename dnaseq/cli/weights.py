"""``dnaseq import-weights``: argument parsing only (the work is :mod:`dnaseq.training.import_weights`)."""
from __future__ import annotations

import argparse

from ..settings import DEFAULT_FILL, STRANDS
from ..training.weight_formats import BY_NAME, PUBLISHED_MD5
from .common import add_overwrite, fraction, positive_int, refuse_to_overwrite


def _import_weights(args) -> int:
    from ..training.import_weights import import_weights

    refuse_to_overwrite(args, args.out)

    r = import_weights(args.weights, args.out, model=args.model, features=args.features, seq_len=args.seq_len,
                       strand=args.strand, fill=args.fill, base_order=args.base_order, overwrite=args.overwrite)
    wrap = f", wrapper prefix {r.prefix!r}" if r.prefix else ""
    print(f"recognised {r.source}: {r.title} [{r.format}{wrap}]; {r.n_features} features ({r.features_from}), "
          f"{r.seq_len} bp windows, peer base order {','.join(r.peer_base_order)} -> A,C,G,T")
    known = PUBLISHED_MD5.get(r.md5)
    print(f"md5 {r.md5}" + (f": {known} as published" if known else ""))
    for note in r.notes:
        print(f"note: {note}")
    arch = r.arch + (f" {r.arch_args}" if r.arch_args else "")
    print(f"wrote {r.out} (arch {arch}, {r.n_parameters:,} parameters; strand {r.strand}; N fill {r.fill:g}); "
          f"use it with -m {r.out} in predict, score-variants, ism, evaluate")
    return 0


def register(sub) -> None:
    """Add ``import-weights`` to the ``dnaseq`` subcommands ``sub``."""


    p = sub.add_parser(
        "import-weights", help="convert published DeepSEA / DanQ / Beluga PyTorch weights (Selene, Kipoi) into a dnaseq checkpoint",
        description="Recognise a published DeepSEA, DanQ or Beluga state dict (Selene's or Kipoi's parameter "
                    "names and base order) and write a self-contained dnaseq checkpoint with the published "
                    "feature names. Nothing is downloaded.")
    p.add_argument("weights", help="the .pth / .pth.tar file (a state dict, or a dict holding one as 'state_dict')")
    p.add_argument("--out", "-o", required=True, help="checkpoint to write, e.g. deepsea.ckpt")
    p.add_argument("--model", default="auto", choices=["auto", *BY_NAME],
                   help="layout of the weights (default auto: recognised by parameter names and shapes)")
    p.add_argument("--features", help="feature names, one per line (optionally name<TAB>group); default: the "
                                      "published 919 DeepSEA/DanQ or 2002 Beluga names")
    p.add_argument("--seq-len", type=positive_int, help="window length in bp when the weights fit several "
                                               "(default: the published 1000 / 2000)")
    p.add_argument("--strand", choices=[*STRANDS, "auto"], default="as-trained",
                   help="strand mode saved in the checkpoint (as-trained: as the peer's distributed model runs; "
                        "auto is its 0.1 spelling)")
    p.add_argument("--fill", type=fraction, default=DEFAULT_FILL,
                   help="one-hot value of N in every channel (default 0.25, as Selene and Kipoi feed it; "
                        "the original DeepSEA / ExPecto scripts used 0)")
    p.add_argument("--base-order", help="input channel order of the weights, e.g. AGCT (default: the layout's)")
    p.add_argument("--force", action="store_true", dest="overwrite", help=argparse.SUPPRESS)  # 0.1 spelling
    add_overwrite(p)
    p.set_defaults(func=_import_weights)
