#!/usr/bin/env python
"""A labelled functional-variant benchmark rebuilt from shipped data: insulator-motif SNVs on dm3.

    python scripts/prioritize_benchmark.py --reference ../shared/data/dm3/dm3_partial.fa.gz \\
        --peaks-dir ../shared/data/dm3 --motifs tests/data/interpret/jaspar2024_core_subset.meme \\
        --chromosomes chr2L,chrX --out results/prioritize_benchmark --seed 0
    python scripts/prioritize_benchmark.py kmer --reference ... --peaks-dir ... \\
        --train-chromosomes chr2R,chr3L,chr3R --out results/prioritize_benchmark   # baseline (d)

Labels come from known motifs and ChIP peaks, never from any model's training labels:

* ``positives.vcf``: one SNV per strong match of a known insulator motif (BEAF-32 MA0529, Su(Hw)
  MA0533, CTCF MA0531) lying fully inside a ChIP peak of its protein (Cp190, which has no motif
  of its own, contributes its peaks scanned for all three). A strong match is a log-odds PWM score
  (log2 of (p + 0.01) / 1.04 over a uniform background; pseudocount 0.01 per base on the
  probabilities) at or above the motif's p = 1e-4 threshold (FIMO's default: the smallest score
  that a uniform random sequence reaches with probability <= 1e-4 on one strand, computed exactly
  by dynamic programming over scores rounded to 0.001 bits), on either strand, with no N in it.
  In each match the SNV is the position and ALT that lower the score most (first such in
  forward-strand order on ties); a position picked by several matches is kept once (largest
  drop); at most ``--max-positives-per-chrom`` (default 500) per chromosome, drawn with the seed.
* ``negatives_random.vcf``: SNVs at uniformly random positions of the same chromosomes
  (``--ratio`` x the chromosome's positives, default 4).
* ``negatives_peak.vcf``: random SNVs inside the same peaks (any protein) but at least
  ``--margin`` bp (default 5) away from every match of any of the motifs above the weak threshold
  p = 1e-3 (scanned over the peaks plus a motif width on each side); same count rule.

Every SNV of every set has a non-N base and a 1000 bp window centred on it (``[pos0 - 500,
pos0 + 500)``, the window variant scoring uses) that lies inside the chromosome and is at most
50% N; ALT of negatives is drawn uniformly among the three other bases; REF is the genome's
base, uppercased. VCFs are sorted by chromosome (FASTA order) then POS. ``manifest.tsv`` gives
the counts per set and chromosome, ``summary.json`` those plus every parameter and input file.
Same inputs and seed give byte-identical outputs. ``summary.json`` also gives, per motif and
chromosome, the strong matches found and the number expected by chance (2 strands x N-free
positions scanned x p): on the shared dm3 data (chr2L + chrX) BEAF-32 matches are 12-18x, Su(Hw)
about 4-5x and CTCF only about 2x that, so part of the positives (about half of the CTCF ones)
are chance matches that happen to lie in peaks. Chromosomes absent from the FASTA are skipped
with a warning (the shipped slice ``data/dm3_slice/`` has only ``chr2L``, 400 kb).

Baseline (d), the ``kmer`` subcommand / :func:`train_kmer_model` + :func:`kmer_delta_scores`: a
6-mer logistic regression (canonical 6-mers, reverse complements merged; L2; counts
standardised, the weights then divided by the standard deviations so they apply to raw counts)
trained on 200 bp windows centred on peaks of the chosen proteins vs random N-free peak-free
windows of the training chromosomes (default chr2R, chr3L, chr3R: the quick start's, not the
benchmark's). An SNV's score is ``|sum_kmer w * (count in ALT window - count in REF window)|``,
computed exactly from the at most 2 x 6 k-mers the edit changes (k-mers over an N count for
nothing, as in the brute-force count).

What this benchmark can show: whether a model's predicted effects recognise disruption of known
insulator motifs inside bound regions, against random and against bound-but-motif-free
positions, on chromosomes (chr2L test, chrX validation) that the quick-start model never trained
on. What it cannot show: performance on real (human) functional variants, on variants acting
through anything but these three motifs, or on measured effects (no SNV here was assayed).
Labels are motif-derived, so motif-centric methods (PWM scans, k-mer models, CNNs whose first
layer learns these motifs) have an edge by construction; a high score is necessary, not
sufficient, evidence that a model prioritises real regulatory variants.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import logging
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from dnaseq.sequence.encoding import N_CODE  # noqa: E402
from dnaseq.sequence.genome import Genome, candidate_names  # noqa: E402
from dnaseq.sequence.intervals import merge_intervals, read_intervals  # noqa: E402
from dnaseq.sequence.motifs import Motif, read_motifs  # noqa: E402
from dnaseq.sequence.vcf import read_vcf  # noqa: E402

log = logging.getLogger("prioritize_benchmark")

BASES = "ACGT"
WINDOW = 1000
HALF = WINDOW // 2
MAX_N_FRACTION = 0.5
PSEUDOCOUNT = 0.01
SCORE_RESOLUTION = 1e-3
DEFAULT_REFERENCE = os.path.join(REPO, "..", "shared", "data", "dm3", "dm3_partial.fa.gz")
DEFAULT_PEAKS_DIR = os.path.join(REPO, "..", "shared", "data", "dm3")
DEFAULT_PEAKS_GLOB = "*_Bushey_2009.bed"
DEFAULT_MOTIFS = os.path.join(REPO, "tests", "data", "interpret", "jaspar2024_core_subset.meme")
DEFAULT_PROTEIN_MOTIFS = "BEAF=MA0529;CTCF=MA0531;SuHw=MA0533;Cp190=MA0529,MA0531,MA0533"
SETS = ("positive", "random", "peak")
SET_FILES = {"positive": "positives.vcf", "random": "negatives_random.vcf", "peak": "negatives_peak.vcf"}
SET_SALT = {"positive": 1, "random": 2, "peak": 3}


# -- PWMs ---------------------------------------------------------------------------------------
def log_odds(pfm: np.ndarray, pseudocount: float = PSEUDOCOUNT) -> np.ndarray:
    """(4, W) probabilities -> log2 odds against a uniform background, with a pseudocount."""
    p = (np.asarray(pfm, np.float64) + pseudocount) / (1.0 + 4 * pseudocount)
    return np.log2(p / 0.25)


def pvalue_threshold(lo: np.ndarray, pvalue: float, resolution: float = SCORE_RESOLUTION) -> Tuple[float, float]:
    """The smallest score s with P(score >= s) <= ``pvalue`` for uniform random sequence on one
    strand (exact over scores rounded to ``resolution``), and that tail probability. A motif too
    short to reach ``pvalue`` gets its maximum score."""
    q = np.round(np.asarray(lo) / resolution).astype(np.int64)
    qmin = q.min(axis=0)
    shifted = q - qmin
    size = int(shifted.max(axis=0).sum()) + 1
    dist = np.zeros(size)
    dist[0] = 1.0
    span = 1
    for j in range(q.shape[1]):
        new = np.zeros(size)
        for b in range(4):
            s = int(shifted[b, j])
            new[s:s + span] += 0.25 * dist[:span]
        span += int(shifted[:, j].max())
        dist = new
    tail = np.cumsum(dist[::-1])[::-1]  # P(score >= i)
    ok = np.flatnonzero(tail <= pvalue * (1 + 1e-9))
    i = int(ok[0]) if len(ok) else size - 1
    return float((i + qmin.sum()) * resolution), float(tail[i])


@dataclass
class Pwm:
    motif: Motif
    lo: np.ndarray  # (4, W) forward log-odds
    threshold: float
    threshold_p: float
    weak_threshold: float
    weak_p: float

    @property
    def width(self) -> int:
        return self.lo.shape[1]

    @property
    def max_score(self) -> float:
        return float(self.lo.max(axis=0).sum())

    def matrix(self, strand: str) -> np.ndarray:
        """(4, W) log-odds in forward-strand coordinates for a match on ``strand``."""
        return self.lo if strand == "+" else self.lo[::-1, ::-1]

    def info(self) -> dict:
        return {"id": self.motif.id, "name": self.motif.name, "width": self.width,
                "max_score": round(self.max_score, 4), "threshold": round(self.threshold, 4),
                "threshold_pvalue": self.threshold_p, "threshold_fraction_of_max": round(self.threshold / self.max_score, 4),
                "weak_threshold": round(self.weak_threshold, 4), "weak_pvalue": self.weak_p}


def make_pwm(motif: Motif, pvalue: float, weak_pvalue: float) -> Pwm:
    lo = log_odds(motif.pfm)
    t, tp = pvalue_threshold(lo, pvalue)
    w, wp = pvalue_threshold(lo, weak_pvalue)
    return Pwm(motif, lo, t, tp, min(w, t), wp)


def score_positions(codes: np.ndarray, starts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Score of ``matrix`` (4, W) at each 0-based start over ``codes``; -inf where an N is inside."""
    table = np.vstack([matrix, np.full((1, matrix.shape[1]), -np.inf)])  # row 4: N
    score = np.zeros(len(starts))
    for j in range(matrix.shape[1]):
        score += table[codes[starts + j], j]
    return score


