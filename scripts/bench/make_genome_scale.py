#!/usr/bin/env python
"""A human-sized genome and a DeepSEA-sized feature set, made from shared data, for genome-scale
benchmarks (issue 31, item 1). Made once, reused: a second run with the same settings stops at once.

    python scripts/bench/make_genome_scale.py --out /tmp/genome_scale [--chroms chr21,chr22] [--workers 2]

Writes under ``--out``:

* ``genome.fa.gz`` (BGZF, 64 KiB blocks, zlib level 1) with its ``.fai`` and ``.gzi``, written here
  from the block offsets (no second pass): the 24 chromosomes chr1-22, X, Y at hg19's lengths
  (``hg19.seqinfo.tsv``; 3,095,677,412 bp in all), each the real hg19 chrX excerpt of
  ``../shared/data/hg19_chrX`` (70 Mbp, 5.4% N) tiled from a chromosome-specific offset, with
  seeded point substitutions at 1% of its bases, so no two chromosomes are identical and
  assembly gaps (N runs) occur as in the real sequence;
* ``peaks/<feature>.narrowPeak``: 919 narrowPeak files in DeepSEA's proportions (125 DNase, 690
  TF, 104 histone marks), and ``manifest.tsv`` (name, group, path) for ``dnaseq build-dataset``.

Peak statistics (chosen to resemble ENCODE's uniformly processed narrowPeak files; stated here,
not measured from them, since nothing can be downloaded): peaks per file log-normal with median
and spread per class (DNase 100,000, sigma 0.5, clipped to 20k-300k; TF 20,000, sigma 0.8, 1k-100k;
histone 50,000, sigma 0.6, 5k-200k); width DNase 150 bp (fixed, as uniform DNase peaks), TF
normal(300, 60) clipped to 100-1,000, histone log-normal with median 1,000 (sigma 0.6, 200-10,000).
Clustering: peaks sit on a shared pool of 1,000,000 regulatory sites whose density varies per
megabase (log-normal weights, sigma 1: gene-rich and gene-poor regions) and whose popularity
across features follows a power law (weight ~ rank^-0.8), so popular sites are bound by many
features (co-binding, open chromatin) as in real data; 5% of each file's peaks are private
positions; summits jitter by normal(0, 40) bp around the site. Sites in N runs are dropped.

Disk: about 0.9 GB for the FASTA and 1.9 GB of peak text at full size (measured values are
printed at the end). ``--chroms`` makes a subset: the same sequence for those chromosomes, and sites and peaks per
file in proportion to their share of the genome.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "hg19_chrX"
CHROMS = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]
LINE = 60
BLOCK = 65280  # uncompressed bytes per BGZF block (bgzip's own choice)
SUBST_RATE = 0.01
N_SITES = 1_000_000
PRIVATE = 0.05
CLASSES = {  # group: (files, median peaks, sigma, lo, hi)
    "DNase": (125, 100_000, 0.5, 20_000, 300_000),
    "TF": (690, 20_000, 0.8, 1_000, 100_000),
    "Histone": (104, 50_000, 0.6, 5_000, 200_000),
}
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def hg19_sizes() -> dict:
    sizes = {}
    for line in (SHARED / "hg19.seqinfo.tsv").read_text().splitlines()[1:]:
        f = line.split("\t")
        if f[0] in CHROMS:
            sizes[f[0]] = int(f[1])
    return sizes


def _source() -> np.ndarray:
    from dnaseq import Genome
    with Genome(str(SHARED / "hg19_chrX_1-69999930.fa.gz")) as g:
        return np.asarray(g.chromosome_codes("chrX"))


def chromosome_codes(source: np.ndarray, k: int, length: int) -> np.ndarray:
    """Chromosome ``k``: the source tiled from an offset of its own, 1% of its bases changed (seeded)."""
    offset = (k * 7_777_777) % len(source)
    reps = -(-(length + offset) // len(source))
    codes = np.tile(source, reps)[offset:offset + length].copy()
    rng = np.random.default_rng(1000 + k)
    pos = rng.integers(0, length, size=int(length * SUBST_RATE))
    real = pos[codes[pos] < 4]
    codes[real] = (codes[real] + rng.integers(1, 4, size=len(real), dtype=np.uint8)) % 4
    return codes


def _bgzf_block(data: bytes) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    header = struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(body) + 25)
    return header + body + struct.pack("<II", zlib.crc32(data), len(data))


def _write_chromosome(args) -> tuple:
    """One chromosome's FASTA record as BGZF blocks in a part file; (name, length, part, block sizes)."""
    k, name, length, start_in_file, out = args
    source = np.load(out / "source.npy", mmap_mode="r")
    codes = chromosome_codes(np.asarray(source), k, length)
    text = np.frombuffer(b"ACGTN", np.uint8)[codes]
    del codes
    full = length // LINE
    lines = np.empty((full, LINE + 1), np.uint8)
    lines[:, :LINE] = text[:full * LINE].reshape(full, LINE)
    lines[:, LINE] = ord("\n")
    data = f">{name}\n".encode() + lines.tobytes() + (text[full * LINE:].tobytes() + b"\n" if length % LINE else b"")
    del lines, text
    # the record may start mid-block of the whole file: blocks are cut at multiples of BLOCK in file offsets
    first = BLOCK - start_in_file % BLOCK
    cuts = [0] + list(range(first, len(data), BLOCK)) + [len(data)]
    cuts = sorted(set(c for c in cuts if 0 <= c <= len(data)))
    part = out / f".part_{k:02d}"
    sizes = []
    with open(part, "wb") as fh:
        for a, b in zip(cuts[:-1], cuts[1:]):
            blk = _bgzf_block(data[a:b])
            fh.write(blk)
            sizes.append((len(blk), b - a))
    return name, length, str(part), sizes, len(f">{name}\n")


