#!/usr/bin/env python
"""Copy the real VCF test files from ../shared/data/vcf into tests/data (run from the repo root).

    python scripts/make_test_data.py [--shared ../shared/data]

- giab_tiny/: q.fa (12,356 bp of human chr22 as contig `q`) + GIAB NA12878 VCF, 14 variants (freebayes test data, MIT)
- saureus/: S. aureus NCTC8325 genome (BGZF-compressed here) + 109 RN4220 variants (C-Sibelia examples)
- hg19_chr22/: two real hg19 chr22 VCFs (10,376 and 1,356 records) with no matching FASTA
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join("..", "shared", "data"))
    args = ap.parse_args()
    src, dst = os.path.join(args.shared, "vcf"), os.path.join("tests", "data")
    for sub in ("giab_tiny", "saureus", "hg19_chr22"):
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
    shutil.copy(os.path.join(src, "giab_tiny", "q.fa"), os.path.join(dst, "giab_tiny", "q.fa"))
    shutil.copy(os.path.join(src, "giab_tiny", "NA12878.chr22.tiny.giab.vcf"), os.path.join(dst, "giab_tiny"))
    shutil.copy(os.path.join(src, "saureus", "Saureus_RN4220_vs_NCTC8325_C-Sibelia_variant.vcf.gz"),
                os.path.join(dst, "saureus"))
    from Bio import bgzf
    with open(os.path.join(src, "saureus", "Saureus_NCTC8325_NC_007795.fa"), "rb") as fin, \
            bgzf.BgzfWriter(os.path.join(dst, "saureus", "Saureus_NCTC8325_NC_007795.fa.gz"), "wb") as fout:
        fout.write(fin.read())
    for name in ("chr22.vcf.gz", "beagle_1kg_chr22_test.vcf.gz"):
        shutil.copy(os.path.join(src, "human_hg19_no_reference", name), os.path.join(dst, "hg19_chr22", name))
    shutil.copy(os.path.join(src, "pyvcf_samtools.vcf"), os.path.join(dst, "pyvcf_samtools.vcf"))
    print(f"wrote {dst}/")


if __name__ == "__main__":
    main()
