"""Which single-base edits a design may make: budget, protected bases, GC range, motifs.

:class:`Constraints` holds the settings; :meth:`Constraints.bind` ties them to the start
sequences and gives :class:`Rules`, whose :meth:`Rules.allowed` answers, for a batch of current
sequences (each descended from one start), which (position, base) edits are allowed:

* the base differs from the current one, the position is not protected and is not N in the
  start (N marks unknown sequence and padding past a chromosome end: it is never designed);
* budget: the edited sequence differs from its start at no more than ``max_edits`` positions
  (editing an already edited position again, or back, is allowed at the limit);
* GC range: the edited sequence's G+C share of its known bases lies in ``gc_range``; a
  sequence outside the range may take only edits that do not move it further out (a design
  ends at least as close to the range as its start);
* motifs (:class:`~dnaseq.design.motifs.MotifSet`): the edit creates no hit of a forbidden
  motif (either strand) that the start does not have.

``protect_core`` protects the central bases (the DeepSEA bin, say); ``protected`` masks from a
BED file are built by :func:`protected_mask` in :mod:`dnaseq.design.run`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from ..sequence.encoding import N_CODE
from .motifs import MotifSet

_GC = np.array([False, True, True, False, False])  # A C G T N


@dataclass
class Constraints:
    """Edit budget, protected central core, GC range and forbidden motifs (module docstring)."""
    max_edits: int = 5
    protect_core: int = 0
    gc_range: Optional[Tuple[float, float]] = None
    motifs: Optional[MotifSet] = None

    def __post_init__(self):
        if self.max_edits < 1:
            raise ValueError(f"max_edits must be at least 1, got {self.max_edits}")
        if self.protect_core < 0:
            raise ValueError(f"protect_core must be >= 0, got {self.protect_core}")
        if self.gc_range is not None:
            lo, hi = map(float, self.gc_range)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"gc_range must satisfy 0 <= min <= max <= 1, got {self.gc_range}")
            self.gc_range = (lo, hi)

    def bind(self, starts: np.ndarray, protected: Optional[np.ndarray] = None) -> "Rules":
        """Rules for start sequences ``starts`` (N, L) uint8 codes; ``protected`` (L,) or (N, L)
        bool marks bases that may not change."""
        return Rules(self, np.ascontiguousarray(starts, dtype=np.uint8), protected)


def core_mask(length: int, core: int) -> np.ndarray:
    """(L,) bool: the ``core`` central bases (``[L//2 - core//2, + core)``, DeepSEA's centring)."""
    mask = np.zeros(length, bool)
    if core > 0:
        lo = max(0, length // 2 - core // 2)
        mask[lo:lo + core] = True
    return mask


class Rules:
    """:class:`Constraints` bound to start sequences (N, L); see the module docstring."""

    def __init__(self, constraints: Constraints, starts: np.ndarray, protected: Optional[np.ndarray] = None):
        if starts.ndim != 2:
            raise ValueError(f"start sequences must be codes (N, L), got shape {starts.shape}")
        self.c = constraints
        self.start = starts
        n, L = starts.shape
        fixed = np.zeros((n, L), bool) if protected is None else np.broadcast_to(np.asarray(protected, bool), (n, L))
        if constraints.protect_core >= L:
            raise ValueError(f"protect_core {constraints.protect_core} covers the whole {L} bp sequence: no base is "
                             f"left to edit (protect fewer than {L} central bases)")
        self.editable = ~(fixed | core_mask(L, constraints.protect_core)[None, :] | (starts == N_CODE))
        if n and not self.editable.any():
            if (starts == N_CODE).all():
                raise ValueError("the start sequences are all N: there is no base to edit (choose regions with sequence)")
            raise ValueError("no base of any start sequence may change: the protected bases (protect BED, "
                             "protect_core) and N cover them all")
        self.known = (starts < N_CODE).sum(axis=1)
        self.start_hits = constraints.motifs.hits(starts) if constraints.motifs is not None else None

    @property
    def n(self) -> int:
        return len(self.start)

    @property
    def max_edits(self) -> int:
        return self.c.max_edits

    def n_edits(self, codes: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """Positions (B,) at which each sequence differs from its start."""
        return (codes != self.start[origin]).sum(axis=1)

    def allowed(self, codes: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """(B, L, 4) bool: the allowed edits of ``codes`` (B, L), row b descended from start ``origin[b]``."""
        codes = np.asarray(codes, np.uint8)
        start = self.start[origin]
        ok = np.repeat(self.editable[origin][:, :, None], 4, axis=2)
        ok &= np.arange(4)[None, None, :] != codes[:, :, None]
        diff = codes != start
        new_d = diff.sum(1)[:, None, None] - diff[:, :, None] + (np.arange(4)[None, None, :] != start[:, :, None])
        ok &= new_d <= self.c.max_edits
        if self.c.gc_range is not None:
            ok &= self._gc_ok(codes, origin)
        if self.start_hits is not None and ok.any():
            ok &= ~self.c.motifs.creates(codes, [h[origin] for h in self.start_hits])
        return ok

    def _gc_ok(self, codes: np.ndarray, origin: np.ndarray) -> np.ndarray:
        lo, hi = self.c.gc_range
        n = np.maximum(self.known[origin], 1).astype(float)[:, None, None]
        gc = _GC[codes]
        new = (gc.sum(1)[:, None, None] - gc[:, :, None] + _GC[None, None, :4]) / n
        cur = gc.sum(1)[:, None, None] / n
        eps = 1e-9
        return ((new >= lo - eps) & (new <= hi + eps)) | (_outside(new, lo, hi) <= _outside(cur, lo, hi) + eps)

    def gc(self, codes: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """G+C share (B,) of the known bases of ``codes``."""
        return _GC[np.asarray(codes)].sum(1) / np.maximum(self.known[origin], 1)

    def violations(self, codes: np.ndarray, origin: np.ndarray) -> List[List[str]]:
        """Per sequence, the constraints it breaks (empty lists when it keeps them all)."""
        codes = np.asarray(codes, np.uint8)
        out: List[List[str]] = [[] for _ in range(len(codes))]
        changed = codes != self.start[origin]
        for b in range(len(codes)):
            if changed[b].sum() > self.c.max_edits:
                out[b].append(f"{int(changed[b].sum())} edits > {self.c.max_edits}")
            if (changed[b] & ~self.editable[origin[b]]).any():
                out[b].append("protected or N base changed")
        if self.c.gc_range is not None:
            lo, hi = self.c.gc_range
            now, then = self.gc(codes, origin), self.gc(self.start[origin], origin)
            for b in np.nonzero(_outside(now, lo, hi) > _outside(then, lo, hi) + 1e-9)[0]:
                out[b].append(f"GC {now[b]:.3f} outside {lo:g}-{hi:g}")
        if self.start_hits is not None:
            for b, names in enumerate(self.c.motifs.names_hit(codes, [h[origin] for h in self.start_hits])):
                out[b] += [f"creates {n}" for n in names]
        return out


def _outside(x, lo: float, hi: float):
    """How far x lies outside [lo, hi] (0 inside)."""
    return np.maximum(lo - x, 0) + np.maximum(x - hi, 0)