def interval_starts(starts: np.ndarray, ends: np.ndarray, width: int = 1) -> np.ndarray:
    """Every p with starts[i] <= p and p + width <= ends[i] for some i (intervals disjoint)."""
    n = np.maximum(np.asarray(ends) - np.asarray(starts) - width + 1, 0)
    if n.sum() == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(np.asarray(starts, np.int64) - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return offsets + np.arange(int(n.sum()), dtype=np.int64)


def scan(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, pwm: Pwm, threshold: float):
    """Matches (start, strand, score) of ``pwm`` fully inside the intervals, score >= threshold."""
    pos = interval_starts(starts, ends, pwm.width)
    out = []
    for strand in "+-":
        s = score_positions(codes, pos, pwm.matrix(strand))
        keep = s >= threshold
        out.append((pos[keep], np.full(int(keep.sum()), strand), s[keep]))
    return (np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out]),
            np.concatenate([o[2] for o in out]))


def best_disruption(codes: np.ndarray, starts: np.ndarray, matrix: np.ndarray):
    """For matches of ``matrix`` at ``starts``: (offset, alt code, score drop) of the SNV that
    lowers the score most (first in forward order, then base order, on ties)."""
    w = matrix.shape[1]
    ref = codes[starts[:, None] + np.arange(w)].astype(np.int64)  # (n, W), no N
    m = matrix.T  # (W, 4)
    drops = m[np.arange(w), ref][:, :, None] - m[None]  # (n, W, 4)
    drops[np.arange(len(starts))[:, None], np.arange(w)[None], ref] = -np.inf
    flat = drops.reshape(len(starts), -1)
    best = flat.argmax(axis=1)
    return best // 4, best % 4, flat[np.arange(len(starts)), best]


