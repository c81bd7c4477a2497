"""Motifs a design must not create: MEME motif files, log-odds scans and the per-edit check.

Each motif's letter probabilities become an integer log-odds matrix (``log2((p + 0.01) / 1.04 / bg)``
in hundredths of a bit); its threshold is the smallest score whose probability under the
background is at most ``pvalue`` (FIMO's default 1e-4), from the exact score distribution
(a convolution over the columns). A motif too short to reach that p-value can never hit (a
warning says so). Both strands are scanned: the reverse complement is scanned as a motif of its
own. Integer scores make a hit a yes/no question with no rounding.

Why not FIMO (memelite): the check runs for every candidate edit of every design step -- 3 x L
edits at once -- and an edit at position p changes only the windows that cover p, so the new
score is ``old + LO[k, new] - LO[k, old]``: a vectorised update over all edits, which a
per-sequence scanner cannot do. N scores the column's mean.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

SCALE = 100  # log-odds units per bit
PSEUDO = 0.01


@dataclass
class Motif:
    """One strand of a motif: integer log-odds ``lo`` (w, 5) (columns A, C, G, T, N) and threshold."""
    name: str
    lo: np.ndarray
    threshold: int

    @property
    def width(self) -> int:
        return self.lo.shape[0]

    def scores(self, codes: np.ndarray) -> np.ndarray:
        """Scores (B, L - w + 1) int of every window of codes (B, L)."""
        B, L = codes.shape
        S = L - self.width + 1
        out = np.zeros((B, max(S, 0)), np.int64)
        for k in range(self.width):
            out += self.lo[k][codes[:, k:k + S]]
        return out


class MotifSet:
    """Forbidden motifs (both strands of each): which edits would create a hit the start lacked."""

    def __init__(self, motifs: Sequence[Motif]):
        self.motifs = list(motifs)

    @classmethod
    def from_probabilities(cls, matrices: Mapping[str, np.ndarray], pvalue: float = 1e-4,
                           background: Optional[Sequence[float]] = None) -> "MotifSet":
        """From letter-probability matrices (w, 4) (columns A, C, G, T), both strands."""
        bg = np.full(4, 0.25) if background is None else np.asarray(background, float) / np.sum(background)
        motifs = []
        for name, probs in matrices.items():
            lo = log_odds(np.asarray(probs, float), bg)
            rc = np.concatenate([lo[::-1, 3::-1], lo[::-1, 4:]], axis=1)
            thr = threshold(lo[:, :4], bg, pvalue)
            if thr > lo[:, :4].max(axis=1).sum():
                log.warning("motif %s (%d bp) cannot reach p <= %g: it is never counted as a hit", name,
                            lo.shape[0], pvalue)
            motifs += [Motif(name, lo, thr), Motif(name + "(-)", np.ascontiguousarray(rc), thr)]
        return cls(motifs)

    @classmethod
    def from_meme(cls, path: str, pvalue: float = 1e-4) -> "MotifSet":
        """From a MEME-format motif file (its background frequencies when it gives them)."""
        matrices, bg = read_meme(path)
        return cls.from_probabilities(matrices, pvalue, bg)

    def __len__(self) -> int:
        return len(self.motifs) // 2

    def hits(self, codes: np.ndarray) -> List[np.ndarray]:
        """Per motif strand, (B, L - w + 1) bool: which windows of codes (B, L) are hits."""
        return [m.scores(codes) >= m.threshold for m in self.motifs]

    def creates(self, codes: np.ndarray, allowed: List[np.ndarray]) -> np.ndarray:
        """(B, L, 4) bool: writing base b at position l of codes (B, L) makes a hit that is not
        in ``allowed`` (per motif strand, (B, S) bool: the start sequence's hits)."""
        B, L = codes.shape
        out = np.zeros((B, L, 4), bool)
        for motif, ok in zip(self.motifs, allowed):
            S = L - motif.width + 1
            if S < 1:
                continue
            score = motif.scores(codes)
            for k in range(motif.width):
                old = motif.lo[k][codes[:, k:k + S]]  # (B, S): column k's share of window s
                new = score[:, :, None] - old[:, :, None] + motif.lo[k, :4][None, None, :]
                out[:, k:k + S, :] |= (new >= motif.threshold) & ~ok[:, :, None]
        return out

    def names_hit(self, codes: np.ndarray, allowed: List[np.ndarray]) -> List[List[str]]:
        """Per row of codes, the motifs with a hit not in ``allowed`` (for reports and tests)."""
        names: List[List[str]] = [[] for _ in range(len(codes))]
        for motif, hit, ok in zip(self.motifs, self.hits(codes), allowed):
            for b in np.nonzero((hit & ~ok).any(axis=1))[0]:
                names[b].append(motif.name)
        return names


def log_odds(probs: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Integer log-odds (w, 5) of letter probabilities (w, 4); column 4 (N) is the row mean."""
    if probs.ndim != 2 or probs.shape[1] != 4 or len(probs) == 0:
        raise ValueError(f"a motif must be a (width, 4) probability matrix, got shape {probs.shape}")
    if (probs < 0).any():
        raise ValueError("motif probabilities must not be negative")
    p = probs / probs.sum(axis=1, keepdims=True)
    lo = np.rint(SCALE * np.log2((p + PSEUDO) / (1 + 4 * PSEUDO) / bg)).astype(np.int64)
    return np.concatenate([lo, np.floor(lo.mean(axis=1, keepdims=True)).astype(np.int64)], axis=1)


def threshold(lo: np.ndarray, bg: np.ndarray, pvalue: float) -> int:
    """Smallest integer score s with P(score >= s) <= pvalue for random background sequence."""
    lows = lo.min(axis=1)
    pmf = np.ones(1)
    for row, low in zip(lo, lows):
        nxt = np.zeros(len(pmf) + int(row.max() - low))
        for b in range(4):
            shift = int(row[b] - low)
            nxt[shift:shift + len(pmf)] += bg[b] * pmf
        pmf = nxt
    survival = np.cumsum(pmf[::-1])[::-1]  # survival[i] = P(score >= lows.sum() + i)
    ok = np.nonzero(survival <= pvalue * (1 + 1e-9))[0]
    return int(lows.sum() + (ok[0] if len(ok) else len(pmf)))


def read_meme(path: str) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
    """Letter-probability matrices (w, 4) by motif name, and the background (or None), of a
    MEME-format file (DNA alphabet). Problems are reported as ``file:line: problem``."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    matrices: Dict[str, np.ndarray] = {}
    bg, name, i = None, None, 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("Background letter frequencies"):
            bg = _background(lines, i + 1, path)
        elif line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise ValueError(f"{path}:{i + 1}: MOTIF line without a name")
            name = parts[1]
        elif line.startswith("letter-probability matrix"):
            if name is None:
                raise ValueError(f"{path}:{i + 1}: a matrix before any MOTIF line")
            m = re.search(r"w=\s*(\d+)", line)
            w = int(m.group(1)) if m else None
            key = _unique(name, matrices)
            matrices[key] = _matrix(lines, i + 1, w, path)
            i += len(matrices[key])
        i += 1
    if not matrices:
        raise ValueError(f"{path}: no motifs (expected MEME format: 'MOTIF name' and "
                         f"'letter-probability matrix:' blocks)")
    return matrices, bg


def _matrix(lines: List[str], start: int, width: Optional[int], path: str) -> np.ndarray:
    rows = []
    for j in range(start, len(lines)):
        fields = lines[j].split()
        if not fields or (width is not None and len(rows) == width):
            break
        try:
            row = [float(v) for v in fields]
        except ValueError:
            if width is None:
                break
            raise ValueError(f"{path}:{j + 1}: expected 4 probabilities, got {lines[j].strip()!r}") from None
        if len(row) != 4:
            raise ValueError(f"{path}:{j + 1}: expected 4 probabilities (A C G T), got {len(row)}")
        rows.append(row)
    if not rows or (width is not None and len(rows) != width):
        raise ValueError(f"{path}:{start}: the matrix has {len(rows)} rows, not w={width}")
    return np.array(rows)


def _background(lines: List[str], start: int, path: str) -> Optional[np.ndarray]:
    if start >= len(lines):
        return None
    fields = lines[start].split()
    values = dict(zip(fields[::2], fields[1::2]))
    try:
        bg = np.array([float(values[b]) for b in "ACGT"])
    except (KeyError, ValueError):
        raise ValueError(f"{path}:{start + 1}: cannot read the background frequencies "
                         f"(expected 'A p C p G p T p')") from None
    return bg / bg.sum()


def _unique(name: str, seen: Mapping[str, np.ndarray]) -> str:
    out, k = name, 2
    while out in seen:
        out, k = f"{name}_{k}", k + 1
    return out
