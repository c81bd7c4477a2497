#!/usr/bin/env python
"""Rebuild everything in data/ from the real files in ../shared/data (run from the repo root).

    python scripts/make_shipped_data.py [--shared ../shared/data]

Makes:
  data/dm3_insulators.h5   DeepSEA-style dataset: real dm3 sequence x 8 Bushey 2009 ChIP tracks
                           (train: chr2R chr3L chr3R, valid: chrX, test: chr2L)
  data/dm3_slice/          a small real slice (chr2L:1-400,000, BGZF FASTA) with the 8 peak
                           files cut to it and a manifest, for tests and the README example
  data/dm3_lm/             the first 1 Mbp of chr2L, chr2R, chr3L, chr3R and chrX (BGZF FASTA): a
                           reference to train and hold out DNA language models on, by chromosome
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dnaseq.data.build import Feature, build_dataset  # noqa: E402
from dnaseq.data.dataset import format_summary  # noqa: E402
from dnaseq.sequence.genome import Genome, write_fasta  # noqa: E402

PROTEINS = ["BEAF", "CTCF", "Cp190", "SuHw"]
CELLS = ["Kc", "Mbn2"]
SLICE_CHROM, SLICE_END = "chr2L", 400_000
LM_CHROMS, LM_END = ["chr2L", "chr2R", "chr3L", "chr3R", "chrX"], 1_000_000


def features(dm3: str):
    return [Feature(f"{p}_{c}", "TF", os.path.join(dm3, f"{p}_{c}_Bushey_2009.bed"))
            for c in CELLS for p in PROTEINS]


def make_slice(dm3: str, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with Genome(os.path.join(dm3, "dm3_partial.fa.gz")) as g:
        seq = g.fetch_text(SLICE_CHROM, 0, SLICE_END)
    write_fasta(os.path.join(out_dir, "dm3_chr2L_400k.fa.gz"), {SLICE_CHROM: seq})
    with open(os.path.join(out_dir, "manifest.tsv"), "w") as man:
        man.write("name\tgroup\tpath\n")
        for f in features(dm3):
            name = os.path.basename(f.path)
            with open(f.path) as src, open(os.path.join(out_dir, name), "w") as dst:
                for line in src:
                    parts = line.split("\t")
                    if line.startswith("track"):
                        dst.write(line)
                    elif parts[0] == SLICE_CHROM and int(parts[2]) <= SLICE_END:
                        dst.write(line)
            man.write(f"{f.name}\t{f.group}\t{name}\n")


def make_lm_slice(dm3: str, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with Genome(os.path.join(dm3, "dm3_partial.fa.gz")) as g:
        records = {c: g.fetch_text(c, 0, LM_END) for c in LM_CHROMS}
    write_fasta(os.path.join(out_dir, "dm3_lm.fa.gz"), records)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--out", default="data")
    args = ap.parse_args()
    dm3 = os.path.join(args.shared, "dm3")
    os.makedirs(args.out, exist_ok=True)
    report = build_dataset(
        os.path.join(dm3, "dm3_partial.fa.gz"), features(dm3), os.path.join(args.out, "dm3_insulators.h5"),
        chroms=["chr2L", "chr2R", "chr3L", "chr3R", "chrX"], valid_chroms=["chrX"], test_chroms=["chr2L"],
        max_n_fraction=0.0, command="python scripts/make_shipped_data.py")
    print(format_summary(report.as_dict()))
    make_slice(dm3, os.path.join(args.out, "dm3_slice"))
    make_lm_slice(dm3, os.path.join(args.out, "dm3_lm"))
    print(f"wrote {args.out}/dm3_insulators.h5, {args.out}/dm3_slice/ and {args.out}/dm3_lm/")


if __name__ == "__main__":
    main()