# -- inputs -------------------------------------------------------------------------------------
def parse_protein_motifs(text: str) -> Dict[str, List[str]]:
    out = {}
    for part in text.split(";"):
        if part.strip():
            name, _, ids = part.partition("=")
            out[name.strip()] = [i.strip() for i in ids.split(",") if i.strip()]
    return out


def find_motif(motifs: Sequence[Motif], wanted: str) -> Motif:
    hits = [m for m in motifs if m.id == wanted or m.id.split(".")[0] == wanted]
    if not hits:
        raise SystemExit(f"motif {wanted} not found in the motif file")
    return hits[-1]


def protein_of(path: str) -> str:
    return os.path.basename(path).split("_")[0]


def peak_files(peaks: Optional[Sequence[str]], peaks_dir: Optional[str], pattern: str) -> List[str]:
    files = list(peaks or [])
    if peaks_dir:
        files += sorted(glob.glob(os.path.join(peaks_dir, pattern)))
    if not files:
        raise SystemExit("no peak files: give --peaks FILE... or --peaks-dir DIR (with --peaks-glob)")
    return files


def md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def intervals_on(ivs, chrom: str, length: int) -> Tuple[np.ndarray, np.ndarray]:
    """Merged intervals of an IntervalSet on ``chrom`` (under any alias), clipped to the chromosome."""
    for name in candidate_names(chrom):
        if name in ivs.chroms:
            s, e = ivs.chroms[name]
            s, e = np.clip(s, 0, length), np.clip(e, 0, length)
            keep = e > s
            return s[keep], e[keep]
    return np.zeros(0, np.int64), np.zeros(0, np.int64)


def union(pairs: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return merge_intervals(np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))


def contains(intervals: Tuple[np.ndarray, np.ndarray], start: int, end: int) -> bool:
    """[start, end) lies inside one of the disjoint sorted intervals."""
    s, e = intervals
    i = int(np.searchsorted(s, start, side="right")) - 1
    return i >= 0 and end <= int(e[i])


def chrom_codes(genome: Genome, chrom: str) -> np.ndarray:
    return genome.fetch(chrom, 0, genome.length(chrom)).codes


def window_ok(n_prefix: np.ndarray, length: int, pos0: np.ndarray) -> np.ndarray:
    """The 1000 bp window [pos0 - 500, pos0 + 500) lies inside the chromosome and is <= 50% N."""
    pos0 = np.asarray(pos0, np.int64)
    inside = (pos0 - HALF >= 0) & (pos0 + HALF <= length)
    lo, hi = np.clip(pos0 - HALF, 0, length), np.clip(pos0 + HALF, 0, length)
    return inside & (n_prefix[hi] - n_prefix[lo] <= MAX_N_FRACTION * WINDOW)


def rng_for(seed: int, set_name: str, chrom: str) -> np.random.Generator:
    return np.random.default_rng([seed, SET_SALT[set_name], zlib.crc32(chrom.encode())])


# -- the benchmark ------------------------------------------------------------------------------
@dataclass
class Snv:
    chrom: str
    pos0: int
    ref: int
    alt: int
    info: str


@dataclass
class BuildResult:
    sets: Dict[str, List[Snv]] = field(default_factory=dict)
    stats: Dict[str, dict] = field(default_factory=dict)  # chrom -> numbers


