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
3. ``--ddp-chrom`` with ``--devices 2 --strategy ddp`` (gloo, CPU) against one process: the same
   rows, values equal to float32 rounding; the spill folder's largest size during the run (rank 0
   merges the ranks' segments as they come) and the output's size at half way; then the DDP run
   killed with SIGKILL at ``--kill-at`` percent and continued with ``--resume`` on 2 processes:
   equal to the one-process run.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import make_checkpoint  # noqa: E402  (the quick-start architecture, as startup.py times)
from ten_million_variants import rss_mb  # noqa: E402

# the installed command, not `python -c`: Lightning's DDP starts the other ranks by running the
# same command line again
DNASEQ = shutil.which("dnaseq") or "dnaseq"


def _size_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:  # deleted while we looked
                pass
    return total / 1e6


@dataclass
class Run:
    wall: float  # seconds
    rss10: float  # MB, at 10% done
    rss_end: float
    peak: float
    rc: int
    spill_peak: float = 0.0  # MB, the spill folder at its largest (with ``spill``)
    half_out: float = 0.0  # MB, the outputs at 50% done


def predict(args, chrom: str, out: Path, extra=(), kill_at: int = 0, spill: Path = None) -> Run:
    """Run one ``dnaseq predict`` (``spill``: the spill folder of a DDP run, watched)."""
    cmd = [DNASEQ, "predict", "-m", str(args.ckpt), "-r", args.genome, "--chroms", chrom,
           "--stride", "200", "--format", "hdf5", "--bigwig", "feature_0", "-o", str(out), *extra]
    t0 = time.perf_counter()
    env = {**os.environ, "DNASEQ_SPILL_DIR": str(spill)} if spill else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # a kill takes every rank, as a job's end does
    samples, marks, sizes = [], {}, {"spill": 0.0, "half": 0.0}

    def sample():
        while proc.poll() is None:
            samples.append(rss_mb(proc.pid))
            if spill:
                sizes["spill"] = max(sizes["spill"], _size_mb(spill))
            time.sleep(1)
    threading.Thread(target=sample, daemon=True).start()
    for line in proc.stderr:
        m = re.search(r"\((\d+)%\)", line)
        if m:
            pct = int(m.group(1))
            marks.setdefault(pct, samples[-1] if samples else 0.0)
            if pct >= 50 and not sizes["half"]:
                sizes["half"] = sum(_size_mb(f) if f.is_dir() else f.stat().st_size / 1e6
                                    for f in out.parent.glob(out.name + ".*"))
            if kill_at and pct >= kill_at:
                os.killpg(proc.pid, signal.SIGKILL)
                kill_at = 0
        elif line.strip():
            print("   ", line.rstrip(), file=sys.stderr)
    proc.wait()
    return Run(time.perf_counter() - t0, marks.get(10, 0.0), samples[-1] if samples else 0.0,
               max(samples or [0.0]), proc.returncode, sizes["spill"], sizes["half"])


def kill_and_resume(args, chrom: str, out: Path, extra=(), spill: Path = None):
    """SIGKILL a run at ``args.kill_at`` percent, then run it again with ``--resume``: the two
    wall times."""
    cut = predict(args, chrom, out, extra, kill_at=args.kill_at, spill=spill)
    assert cut.rc == -signal.SIGKILL, f"the run ended ({cut.rc}) before {args.kill_at}%"
    resumed = predict(args, chrom, out, [*extra, "--resume"], spill=spill)
    assert resumed.rc == 0, f"--resume exited {resumed.rc}"
    return cut.wall, resumed.wall


