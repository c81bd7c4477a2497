#!/usr/bin/env python
"""Whole-chromosome prediction at genome scale (issue 31, item 4): seconds per Mbp, RSS as the
chromosome streams, bigWig equal to the HDF5, a kill -9 and ``--resume``, and DDP on 2 processes.

    python scripts/bench/make_genome_scale.py --out /tmp/genome_scale     # once
    python scripts/bench/whole_genome_predict.py --genome /tmp/genome_scale/genome.fa.gz \\
        --chrom chrX --ddp-chrom chr21

Each step is a real ``dnaseq predict`` subprocess (``--stride 200 --format hdf5 --bigwig
feature_0``, the quick-start architecture with untrained weights: the time does not depend on
them). RSS is read from ``/proc`` every second; the progress lines that ``predict`` prints off a
terminal (one per tenth of the blocks) say when 10% of the chromosome is done.

1. ``--chrom`` end to end: wall time, s/Mbp, RSS at 10% and at the end, and the bigWig read back
   with pyBigWig against the HDF5 at every bin.
2. The same, killed with SIGKILL once 40% is done, then the same command with ``--resume``: the
   resumed HDF5 must equal step 1's at every bin.
3. ``--ddp-chrom`` with ``--devices 2 --strategy ddp`` (gloo, CPU) against one process: equal.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import make_checkpoint  # noqa: E402  (the quick-start architecture, as startup.py times)

MAIN = "import sys; from dnaseq.cli import main; sys.exit(main())"


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def predict(args, chrom: str, out: Path, extra=(), kill_at: int = 0):
    """Run one ``dnaseq predict``; (wall s, rss at 10% MB, rss at end MB, peak MB, return code)."""
    cmd = [sys.executable, "-c", MAIN, "predict", "-m", str(args.ckpt), "-r", args.genome, "--chroms", chrom,
           "--stride", "200", "--format", "hdf5", "--bigwig", "feature_0", "-o", str(out), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, marks = [], {}

    def sample():
        while proc.poll() is None:
            samples.append(_rss_mb(proc.pid))
            time.sleep(1)
    threading.Thread(target=sample, daemon=True).start()
    for line in proc.stderr:
        m = re.search(r"\((\d+)%\)", line)
        if m:
            pct = int(m.group(1))
            marks.setdefault(pct, samples[-1] if samples else 0.0)
            if kill_at and pct >= kill_at:
                proc.send_signal(signal.SIGKILL)
        elif line.strip():
            print("   ", line.rstrip(), file=sys.stderr)
    proc.wait()
    wall = time.perf_counter() - t0
    last = samples[-1] if samples else 0.0
    return wall, marks.get(10, 0.0), last, max(samples or [0.0]), proc.returncode


def read_h5(path: Path):
    with h5py.File(path) as h5:
        return h5["windows/bin_start"][:], h5["probabilities"][:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genome", default="/tmp/genome_scale/genome.fa.gz")
    ap.add_argument("--chrom", default="chrX")
    ap.add_argument("--ddp-chrom", default="chr21", help="'' to skip the DDP step")
    ap.add_argument("--kill-at", type=int, default=40, help="percent done when step 2 is killed")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    import pyBigWig
    work = args.work or Path(tempfile.mkdtemp(prefix="wgp-"))
    work.mkdir(parents=True, exist_ok=True)
    args.ckpt = work / "q.ckpt"
    if not args.ckpt.exists():
        make_checkpoint(args.ckpt)
    with open(args.genome + ".fai") as fh:
        mbp = {line.split("\t")[0]: int(line.split("\t")[1]) / 1e6 for line in fh}
    rows = []

    wall, rss10, rss_end, peak, rc = predict(args, args.chrom, work / "full")
    assert rc == 0, f"predict exited {rc}"
    starts, probs = read_h5(work / "full.h5")
    with pyBigWig.open(str(work / "full.feature_0.bw")) as bw:
        iv = bw.intervals(args.chrom)
    same_bw = [a for a, _, _ in iv] == starts.tolist() and \
        np.array_equal(np.array([v for _, _, v in iv], np.float32), probs[:, 0])
    rows += [(f"{args.chrom} ({mbp[args.chrom]:.1f} Mbp), {len(starts):,} bins, 1 process", f"{wall:.0f} s "
              f"({wall / mbp[args.chrom]:.2f} s/Mbp; genome {wall / mbp[args.chrom] * sum(mbp.values()) / 3600:.1f} h)"),
             ("RSS at 10% / at the end / peak", f"{rss10:.0f} / {rss_end:.0f} / {peak:.0f} MB"),
             ("bigWig (pyBigWig) equal to the HDF5 at every bin", str(same_bw))]

    w1, _, _, _, rc = predict(args, args.chrom, work / "cut", kill_at=args.kill_at)
    partial = work / "cut.h5.partial"
    w2, _, _, _, rc2 = predict(args, args.chrom, work / "cut", extra=["--resume"])
    assert rc == -signal.SIGKILL and rc2 == 0, (rc, rc2)
    s2, p2 = read_h5(work / "cut.h5")
    rows.append((f"killed (SIGKILL) at {args.kill_at}%, then --resume", f"{w1:.0f} s + {w2:.0f} s; resumed HDF5 equal to "
                 f"the uninterrupted run: {np.array_equal(s2, starts) and np.array_equal(p2, probs)}; "
                 f"partial left: {partial.exists()}"))

    if args.ddp_chrom:
        w_one, *_ = predict(args, args.ddp_chrom, work / "one")
        w_ddp, _, _, peak_ddp, rc = predict(args, args.ddp_chrom, work / "ddp",
                                            extra=["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"])
        assert rc == 0, f"DDP predict exited {rc}"
        a, b = read_h5(work / "one.h5"), read_h5(work / "ddp.h5")
        rows.append((f"{args.ddp_chrom} ({mbp[args.ddp_chrom]:.1f} Mbp): 1 process / DDP 2 processes (gloo)",
                     f"{w_one:.0f} s / {w_ddp:.0f} s; equal: {np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])}"))

    print(f"\n| whole-chromosome predict ({os.cpu_count()} cores) | measured |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