def write_genome(out: Path, sizes: dict, workers: int) -> None:
    """genome.fa.gz with .fai and .gzi: chromosomes compressed in parallel into parts, then joined."""
    np.save(out / "source.npy", _source())
    jobs, offset = [], 0
    for name, length in sizes.items():
        k = CHROMS.index(name)
        jobs.append((k, name, length, offset, out))
        offset += len(f">{name}\n") + length + -(-length // LINE)
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_write_chromosome, jobs))
    fai, gzi = [], []
    comp = unc = 0
    with open(out / "genome.fa.gz.partial", "wb") as fh:
        for name, length, part, blocks, head in parts:
            fai.append(f"{name}\t{length}\t{unc + head}\t{LINE}\t{LINE + 1}\n")
            with open(part, "rb") as p:
                fh.write(p.read())
            os.remove(part)
            for c, u in blocks:
                comp += c
                unc += u
                gzi.append((comp, unc))
        fh.write(_BGZF_EOF)
    gzi = gzi[:-1]  # the .gzi lists the start of every block after the first
    with open(out / "genome.fa.gz.gzi", "wb") as fh:
        fh.write(struct.pack("<Q", len(gzi)))
        fh.write(np.asarray(gzi, np.uint64).tobytes())
    os.replace(out / "genome.fa.gz.partial", out / "genome.fa.gz")
    (out / "genome.fa.gz.fai").write_text("".join(fai))
    os.utime(out / "genome.fa.gz.gzi")
    os.utime(out / "genome.fa.gz.fai")
    os.remove(out / "source.npy")