def build_chromosome(genome: Genome, chrom: str, peaks: Dict[str, Tuple[np.ndarray, np.ndarray]],
                     protein_pwms: Dict[str, List[Pwm]], all_pwms: List[Pwm], seed: int,
                     max_positives: int, ratio: float, margin: int) -> Tuple[Dict[str, List[Snv]], dict]:
    length = genome.length(chrom)
    codes = chrom_codes(genome, chrom)
    is_n = codes == N_CODE
    n_prefix = np.concatenate([[0], np.cumsum(is_n, dtype=np.int64)])
    stats: dict = {"length": length, "real_bases": int(length - n_prefix[-1])}

    # strong matches: each motif scanned over the union of the peaks of its proteins
    matches: List[dict] = []
    stats["strong_matches"], stats["scanned_positions"], stats["expected_by_chance"] = {}, {}, {}
    for pwm in all_pwms:
        owners = [prot for prot in peaks if any(q is pwm for q in protein_pwms.get(prot, []))]
        ps, pe = union([peaks[prot] for prot in owners])
        starts, strands, scores = scan(codes, ps, pe, pwm, pwm.threshold)
        pos = interval_starts(ps, pe, pwm.width)
        n_valid = int((n_prefix[pos + pwm.width] - n_prefix[pos] == 0).sum())
        mid = pwm.motif.id
        stats["strong_matches"][mid] = int(len(starts))
        stats["scanned_positions"][mid] = n_valid
        stats["expected_by_chance"][mid] = round(2 * n_valid * pwm.threshold_p, 1)  # both strands
        for p, st, sc in zip(starts.tolist(), strands.tolist(), scores.tolist()):
            inside = [prot for prot in owners if contains(peaks[prot], p, p + pwm.width)]
            matches.append({"pwm": pwm, "strand": st, "start": p, "score": sc, "proteins": inside})

    # one SNV per match, then one per position (largest drop, then score, motif, strand)
    best: Dict[int, Tuple[tuple, Snv]] = {}
    by_matrix: Dict[Tuple[str, str], List[dict]] = {}
    for m in matches:
        by_matrix.setdefault((m["pwm"].motif.id, m["strand"]), []).append(m)
    for (mid, strand), ms in sorted(by_matrix.items()):
        pwm = ms[0]["pwm"]
        starts = np.array([m["start"] for m in ms], np.int64)
        off, alt, drop = best_disruption(codes, starts, pwm.matrix(strand))
        for m, o, a, d in zip(ms, off.tolist(), alt.tolist(), drop.tolist()):
            pos0 = m["start"] + o
            info = (f"SET=positive;MOTIF={mid};MOTIF_NAME={pwm.motif.name};STRAND={strand};"
                    f"MSTART={m['start'] + 1};MEND={m['start'] + pwm.width};MSCORE={m['score']:.4f};"
                    f"MREL={m['score'] / pwm.max_score:.4f};MDROP={d:.4f};PROTEINS={','.join(sorted(m['proteins']))}")
            rank = (-d, -m["score"], mid, strand, m["start"])
            snv = Snv(chrom, pos0, int(codes[pos0]), a, info)
            if pos0 not in best or rank < best[pos0][0]:
                best[pos0] = (rank, snv)
    positions = np.array(sorted(best), np.int64)
    ok = window_ok(n_prefix, length, positions) if len(positions) else np.zeros(0, bool)
    stats["positive_candidates"] = int(len(positions))
    stats["positive_candidates_window_ok"] = int(ok.sum())
    positions = positions[ok]
    if len(positions) > max_positives:
        positions = np.sort(rng_for(seed, "positive", chrom).choice(positions, max_positives, replace=False))
    pos_set = [best[int(p)][1] for p in positions]
    n_neg = int(round(ratio * len(pos_set)))

    # random negatives: uniform positions, non-N base, window rule, not a positive position
    rng = rng_for(seed, "random", chrom)
    taken = set(positions.tolist())
    rand: List[int] = []
    tries = 0
    while len(rand) < n_neg and length > WINDOW:
        cand = rng.integers(HALF, length - HALF + 1, size=max(1024, 4 * (n_neg - len(rand))))
        good = cand[(codes[cand] != N_CODE) & window_ok(n_prefix, length, cand)]
        for p in good.tolist():
            if p not in taken:
                taken.add(p)
                rand.append(p)
                if len(rand) == n_neg:
                    break
        tries += 1
        if tries > 10000:
            log.warning("%s: found only %d of %d random negatives", chrom, len(rand), n_neg)
            break
    rand_alt_shift = rng.integers(1, 4, size=len(rand))
    rand_set = [Snv(chrom, p, int(codes[p]), (int(codes[p]) + int(s)) % 4, "SET=random")
                for p, s in zip(rand, rand_alt_shift.tolist())]

    # in-peak negatives: in any peak, not within `margin` of any weak match of any motif
    ps, pe = union(list(peaks.values()))
    excluded = np.zeros(length + 1, np.int64)
    max_w = max(p.width for p in all_pwms)
    ws, we = merge_intervals(np.clip(ps - max_w, 0, length), np.clip(pe + max_w, 0, length))
    n_weak = {}
    for pwm in all_pwms:
        starts, _, _ = scan(codes, ws, we, pwm, pwm.weak_threshold)
        n_weak[pwm.motif.id] = int(len(starts))
        np.add.at(excluded, np.clip(starts - margin, 0, length), 1)
        np.add.at(excluded, np.clip(starts + pwm.width + margin, 0, length), -1)
    excluded = np.cumsum(excluded)[:length] > 0
    stats["weak_matches_near_peaks"] = dict(sorted(n_weak.items()))
    cand = interval_starts(ps, pe)
    stats["peak_bases"] = int(len(cand))
    cand = cand[(codes[cand] != N_CODE) & ~excluded[cand] & window_ok(n_prefix, length, cand)]
    stats["peak_negative_candidates"] = int(len(cand))
    rng = rng_for(seed, "peak", chrom)
    if len(cand) < n_neg:
        log.warning("%s: only %d in-peak negative positions for %d wanted", chrom, len(cand), n_neg)
    chosen = np.sort(rng.choice(cand, min(n_neg, len(cand)), replace=False)) if len(cand) else cand
    shifts = rng.integers(1, 4, size=len(chosen))
    peak_set = []
    for p, s in zip(chosen.tolist(), shifts.tolist()):
        prot = sorted(name for name in peaks if contains(peaks[name], p, p + 1))
        peak_set.append(Snv(chrom, p, int(codes[p]), (int(codes[p]) + s) % 4, f"SET=peak;PROTEINS={','.join(prot)}"))
    return {"positive": pos_set, "random": sorted(rand_set, key=lambda v: v.pos0), "peak": peak_set}, stats


