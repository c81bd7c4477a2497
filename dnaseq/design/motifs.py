"""Motifs a design must not create: log-odds scans of motifs (MEME or JASPAR files, read by
:mod:`dnaseq.sequence.motifs`) and the per-edit check.

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
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..sequence.motifs import Motif, read_background, read_motifs
from ..settings import deprecated_spelling

log = logging.getLogger(__name__)

SCALE = 100  # log-odds units per bit
PSEUDO = 0.01


@dataclass
class MotifScan:
    """One strand of a motif as it is scanned: integer log-odds ``lo`` (w, 5) (columns A, C, G, T, N)
    and threshold."""
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

    def __init__(self, motifs: Sequence[MotifScan]):
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
            motifs += [MotifScan(name, lo, thr), MotifScan(name + "(-)", np.ascontiguousarray(rc), thr)]
        return cls(motifs)

    @classmethod
    def from_motifs(cls, motifs: Sequence[Motif], pvalue: float = 1e-4,
                    background: Optional[Sequence[float]] = None) -> "MotifSet":
        """From :class:`~dnaseq.sequence.motifs.Motif` objects, named by their ids (made unique)."""
        return cls.from_probabilities(_by_id(motifs), pvalue, background)

    @classmethod
    def from_file(cls, path: str, pvalue: float = 1e-4) -> "MotifSet":
        """From a MEME or JASPAR motif file (with the background frequencies a MEME file states)."""
        return cls.from_motifs(read_motifs(path), pvalue, read_background(path))

    @classmethod
    def from_meme(cls, path: str, pvalue: float = 1e-4) -> "MotifSet":
        """The 0.1 name of :meth:`from_file` (which reads JASPAR files too), with a warning."""
        deprecated_spelling("MotifSet.from_meme", "MotifSet.from_file")
        return cls.from_file(path, pvalue)

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
    """The 0.1 reader, kept for old callers (with a warning): letter-probability matrices (w, 4) by
    motif id and the background (or None) of a MEME file, read by :mod:`dnaseq.sequence.motifs`."""
    deprecated_spelling("dnaseq.design.read_meme", "dnaseq.sequence.motifs.read_motifs and read_background")
    return _by_id(read_motifs(path)), read_background(path)


def _by_id(motifs: Sequence[Motif]) -> Dict[str, np.ndarray]:
    """Letter-probability matrices (w, 4) by motif id (a repeated id gets ``_2``, ``_3`` ...)."""
    matrices: Dict[str, np.ndarray] = {}
    for m in motifs:
        name, k = m.id, 2
        while name in matrices:
            name, k = f"{m.id}_{k}", k + 1
        matrices[name] = np.asarray(m.pfm, float).T
    return matrices
