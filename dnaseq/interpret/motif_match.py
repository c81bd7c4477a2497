"""Motif-to-motif matching with TOMTOM (Gupta et al. 2007), through memelite's implementation.

dnaseq does not implement TOMTOM: :func:`tomtom` calls ``memelite.tomtom`` (the MEME suite's
algorithm re-implemented by J. Schreiber, complete scores, both strands) on probability
matrices and adds what a report needs:

* **q-values**: Benjamini-Hochberg over each query's p-values against every target of the
  database, as MEME's ``tomtom`` reports them, so a q-value depends on the database's size.
* **trimming**: a query's flanking columns carrying less than ``trim_ic`` bits are left out
  of the comparison (a first-layer filter is usually wider than the motif it learned);
  ``query_start`` / ``query_end`` say which columns were compared.
* **offset and orientation**: ``orientation`` is ``+`` when the query matches the target as
  given and ``-`` when it matches the target's reverse complement; ``offset`` is the target
  column (of the target as given for ``+``, of its reverse complement for ``-``) that the
  query's column 0 (of the untrimmed query) lines up with; it may be negative (the query
  starts before the target) or exceed the target's width minus one.

memelite's p-values use the target columns as the background, so with fewer than ~25
targets they depend strongly on which targets are given (memelite warns); match against a
whole database. Its numba kernels are compiled on first use and cached (tens of seconds once
per installation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..sequence.motifs import Motif, information_content


@dataclass
class TomtomResult:
    """All query x target comparisons: arrays (Q, T); rows of a dead query are NaN."""
    queries: List[str]
    targets: List[Motif]
    p: np.ndarray
    q: np.ndarray
    offset: np.ndarray
    overlap: np.ndarray
    orientation: np.ndarray  # "+" / "-" (object array)
    spans: List[Tuple[int, int]]  # compared columns [start, end) of each query

    def best(self) -> pd.DataFrame:
        """One row per query: its best target (lowest p-value) and the comparison's numbers."""
        rows = []
        for i, name in enumerate(self.queries):
            row = {"query": name, "query_start": self.spans[i][0], "query_end": self.spans[i][1]}
            if np.all(np.isnan(self.p[i])):
                row.update(match_id="", match_name="", p_value=np.nan, q_value=np.nan, offset=np.nan,
                           overlap=np.nan, orientation="")
            else:
                j = int(np.nanargmin(self.p[i]))
                row.update(self._pair(i, j))
            rows.append(row)
        return pd.DataFrame(rows)

    def for_target(self, prefix: str) -> pd.DataFrame:
        """Every query's comparison with the target whose id starts with ``prefix``
        (e.g. ``MA0529``), sorted by p-value."""
        js = [j for j, t in enumerate(self.targets) if t.id.startswith(prefix)]
        if not js:
            raise KeyError(f"no target motif id starts with {prefix!r}")
        rows = [{"query": self.queries[i], **self._pair(i, j)} for j in js for i in range(len(self.queries))
                if not np.isnan(self.p[i, j])]
        return pd.DataFrame(rows).sort_values("p_value", kind="stable").reset_index(drop=True)

    def _pair(self, i: int, j: int) -> dict:
        t = self.targets[j]
        return {"match_id": t.id, "match_name": t.name, "p_value": float(self.p[i, j]),
                "q_value": float(self.q[i, j]), "offset": int(self.offset[i, j]),
                "overlap": int(self.overlap[i, j]), "orientation": self.orientation[i, j]}


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of a 1-D array of p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    vals = p[ok]
    if not len(vals):
        return q
    order = np.argsort(vals, kind="stable")
    ranked = vals[order] * len(vals) / np.arange(1, len(vals) + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(vals)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def trim_span(pfm: np.ndarray, min_ic: float) -> Tuple[int, int]:
    """[start, end) without the flanking columns under ``min_ic`` bits (at least the best column)."""
    ic = information_content(pfm)
    keep = np.nonzero(ic >= min_ic)[0]
    if not len(keep):
        best = int(np.argmax(ic))
        return best, best + 1
    return int(keep[0]), int(keep[-1]) + 1


def tomtom(queries: Sequence[Optional[np.ndarray]], targets: Sequence[Motif], names: Optional[Sequence[str]] = None,
           trim_ic: float = 0.0, n_jobs: int = -1) -> TomtomResult:
    """Compare probability matrices (4, W) with every target motif (see module docstring).

    A query that is None (e.g. a filter with no sites) gets NaN everywhere.
    """
    # memelite (and numba) are optional: imported only when motifs are matched
    from memelite import tomtom as _memelite_tomtom

    names = list(names) if names is not None else [f"query{i}" for i in range(len(queries))]
    n_q, n_t = len(queries), len(targets)
    p = np.full((n_q, n_t), np.nan)
    offset, overlap = np.full((n_q, n_t), np.nan), np.full((n_q, n_t), np.nan)
    orient = np.full((n_q, n_t), "", dtype=object)
    spans = [(0, 0)] * n_q
    live = [i for i, m in enumerate(queries) if m is not None]
    if live and n_t:
        trimmed = []
        for i in live:
            s, e = trim_span(queries[i], trim_ic) if trim_ic > 0 else (0, queries[i].shape[1])
            spans[i] = (s, e)
            trimmed.append(np.ascontiguousarray(queries[i][:, s:e], dtype=np.float64))
        t_pfms = [np.ascontiguousarray(t.pfm, dtype=np.float64) for t in targets]
        res = _memelite_tomtom(trimmed, t_pfms, n_jobs=n_jobs)
        rows = np.array(live)
        p[rows] = res[0]
        offset[rows] = res[2] - np.array([spans[i][0] for i in live])[:, None]  # untrimmed frame
        overlap[rows] = res[3]
        orient[rows] = np.where(res[4] > 0.5, "-", "+")
    q = np.vstack([benjamini_hochberg(row) for row in p]) if n_q else p.copy()
    return TomtomResult(names, list(targets), p, q, offset, overlap, orient, spans)