VCF_INFO = [
    ("SET", "1", "String", "Benchmark set: positive, random (negative) or peak (negative inside peaks, outside motifs)"),
    ("MOTIF", "1", "String", "Motif id (positives)"),
    ("MOTIF_NAME", "1", "String", "Motif name (positives)"),
    ("STRAND", "1", "String", "Strand of the motif match (positives)"),
    ("MSTART", "1", "Integer", "1-based first base of the motif match (positives)"),
    ("MEND", "1", "Integer", "1-based last base of the motif match (positives)"),
    ("MSCORE", "1", "Float", "Log-odds PWM score of the match on REF (bits, uniform background)"),
    ("MREL", "1", "Float", "Match score / the motif's maximum score"),
    ("MDROP", "1", "Float", "Score of REF match minus score with ALT (bits)"),
    ("PROTEINS", ".", "String", "Proteins whose peaks contain the match (positives) or the position (peak negatives)"),
]


def write_set_vcf(path: str, snvs: List[Snv], contigs: Dict[str, int], set_name: str, params: dict) -> None:
    order = {c: i for i, c in enumerate(contigs)}
    snvs = sorted(snvs, key=lambda v: (order[v.chrom], v.pos0))
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        fh.write("##source=dnaseq scripts/prioritize_benchmark.py\n")
        fh.write(f"##benchmark_set={set_name}\n")
        fh.write(f"##benchmark_params={json.dumps(params, sort_keys=True)}\n")
        for name, length in contigs.items():
            fh.write(f"##contig=<ID={name},length={length}>\n")
        for tag, num, typ, desc in VCF_INFO:
            fh.write(f'##INFO=<ID={tag},Number={num},Type={typ},Description="{desc}">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for v in snvs:
            fh.write(f"{v.chrom}\t{v.pos0 + 1}\t{set_name}_{v.chrom}_{v.pos0 + 1}\t{BASES[v.ref]}\t{BASES[v.alt]}"
                     f"\t.\tPASS\t{v.info}\n")


def build(reference: str, peak_paths: Sequence[str], motifs_path: str, chromosomes: Sequence[str], out: str,
          seed: int = 0, max_positives: int = 500, ratio: float = 4.0, pvalue: float = 1e-4,
          weak_pvalue: float = 1e-3, margin: int = 5, protein_motifs: str = DEFAULT_PROTEIN_MOTIFS) -> dict:
    """Build the three VCFs, ``manifest.tsv`` and ``summary.json`` in ``out``; returns the summary."""
    t0 = time.perf_counter()
    genome = Genome(reference)
    motifs = read_motifs(motifs_path)
    mapping = parse_protein_motifs(protein_motifs)
    pwms: Dict[str, Pwm] = {}
    protein_pwms: Dict[str, List[Pwm]] = {}
    for protein, ids in mapping.items():
        for mid in ids:
            if mid not in pwms:
                pwms[mid] = make_pwm(find_motif(motifs, mid), pvalue, weak_pvalue)
            protein_pwms.setdefault(protein, []).append(pwms[mid])
    all_pwms = list(pwms.values())
    files, ignored = [], []
    for path in peak_paths:
        (files if protein_of(path) in mapping else ignored).append(path)
    for path in ignored:
        log.warning("%s: protein %r has no motif in --protein-motifs; ignored", path, protein_of(path))
    interval_sets = {path: read_intervals(path) for path in files}
    chroms, missing = [], []
    for c in chromosomes:
        (chroms if genome.has(c) else missing).append(c)
    for c in missing:
        log.warning("chromosome %s is not in %s: skipped", c, reference)
    if not chroms:
        raise SystemExit(f"none of the chromosomes {','.join(chromosomes)} is in {reference}")
    names = sorted({genome.resolve(c) for c in chroms}, key=genome.chromosomes.index)
    contigs = {c: genome.length(c) for c in names}
    sets: Dict[str, List[Snv]] = {s: [] for s in SETS}
    stats = {}
    for chrom in names:
        length = contigs[chrom]
        peaks = {}
        for protein in mapping:
            pairs = [intervals_on(interval_sets[p], chrom, length) for p in files if protein_of(p) == protein]
            if pairs:
                peaks[protein] = union(pairs)
        per, stats[chrom] = build_chromosome(genome, chrom, peaks, protein_pwms, all_pwms, seed, max_positives,
                                             ratio, margin)
        for s in SETS:
            sets[s].extend(per[s])
        log.info("%s: %s", chrom, ", ".join(f"{s} {len(per[s])}" for s in SETS))
    params = {"seed": seed, "chromosomes": names, "max_positives_per_chrom": max_positives, "ratio": ratio,
              "pvalue": pvalue, "weak_pvalue": weak_pvalue, "margin": margin, "pseudocount": PSEUDOCOUNT,
              "background": "uniform", "score_resolution": SCORE_RESOLUTION, "window": WINDOW,
              "window_start": "pos0 - 500", "max_window_n_fraction": MAX_N_FRACTION,
              "protein_motifs": protein_motifs}
    os.makedirs(out, exist_ok=True)
    counts = {s: {c: sum(v.chrom == c for v in sets[s]) for c in names} for s in SETS}
    for s in SETS:
        write_set_vcf(os.path.join(out, SET_FILES[s]), sets[s], contigs, s, params)
    with open(os.path.join(out, "manifest.tsv"), "w") as fh:
        fh.write("set\tchrom\tn_variants\tvcf\n")
        for s in SETS:
            for c in names:
                fh.write(f"{s}\t{c}\t{counts[s][c]}\t{SET_FILES[s]}\n")
            fh.write(f"{s}\tall\t{len(sets[s])}\t{SET_FILES[s]}\n")
    summary = {
        "params": params,
        "inputs": {"reference": {"path": reference, "md5": md5(reference)},
                   "motifs": {"path": motifs_path, "md5": md5(motifs_path)},
                   "peaks": [{"path": p, "protein": protein_of(p), "md5": md5(p),
                              "records": interval_sets[p].n_records} for p in files],
                   "peaks_ignored": ignored, "chromosomes_requested": list(chromosomes),
                   "chromosomes_missing": missing},
        "motifs": {mid: pwm.info() for mid, pwm in pwms.items()},
        "counts": {s: dict(counts[s], all=len(sets[s])) for s in SETS},
        "files": dict(SET_FILES),
        "per_chromosome": stats,
    }
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
        fh.write("\n")
    log.info("wrote %s in %.1f s", out, time.perf_counter() - t0)
    return summary


# -- baseline (d): 6-mer logistic regression ----------------------------------------------------
def canonical_kmers(k: int) -> np.ndarray:
    """:func:`dnaseq.models.kmers.canonical_kmers` (imported here: that module imports torch)."""
    from dnaseq.models.kmers import canonical_kmers as canon

    return canon(k)


@dataclass
class KmerModel:
    k: int
    weights: np.ndarray  # (n canonical k-mers,) on raw counts
    intercept: float
    info: dict

    def write(self, path: str) -> None:
        names = canonical_names(self.k)
        with open(path, "w") as fh:
            fh.write(f"# k={self.k} intercept={self.intercept!r} (weights apply to raw canonical k-mer counts)\n")
            fh.write("kmer\tweight\n")
            for name, w in zip(names, self.weights.tolist()):
                fh.write(f"{name}\t{w!r}\n")

    @classmethod
    def read(cls, path: str) -> "KmerModel":
        with open(path) as fh:
            head = fh.readline()
        k = int(head.split("k=")[1].split()[0])
        intercept = float(head.split("intercept=")[1].split()[0])
        rows = np.loadtxt(path, dtype=str, comments="#", skiprows=2, delimiter="\t")
        names = canonical_names(k)
        lookup = dict(zip(rows[:, 0].tolist(), rows[:, 1].astype(np.float64).tolist()))
        return cls(k, np.array([lookup[n] for n in names]), intercept, {"weights_file": path})


def canonical_names(k: int) -> List[str]:
    """The name (the smaller of the k-mer and its reverse complement, as index) of each canonical index."""
    canon = canonical_kmers(k)
    names = [""] * (int(canon.max()) + 1)
    for idx in range(4 ** k - 1, -1, -1):  # the smallest index of each class wins
        digits = np.unravel_index(idx, (4,) * k)
        names[canon[idx]] = "".join(BASES[d] for d in digits)
    return names


def raw_kmer_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """(n, L) codes -> (n, canonical k-mers) raw counts (k-mers over N not counted), from
    scripts/kmer_baseline.py's log1p counts (exact: integer counts survive float32 log1p/expm1)."""
    from kmer_baseline import kmer_counts

    return np.rint(np.expm1(kmer_counts(np.asarray(codes), k, canonical_kmers(k)).astype(np.float64)))


def train_kmer_model(reference: str, peak_paths: Sequence[str], train_chromosomes: Sequence[str],
                     proteins: Optional[Sequence[str]] = None, k: int = 6, window: int = 200,
                     neg_ratio: float = 2.0, C: float = 0.01, seed: int = 0) -> KmerModel:
    """Fit the k-mer logistic regression: ``window`` bp centred on each merged peak of ``proteins``
    (default all) vs random N-free windows overlapping no peak, on ``train_chromosomes``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    genome = Genome(reference)
    sets = {p: read_intervals(p) for p in peak_paths}
    chosen = [p for p in peak_paths if proteins is None or protein_of(p) in proteins]
    if not chosen:
        raise SystemExit(f"no peak file of proteins {proteins}")
    pos_rows, neg_rows = [], []
    rng = np.random.default_rng([seed, 7])
    for chrom in train_chromosomes:
        if not genome.has(chrom):
            log.warning("training chromosome %s is not in %s: skipped", chrom, reference)
            continue
        length = genome.length(chrom)
        codes = chrom_codes(genome, chrom)
        n_prefix = np.concatenate([[0], np.cumsum(codes == N_CODE, dtype=np.int64)])
        ps, pe = union([intervals_on(sets[p], chrom, length) for p in chosen])
        anys, anye = union([intervals_on(sets[p], chrom, length) for p in peak_paths])
        starts = (ps + pe) // 2 - window // 2
        ok = (starts >= 0) & (starts + window <= length)
        starts = starts[ok]
        starts = starts[n_prefix[starts + window] - n_prefix[starts] == 0]
        pos_rows.extend(codes[s:s + window] for s in starts.tolist())
        want, got, tries = int(round(neg_ratio * len(starts))), 0, 0
        while got < want and tries < 1000:
            cand = rng.integers(0, length - window + 1, size=4 * (want - got) + 64)
            cand = cand[n_prefix[cand + window] - n_prefix[cand] == 0]
            if len(anys):
                i = np.searchsorted(anys, cand + window, side="left") - 1  # last peak starting before the end
                cand = cand[(i < 0) | (anye[np.maximum(i, 0)] <= cand)]
            cand = cand[:want - got]
            neg_rows.extend(codes[s:s + window] for s in cand.tolist())
            got += len(cand)
            tries += 1
    if not pos_rows or not neg_rows:
        raise SystemExit("no training windows: check --train-chromosomes and the peak files")
    X = raw_kmer_counts(np.stack(pos_rows + neg_rows), k)
    y = np.r_[np.ones(len(pos_rows)), np.zeros(len(neg_rows))]
    order = rng.permutation(len(y))
    n_hold = len(y) // 5
    hold, fit = order[:n_hold], order[n_hold:]
    scaler = StandardScaler().fit(X[fit])
    clf = LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(X[fit]), y[fit])
    auc = float(roc_auc_score(y[hold], clf.decision_function(scaler.transform(X[hold])))) if n_hold else float("nan")
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    weights = np.where(scaler.scale_ > 0, clf.coef_[0] / scale, 0.0)
    intercept = float(clf.intercept_[0] - (weights * scaler.mean_).sum())
    info = {"k": k, "window": window, "C": C, "neg_ratio": neg_ratio, "seed": seed,
            "train_chromosomes": list(train_chromosomes), "proteins": sorted({protein_of(p) for p in chosen}),
            "peak_files": list(peak_paths), "n_positive_windows": len(pos_rows), "n_negative_windows": len(neg_rows),
            "holdout_fraction": 0.2, "holdout_roc_auc": round(auc, 4)}
    return KmerModel(k, weights, intercept, info)


def kmer_delta_scores(vcf_path: str, reference, weights, k: int = 6) -> np.ndarray:
    """|sum_kmer w * (count in ALT window - count in REF window)| for each ALT of ``vcf_path``
    (one value per :func:`read_vcf` row; NaN for non-SNVs, unknown chromosomes and REF
    mismatches). ``weights``: a :class:`KmerModel` or the (canonical k-mers,) raw-count weights.
    Exact for any window holding the SNV at least k - 1 bases from its edges (the 1000 bp window
    does): only the k-mers over the SNV change."""
    if isinstance(weights, KmerModel):
        k, weights = weights.k, weights.weights
    weights = np.asarray(weights, np.float64)
    genome = reference if isinstance(reference, Genome) else Genome(reference)
    canon = canonical_kmers(k)
    rows = list(read_vcf(vcf_path))
    out = np.full(len(rows), np.nan)
    place = 4 ** np.arange(k - 1, -1, -1)
    for i, r in enumerate(rows):
        if r.kind != "snv" or not genome.has(r.chrom) or r.alt.upper() not in BASES:
            continue
        pos0 = r.pos - 1
        ctx = genome.fetch(r.chrom, pos0 - (k - 1), pos0 + k).codes.astype(np.int64)  # 2k - 1 bases
        if ctx[k - 1] == N_CODE or BASES[ctx[k - 1]] != r.ref.upper():
            continue
        alt = ctx.copy()
        alt[k - 1] = BASES.index(r.alt.upper())
        total = 0.0
        for s in range(k):
            for seq, sign in ((ctx, -1.0), (alt, 1.0)):
                kmer = seq[s:s + k]
                if (kmer < 4).all():
                    total += sign * weights[canon[int(kmer @ place)]]
        out[i] = abs(total)
    return out


def score_vcfs(model: KmerModel, reference: str, vcfs: Sequence[str], out: str) -> dict:
    genome = Genome(reference)
    result = {}
    scores_by_file = {}
    for vcf in vcfs:
        rows = list(read_vcf(vcf))
        scores = kmer_delta_scores(vcf, genome, model)
        stem = os.path.basename(vcf)
        for ext in (".gz", ".vcf"):
            stem = stem[:-len(ext)] if stem.endswith(ext) else stem
        path = os.path.join(out, f"{stem}.kmer_delta.tsv")
        with open(path, "w") as fh:
            fh.write("chrom\tpos\tref\talt\tkmer_delta\n")
            for r, s in zip(rows, scores.tolist()):
                fh.write(f"{r.chrom}\t{r.pos}\t{r.ref}\t{r.alt}\t{'nan' if np.isnan(s) else f'{s:.10g}'}\n")
        scores_by_file[stem] = scores
        result[stem] = {"tsv": path, "n": len(scores), "n_scored": int(np.isfinite(scores).sum())}
    pos = scores_by_file.get("positives")
    if pos is not None:
        from sklearn.metrics import roc_auc_score
        for neg in ("negatives_random", "negatives_peak"):
            if neg in scores_by_file:
                a, b = pos[np.isfinite(pos)], scores_by_file[neg][np.isfinite(scores_by_file[neg])]
                if len(a) and len(b):
                    result[f"roc_auc_positives_vs_{neg}"] = round(float(roc_auc_score(
                        np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])), 4)
    return result


# -- CLI ----------------------------------------------------------------------------------------
def _common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--reference", default=DEFAULT_REFERENCE, help="FASTA (default ../shared/data/dm3/dm3_partial.fa.gz)")
    ap.add_argument("--peaks", nargs="+", default=None, help="peak BED files; protein = file name up to the first '_'")
    ap.add_argument("--peaks-dir", default=None, help=f"folder of peak files (default {DEFAULT_PEAKS_DIR} when "
                                                       f"--peaks is not given)")
    ap.add_argument("--peaks-glob", default=DEFAULT_PEAKS_GLOB, help="file pattern in --peaks-dir")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    if argv[:1] == ["kmer"]:
        ap = argparse.ArgumentParser(prog="prioritize_benchmark.py kmer",
                                     description="Baseline (d): 6-mer logistic regression; writes "
                                                 "<vcf>.kmer_delta.tsv (chrom pos ref alt kmer_delta)")
        _common(ap)
        ap.add_argument("--vcf", nargs="+", default=None,
                        help="VCFs to score (default the benchmark's three VCFs in --out)")
        ap.add_argument("--train-chromosomes", default="chr2R,chr3L,chr3R")
        ap.add_argument("--proteins", default=None, help="comma-separated proteins whose peaks are positives (default all)")
        ap.add_argument("--k", type=int, default=6)
        ap.add_argument("--window", type=int, default=200)
        ap.add_argument("--neg-ratio", type=float, default=2.0)
        ap.add_argument("--C", type=float, default=0.01, help="inverse L2 strength (standardised counts)")
        ap.add_argument("--weights", default=None, help="reuse a kmer_weights.tsv instead of training")
        args = ap.parse_args(argv[1:])
        if args.weights:
            model = KmerModel.read(args.weights)
        else:
            files = peak_files(args.peaks, args.peaks_dir or (None if args.peaks else DEFAULT_PEAKS_DIR), args.peaks_glob)
            model = train_kmer_model(args.reference, files, [c for c in args.train_chromosomes.split(",") if c],
                                     args.proteins.split(",") if args.proteins else None, args.k, args.window,
                                     args.neg_ratio, args.C, args.seed)
        os.makedirs(args.out, exist_ok=True)
        model.write(os.path.join(args.out, "kmer_weights.tsv"))
        vcfs = args.vcf or [os.path.join(args.out, f) for f in SET_FILES.values()]
        report = {"model": model.info, "scores": score_vcfs(model, args.reference, vcfs, args.out)}
        with open(os.path.join(args.out, "kmer_baseline.json"), "w") as fh:
            json.dump(report, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(ap)
        ap.add_argument("--motifs", default=DEFAULT_MOTIFS, help="MEME or JASPAR motif file")
        ap.add_argument("--chromosomes", default="chr2L,chrX")
        ap.add_argument("--max-positives-per-chrom", type=int, default=500)
        ap.add_argument("--ratio", type=float, default=4.0, help="negatives per positive, in each negative set")
        ap.add_argument("--pvalue", type=float, default=1e-4, help="strong-match p-value threshold")
        ap.add_argument("--weak-pvalue", type=float, default=1e-3, help="weak-match threshold for in-peak negatives")
        ap.add_argument("--margin", type=int, default=5, help="bp kept clear around weak matches")
        ap.add_argument("--protein-motifs", default=DEFAULT_PROTEIN_MOTIFS)
        args = ap.parse_args(argv)
        files = peak_files(args.peaks, args.peaks_dir or (None if args.peaks else DEFAULT_PEAKS_DIR), args.peaks_glob)
        summary = build(args.reference, files, args.motifs, [c for c in args.chromosomes.split(",") if c],
                        args.out, args.seed, args.max_positives_per_chrom, args.ratio, args.pvalue,
                        args.weak_pvalue, args.margin, args.protein_motifs)
        print(json.dumps(summary["counts"], sort_keys=True))
    print(f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