def _site_pool(sizes: dict, rng: np.random.Generator, share: float):
    """Regulatory sites (chromosome index, position) with a per-megabase density, and their popularity."""
    names = list(sizes)
    n_sites = int(N_SITES * share)
    mb = np.concatenate([np.full(-(-sizes[c] // 1_000_000), i) for i, c in enumerate(names)])
    mb_start = np.concatenate([np.arange(-(-sizes[c] // 1_000_000)) * 1_000_000 for c in names])
    w = rng.lognormal(0, 1, len(mb))
    which = rng.choice(len(mb), size=n_sites, p=w / w.sum())
    chrom = mb[which]
    pos = mb_start[which] + rng.integers(0, 1_000_000, n_sites)
    keep = pos < np.array([sizes[c] for c in names])[chrom]
    chrom, pos = chrom[keep], pos[keep]
    pop = (1.0 + rng.permutation(len(pos))) ** -0.8
    return chrom, pos, pop / pop.sum(), (mb, mb_start, w / w.sum())


def write_peaks(out: Path, sizes: dict, seed: int = 0) -> list:
    """The 919 peak files; for a subset of chromosomes, sites and peaks in proportion to its length."""
    rng = np.random.default_rng(seed)
    names = list(sizes)
    share = sum(sizes.values()) / sum(hg19_sizes().values())
    chrom, pos, pop, (mb, mb_start, mbw) = _site_pool(sizes, rng, share)
    source = _source()
    ok = np.ones(len(pos), bool)
    for i, c in enumerate(names):  # sites in N runs are dropped (the chromosome made again: it is seeded)
        sel = np.nonzero(chrom == i)[0]
        ok[sel] = chromosome_codes(source, CHROMS.index(c), sizes[c])[pos[sel]] < 4
    del source
    chrom, pos, pop = chrom[ok], pos[ok], pop[ok] / pop[ok].sum()
    lengths = np.array([sizes[c] for c in names])
    log_pop = np.log(pop)
    (out / "peaks").mkdir(exist_ok=True)
    manifest = []
    for group, (n_files, median, sigma, lo, hi) in CLASSES.items():
        for f in range(n_files):
            n = max(1, int(np.clip(rng.lognormal(np.log(median), sigma), lo, hi) * share))
            n_private = int(n * PRIVATE)
            # n - n_private distinct sites drawn with weights pop (Gumbel top-k: numpy's weighted
            # choice without replacement is far slower on two million sites)
            keys = log_pop + rng.gumbel(size=len(pop))
            picks = np.argpartition(-keys, n - n_private - 1)[:n - n_private]
            pm = rng.choice(len(mb), size=n_private, p=mbw)
            c = np.concatenate([chrom[picks], mb[pm]])
            summit = np.concatenate([pos[picks], mb_start[pm] + rng.integers(0, 1_000_000, n_private)])
            summit = summit + np.round(rng.normal(0, 40, n)).astype(np.int64)
            if group == "DNase":
                width = np.full(n, 150)
            elif group == "TF":
                width = np.clip(np.round(rng.normal(300, 60, n)), 100, 1000).astype(np.int64)
            else:
                width = np.clip(np.round(rng.lognormal(np.log(1000), 0.6, n)), 200, 10_000).astype(np.int64)
            start = np.clip(summit - width // 2, 0, None)
            end = np.minimum(start + width, lengths[c])
            good = end > start
            c, start, end = c[good], start[good], end[good]
            order = np.lexsort((start, c))
            c, start, end = c[order], start[order], end[order]
            signal = np.round(rng.lognormal(2, 0.7, len(c)), 3)
            name = f"{group}_{f + 1:03d}"
            path = out / "peaks" / f"{name}.narrowPeak"
            cn = np.array(names, dtype=object)[c]
            lines = [f"{a}\t{s}\t{e}\t{name}_{i}\t{min(1000, int(v * 50))}\t.\t{v}\t{v * 2:.3f}\t{v * 1.5:.3f}\t{(e - s) // 2}\n"
                     for i, (a, s, e, v) in enumerate(zip(cn.tolist(), start.tolist(), end.tolist(), signal.tolist()))]
            with open(path, "w") as fh:
                fh.write("".join(lines))
            manifest.append((name, group, f"peaks/{name}.narrowPeak", len(c)))
    (out / "manifest.tsv").write_text("name\tgroup\tpath\n" + "".join(f"{a}\t{b}\t{p}\n" for a, b, p, _ in manifest))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--chroms", help="a subset of chromosomes (comma-separated); default all 24")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = hg19_sizes()
    if args.chroms:
        sizes = {c: sizes[c] for c in args.chroms.split(",")}
    settings = {"chroms": list(sizes), "subst_rate": SUBST_RATE, "sites": N_SITES, "classes": CLASSES, "version": 1}
    done = out / "made.json"
    if done.exists() and json.loads(done.read_text()).get("settings") == json.loads(json.dumps(settings)):
        print(f"{out}: already made with these settings ({done})")
        return
    t0 = time.perf_counter()
    write_genome(out, sizes, args.workers)
    t1 = time.perf_counter()
    manifest = write_peaks(out, sizes)
    t2 = time.perf_counter()
    fa_bytes = (out / "genome.fa.gz").stat().st_size
    peak_bytes = sum((out / p).stat().st_size for _, _, p, _ in manifest)
    counts = [n for *_, n in manifest]
    facts = {"settings": settings, "bp": sum(sizes.values()), "genome_gz_bytes": fa_bytes, "peak_files": len(manifest),
             "peaks": int(sum(counts)), "peak_bytes": peak_bytes, "peaks_per_file_median": float(np.median(counts)),
             "seconds_genome": round(t1 - t0, 1), "seconds_peaks": round(t2 - t1, 1)}
    done.write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts, indent=1))


if __name__ == "__main__":
    main()
