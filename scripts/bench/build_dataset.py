#!/usr/bin/env python
"""`dnaseq build-dataset` over the real 70 Mbp hg19 chrX: wall time and peak RSS.
Target (issue 2): peak RSS under 2 GB.

    python scripts/bench/build_dataset.py [--shared ../shared/data] [--features 20]

Peaks: the ENCODE hg19 blacklist (real) plus N synthetic features of 3,000 random 300-bp
peaks each (seeded), so labelling work resembles a real multi-feature build.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--features", type=int, default=20)
    args = ap.parse_args()
    fasta = os.path.join(args.shared, "hg19_chrX", "hg19_chrX_1-69999930.fa.gz")
    blacklist = os.path.join(args.shared, "hg19_chrX", "hg19_blacklist_v2.bed")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = os.path.join(tmp, "manifest.tsv")
        rng = np.random.default_rng(0)
        with open(manifest, "w") as man:
            man.write(f"blacklist\tother\t{os.path.abspath(blacklist)}\n")
            for i in range(args.features):
                path = os.path.join(tmp, f"f{i}.bed")
                starts = np.sort(rng.integers(0, 69_999_000, size=3000))
                with open(path, "w") as fh:
                    fh.writelines(f"chrX\t{s}\t{s + 300}\n" for s in starts)
                man.write(f"f{i}\tTF\t{path}\n")
        out = os.path.join(tmp, "chrX.h5")
        cmd = [sys.executable, "-m", "dnaseq.cli", "build-dataset", "-r", fasta, "--manifest", manifest,
               "-o", out, "--chroms", "chrX", "--test-chroms", "chrX", "-q"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            print(proc.stdout, proc.stderr)
            sys.exit(1)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(proc.stdout.splitlines()[3])
        print(f"hg19 chrX (70.0 Mbp), {args.features + 1} features: wall {wall:.1f} s, "
              f"peak RSS {peak_mb:.0f} MB (target < 2048 MB), output {os.path.getsize(out) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
