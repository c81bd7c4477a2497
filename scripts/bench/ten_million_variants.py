#!/usr/bin/env python
"""score-variants at genome scale (issue 31, item 5): millions of SNVs drawn over the synthetic
genome, RSS growth, variants/s, a SIGKILL and ``--resume`` checked exact.

    python scripts/bench/make_genome_scale.py --out /tmp/genome_scale     # once
    python scripts/bench/ten_million_variants.py --n 10000000 --arch small --kill-after 600
    python scripts/bench/ten_million_variants.py --n 100000 --arch deepsea

The VCF (bgzipped, sorted) holds ``--n`` SNVs drawn uniformly over the 24 chromosomes (seeded;
positions whose base is N are drawn again), REF read from the genome, ALT its transition
(A<->G, C<->T) two times in three and a transversion otherwise. Models (untrained weights: the
time does not depend on them):

* ``small``: the 200 bp conv model of ``scripts/bench/variants.py``'s million-SNV run (16 filters,
  8 features);
* ``quickstart``: the quick-start architecture (configs/quickstart.yaml: conv 64 x 19, BiLSTM 32,
  6-mer wide part, 1000 bp, 8 features);
* ``deepsea``: DeepSEA as published (1000 bp, 919 features).

Each run is a real ``dnaseq score-variants --format tsv --scores diff`` subprocess (TSV: the
format ``--resume`` works with); RSS is read from ``/proc`` every second and growth is the peak
minus the RSS once the table holds 1 MB of rows. With ``--kill-after S`` the run is killed with
SIGKILL after S seconds and the same command is run again with ``--resume``; then a sample of
2,000 rows of the finished table is scored again from scratch and must be equal cell for cell.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from startup import make_checkpoint  # noqa: E402
from variants import save_checkpoint  # noqa: E402

MAIN = "import sys; from dnaseq.cli import main; sys.exit(main())"
TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
TRANSVERSIONS = {"A": "CT", "G": "CT", "C": "AG", "T": "AG"}


def write_vcf(genome_path: str, n: int, path: Path, seed: int = 0) -> None:
    """``n`` SNVs over every chromosome of the genome, sorted, bgzipped (see module docstring)."""
    from Bio import bgzf

    from dnaseq.sequence.genome import Genome
    rng = np.random.default_rng(seed)
    g = Genome(genome_path)
    lengths = np.array([g.lengths[c] for c in g.chromosomes], np.float64)
    per_chrom = rng.multinomial(n, lengths / lengths.sum())
    with bgzf.BgzfWriter(str(path), "wb") as out:
        out.write(b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        k = 0
        for chrom, m in zip(g.chromosomes, per_chrom):
            codes = g.chromosome_codes(chrom)
            pos = np.zeros(0, np.int64)
            while len(pos) < m:  # N positions are drawn again
                more = rng.integers(0, len(codes), size=m - len(pos))
                pos = np.concatenate([pos, more[codes[more] < 4]])
            pos.sort()
            ref = np.array(list("ACGT"))[codes[pos]]
            ti = rng.random(m) < 2 / 3
            pick = rng.integers(0, 2, size=m)
            alt = np.array([TRANSITION[r] if t else TRANSVERSIONS[r][p] for r, t, p in zip(ref, ti, pick)])
            ids = np.char.add("v", np.arange(k, k + m).astype(str))
            lines = np.char.add(np.char.add(np.char.add(f"{chrom}\t", (pos + 1).astype(str)), "\t"), ids)
            lines = np.char.add(np.char.add(np.char.add(np.char.add(lines, "\t"), ref), "\t"), alt)
            out.write(("\t.\tPASS\t.\n".join(lines.tolist()) + "\t.\tPASS\t.\n").encode())
            k += m
    g.close()


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` in MB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def score(ckpt: Path, vcf: Path, genome: str, out: Path, extra=(), kill_after: float = 0):
    """One ``dnaseq score-variants`` run: (wall s, RSS once rows reach the table, peak RSS, rc)."""
    cmd = [sys.executable, "-c", MAIN, "score-variants", "-m", str(ckpt), "--vcf", str(vcf), "-r", genome,
           "-o", str(out), "--format", "tsv", "--scores", "diff", *extra]
    partial = Path(f"{out}.tsv.partial")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, base = [], []
    while proc.poll() is None:
        samples.append(rss_mb(proc.pid))
        if not base and partial.exists() and partial.stat().st_size > 1 << 20:
            base.append(samples[-1])
        if kill_after and time.perf_counter() - t0 > kill_after:
            proc.send_signal(signal.SIGKILL)
        time.sleep(1)
    err = proc.stderr.read()
    if proc.returncode not in (0, -signal.SIGKILL):
        print(err[-3000:], file=sys.stderr)
    return time.perf_counter() - t0, (base or [0.0])[0], max(samples or [0.0]), proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genome", default="/tmp/genome_scale/genome.fa.gz")
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--arch", choices=["small", "quickstart", "deepsea"], default="small")
    ap.add_argument("--kill-after", type=float, default=0, help="seconds after which to SIGKILL and --resume")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tenm-"))
    work.mkdir(parents=True, exist_ok=True)
    vcf = work / f"snv{args.n}.vcf.gz"
    if not vcf.exists():
        t = time.perf_counter()
        write_vcf(args.genome, args.n, vcf)
        print(f"VCF: {args.n:,} SNVs in {time.perf_counter() - t:.0f} s, {vcf.stat().st_size / 1e6:.0f} MB",
              file=sys.stderr)
    ckpt = work / f"{args.arch}.ckpt"
    if not ckpt.exists():
        if args.arch == "quickstart":
            make_checkpoint(ckpt)
        elif args.arch == "small":
            save_checkpoint("conv_recurrent", str(ckpt), n_features=8, seq_len=200, conv_filters=[16],
                            conv_widths=9, pool_sizes=10, rnn_type="none", readout="max", head_hidden=[16])
        else:
            save_checkpoint("deepsea", str(ckpt))
    out = work / f"{args.arch}{args.n}"
    for old in [*work.glob(f"{out.name}.*"), *work.glob("sample.*")]:  # a rerun starts afresh
        old.unlink()
    rows = []
    wall, base, peak, rc = score(ckpt, vcf, args.genome, out, kill_after=args.kill_after)
    if args.kill_after:
        assert rc == -signal.SIGKILL, f"the run ended ({rc}) before {args.kill_after} s"
        done = sum(1 for _ in open(f"{out}.tsv.partial", "rb")) - 1
        wall2, _, peak2, rc = score(ckpt, vcf, args.genome, out, extra=["--resume"])
        rows.append((f"killed (SIGKILL) after {args.kill_after:.0f} s ({done:,} rows), then --resume",
                     f"{wall:.0f} s + {wall2:.0f} s; peak RSS of the resumed run {peak2:.0f} MB"))
        wall, peak = wall + wall2, max(peak, peak2)
    assert rc == 0, f"score-variants exited {rc}"
    table = pd.read_csv(f"{out}.tsv", sep="\t", dtype={"chrom": str})
    rows[:0] = [(f"{args.arch} model, {args.n:,} SNVs, rows written", f"{len(table):,}"),
                ("wall time, variants/s", f"{wall:.0f} s, {args.n / wall:,.0f} variants/s"),
                ("RSS at the first progress line / peak / growth", f"{base:.0f} / {peak:.0f} / {peak - base:.0f} MB")]
    if args.kill_after:
        sample = table.sample(n=min(2000, len(table)), random_state=0).sort_index()
        small = work / "sample.vcf"
        with open(small, "w") as fh:
            fh.write("#CHROM\tPOS\tID\tREF\tALT\n")
            for r in sample.itertuples():
                fh.write(f"{r.chrom}\t{r.pos}\t{r.id}\t{r.ref}\t{r.alt}\n")
        w3, _, _, rc = score(ckpt, small, args.genome, work / "sample", extra=["-q"])
        again = pd.read_csv(work / "sample.tsv", sep="\t", dtype={"chrom": str})
        cols = [c for c in table.columns if c.startswith("diff:")]
        same = len(again) == len(sample) and np.array_equal(again[cols].to_numpy(), sample[cols].to_numpy()) \
            and (again["id"].to_numpy() == sample["id"].to_numpy()).all()
        rows.append(("2,000 rows of the resumed table scored again from scratch", f"equal: {same}"))
    print(f"\n| score-variants at genome scale ({os.cpu_count()} cores) | measured |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