def read_h5(path: Path):
    with h5py.File(path) as h5:
        return h5["windows/bin_start"][:], h5["probabilities"][:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genome", default="/tmp/genome_scale/genome.fa.gz")
    ap.add_argument("--chrom", default="chrX")
    ap.add_argument("--ddp-chrom", default="chr21", help="'' to skip the DDP step")
    ap.add_argument("--kill-at", type=int, default=40, help="percent done when step 2 is killed")
    ap.add_argument("--work", type=Path, default=None, help="reuse a folder: steps left out read its outputs")
    ap.add_argument("--steps", default="full,kill,ddp")
    args = ap.parse_args()
    import pyBigWig
    work = args.work or Path(tempfile.mkdtemp(prefix="wgp-"))
    work.mkdir(parents=True, exist_ok=True)
    args.ckpt = work / "q.ckpt"
    if not args.ckpt.exists():
        make_checkpoint(args.ckpt)
    with open(args.genome + ".fai") as fh:
        mbp = {line.split("\t")[0]: int(line.split("\t")[1]) / 1e6 for line in fh}
    steps = set(args.steps.split(","))
    print(f"| whole-chromosome predict ({os.cpu_count()} cores) | measured |\n|---|---|", flush=True)

    def row(what, figure):
        print(f"| {what} | {figure} |", flush=True)

    if "full" in steps:
        r = predict(args, args.chrom, work / "full")
        assert r.rc == 0, f"predict exited {r.rc}"
        per_mbp = r.wall / mbp[args.chrom]
        row(f"{args.chrom} ({mbp[args.chrom]:.1f} Mbp), 1 process", f"{r.wall:.0f} s ({per_mbp:.2f} s/Mbp; "
            f"the genome: {per_mbp * sum(mbp.values()) / 3600:.1f} h)")
        row("RSS at 10% / at the end / peak", f"{r.rss10:.0f} / {r.rss_end:.0f} / {r.peak:.0f} MB")
    if (work / "full.h5").exists():
        starts, probs = read_h5(work / "full.h5")
        with pyBigWig.open(str(work / "full.feature_0.bw")) as bw:
            iv = bw.intervals(args.chrom)
        same_bw = [a for a, _, _ in iv] == starts.tolist() and \
            np.array_equal(np.array([v for _, _, v in iv], np.float32), probs[:, 0])
        row("bins predicted; bigWig (pyBigWig) equal to the HDF5 at every bin", f"{len(starts):,}; {same_bw}")

    if "kill" in steps:
        w1, w2 = kill_and_resume(args, args.chrom, work / "cut")
        row(f"killed (SIGKILL) at {args.kill_at}%, then --resume", f"{w1:.0f} s + {w2:.0f} s")
    if (work / "cut.h5").exists() and (work / "full.h5").exists():
        s2, p2 = read_h5(work / "cut.h5")
        with pyBigWig.open(str(work / "cut.feature_0.bw")) as bw:
            same_cut_bw = bw.intervals(args.chrom) == iv
        row("resumed HDF5 and bigWig equal to the uninterrupted run's",
            f"{np.array_equal(s2, starts) and np.array_equal(p2, probs)}, {same_cut_bw}")

    if "ddp" in steps:
        w_one = predict(args, args.ddp_chrom, work / "one").wall
        ddp = ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
        spill = work / "spill"
        spill.mkdir(exist_ok=True)
        d = predict(args, args.ddp_chrom, work / "ddp", extra=ddp, spill=spill)
        assert d.rc == 0, f"DDP predict exited {d.rc}"
        a, b = read_h5(work / "one.h5"), read_h5(work / "ddp.h5")
        out_mb = (work / "ddp.h5").stat().st_size / 1e6
        row(f"{args.ddp_chrom} ({mbp[args.ddp_chrom]:.1f} Mbp): 1 process / DDP, 2 processes (gloo)",
            f"{w_one:.0f} s / {d.wall:.0f} s; same rows: {np.array_equal(a[0], b[0])}, largest difference "
            f"{np.abs(a[1] - b[1]).max():.1e} (each rank runs 1 thread: another summation order)")
        row("DDP: spill folder at its largest; output at 50% / at the end",
            f"{d.spill_peak:.1f} MB; {d.half_out:.1f} / {out_mb:.1f} MB")
        w1, w2 = kill_and_resume(args, args.ddp_chrom, work / "ddpcut", ddp, spill)
        c = read_h5(work / "ddpcut.h5")
        row(f"DDP killed (SIGKILL) at {args.kill_at}%, then --resume on 2 processes",
            f"{w1:.0f} s + {w2:.0f} s; same rows as 1 process: {np.array_equal(a[0], c[0])}, largest difference "
            f"{np.abs(a[1] - c[1]).max():.1e}")

if __name__ == "__main__":
    main()
