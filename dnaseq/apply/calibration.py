"""Calibrated variant effects: how unusual an effect is against a background of variants.

A *background* (``dnaseq background``, :mod:`dnaseq.prioritize.background`) is the distribution,
per chromatin feature and per score type, of the absolute effects ``|diff|`` and
``|logit_diff|`` (and optionally ``|combined|``) of a set of background variants scored with one
checkpoint. A scored variant's **e-value** for a feature is the empirical tail probability

    e(x) = (1 + #{background values >= |x|}) / (1 + n)

(n background variants): the expected fraction of background variants with an effect at least
as large, with the +1's so it is never 0 (the smallest possible is ``1 / (1 + n)``) and never
above 1. It is non-increasing in ``|x|``.

The stored distribution (a sketch, so memory and file stay bounded for 10^6 variants and 919
features): for each score type and feature, the ``tail`` largest values exactly (sorted), and a
histogram of *all* values over ``BINS`` log-spaced bins (relative width about 1%, from
``1e-9 x top`` to ``top``, the largest value the score can take; a first bin [0, 1e-9 x top)).
When ``n <= tail`` every value is kept and e-values are exact. Past it, an effect larger than the
``tail``-th largest background value still gets its exact count (every larger background value is
in the tail); a smaller one is counted from the histogram, interpolated linearly inside its bin,
and never below ``tail`` (so e-values stay monotone). Such e-values are at least ``tail / (1 + n)``
and their error comes only from the interpolation inside one bin.

Summary per row and score type (columns ``min_evalue_<s>``, ``min_feature_<s>``,
``n_below_<s>``, ``combined_evalue_<s>``): the smallest e-value over features, the feature it
belongs to, the number of features with an e-value below a threshold (default 0.01), and a
combination across features by **Simes' rule**, ``min_i(F * e_(i) / i)`` over the e-values sorted
ascending, capped at 1. Why Simes and not DeepSEA's geometric mean: features are strongly
dependent (the same protein in two cell lines, marks that travel together); Simes' combination
stays a valid p-value under the positive dependence such features show, is as sensitive as
Bonferroni's ``F * min`` when one feature is affected and more so when several are, and is not
dragged towards 1 by the hundreds of features a variant does not touch (a geometric mean over
919 features mostly measures those). Cauchy combination (ACAT) was rejected because empirical
e-values of 1 (an effect below every background value) send it to minus infinity.

The file (HDF5, a few MB): attributes ``format`` (``"dnaseq background"``), ``format_version``,
``features`` (JSON list), ``n`` (background variants scored), ``provenance`` (JSON: model
fingerprint, checkpoint, reference path and checksum (MD5 of the file), strand, window, N fill, the source and how it
was drawn, the dnaseq version); per score type a group ``/<score>`` with ``tail`` (k, F)
float32 sorted ascending per column, ``hist`` (BINS, F) int64 and ``edges`` (BINS + 1,) float64.
Written by hand with h5py: the sketch is two numpy arrays per score, and no statistics library
keeps an exact tail beside a histogram in a file that runs no code when read.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Optional, Sequence

import h5py
import numpy as np

from ..models.state import fingerprint
from ..sequence.genome import file_checksum
from .variant_writers import DEFAULT_THRESHOLD

FORMAT = "dnaseq background"
FORMAT_VERSION = 1
BINS = 2048
#: the score types a background can hold, with the largest absolute value each can take
#: (|logit_diff| <= 2 * logit(1 - 1e-6) = 27.63 with the clipping of :func:`effect_scores`)
TOPS = {"diff": 1.0, "logit_diff": 28.0, "combined": 28.0}
DEFAULT_BACKGROUND_SCORES = ("diff", "logit_diff")
#: the provenance entries that must agree between a background and the run that uses it
MUST_MATCH = ("model_fingerprint", "features", "reference_checksum", "strand", "window", "fill")
SUMMARY_PARTS = ("min_evalue", "min_feature", "n_below", "combined_evalue")


def provenance(net, features: Sequence[str], reference: str, strand: str, window: int, fill: float,
               checkpoint: str, model_fingerprint: Optional[str] = None) -> Dict:
    """What a background and the runs that use it must share (``MUST_MATCH``), plus names for
    messages (``model_fingerprint``: ``net``'s, when the caller has it already)."""
    return {"model_fingerprint": model_fingerprint or fingerprint(net), "features": list(features), "reference": str(reference),
            "reference_checksum": file_checksum(str(reference)), "strand": strand, "window": int(window),
            "fill": float(fill), "checkpoint": str(checkpoint)}


def default_tail(n_features: int, n_scores: int, budget: int = 1 << 25) -> int:
    """Exact values kept per feature: 100,000, or fewer so that all tails together hold at most
    ``budget`` float32 values (128 MiB)."""
    return int(max(1000, min(100_000, budget // max(1, n_features * n_scores))))


def edges_for(score: str) -> np.ndarray:
    top = TOPS[score]
    return np.concatenate([[0.0], np.geomspace(1e-9 * top, top, BINS)])


class Distribution:
    """The |effect| distribution of one score type over ``F`` features (see module docstring)."""

    def __init__(self, n_features: int, tail: int, edges: np.ndarray):
        self.F, self.tail, self.edges = int(n_features), int(tail), np.asarray(edges, np.float64)
        self.n = 0
        self.hist = np.zeros((len(self.edges) - 1, self.F), np.int64)
        self._top = np.empty((0, self.F), np.float32)  # the largest values so far (unsorted after a trim)
        self._pending: List[np.ndarray] = []  # chunks not yet merged into _top (merged once they hold tail rows)
        self._pending_rows = 0
        self._sorted = True  # whether _top is sorted ascending per column with nothing pending

    def add(self, values: np.ndarray) -> None:
        """Add rows (m, F) of effects (their absolute values are used)."""
        v = np.abs(np.asarray(values, np.float32))
        if v.ndim != 2 or v.shape[1] != self.F:
            raise ValueError(f"expected (m, {self.F}) effects, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("background effects must be finite (the model gave NaN or inf)")
        if not len(v):
            return
        self.n += len(v)
        bins = np.clip(np.searchsorted(self.edges, v, side="right") - 1, 0, len(self.edges) - 2)
        flat = (bins * self.F + np.arange(self.F)).ravel()
        self.hist += np.bincount(flat, minlength=self.hist.size).reshape(self.hist.shape)
        self._pending.append(v)
        self._pending_rows += len(v)
        self._sorted = False
        if self._pending_rows >= self.tail:  # merging costs O(tail * F): done once per tail rows, not per chunk
            self._trim()

    def _trim(self) -> None:
        if self._pending:
            self._top = np.concatenate([self._top] + self._pending)
            self._pending, self._pending_rows = [], 0
        if len(self._top) > self.tail:
            self._top = -np.partition(-self._top, self.tail - 1, axis=0)[:self.tail]

    def sorted_tail(self) -> np.ndarray:
        """The kept values (k, F), ascending per column (sorted once, not per query)."""
        if not self._sorted:
            self._trim()
            self._top = np.sort(self._top, axis=0)
            self._sorted = True
        return self._top

    @property
    def exact(self) -> bool:
        return self.n <= self.tail

    def count_at_least(self, x: np.ndarray) -> np.ndarray:
        """Number of background values >= |x| (m, F) per feature (float: interpolated past the tail)."""
        x = np.abs(np.asarray(x, np.float32))
        tail = self.sorted_tail()
        k = len(tail)
        counts = np.empty(x.shape, np.float64)
        for f in range(self.F):
            counts[:, f] = k - np.searchsorted(tail[:, f], x[:, f], side="left")
        if self.exact or not k:
            return counts
        below = x <= tail[0]  # at or below the smallest kept value: from the histogram
        if np.any(below):
            cum = np.concatenate([np.cumsum(self.hist[::-1], axis=0)[::-1], np.zeros((1, self.F), np.int64)])
            xb = x.astype(np.float64)
            j = np.clip(np.searchsorted(self.edges, xb, side="right") - 1, 0, len(self.edges) - 2)
            lo, hi = self.edges[j], self.edges[j + 1]
            cols = np.broadcast_to(np.arange(self.F), x.shape)
            frac = np.clip((hi - xb) / (hi - lo), 0.0, 1.0)
            approx = cum[j + 1, cols] + self.hist[j, cols] * frac
            counts = np.where(below, np.maximum(approx, k), counts)
        return counts

    def evalues(self, x: np.ndarray) -> np.ndarray:
        """``(1 + #background >= |x|) / (1 + n)`` per value (m, F); NaN where ``x`` is NaN."""
        x = np.asarray(x, np.float64)
        nan = np.isnan(x)
        e = (1.0 + self.count_at_least(np.where(nan, 0.0, x))) / (1.0 + self.n)
        e = np.minimum(e, 1.0)
        e[nan] = np.nan
        return e


def simes(evalues: np.ndarray) -> np.ndarray:
    """Simes' combination of each row's e-values (m, F): ``min_i F * e_(i) / i``, capped at 1."""
    e = np.sort(evalues, axis=1)
    F = e.shape[1]
    return np.minimum(1.0, np.min(e * F / np.arange(1, F + 1), axis=1))


class Background:
    """A background read from (or about to be written to) a file: one :class:`Distribution` per score."""

    def __init__(self, features: Sequence[str], distributions: Dict[str, Distribution], provenance: Dict,
                 path: Optional[str] = None):
        self.features, self.distributions, self.provenance, self.path = list(features), distributions, provenance, path

    @classmethod
    def empty(cls, features: Sequence[str], scores: Sequence[str], provenance: Dict,
              tail: Optional[int] = None) -> "Background":
        bad = [s for s in scores if s not in TOPS]
        if bad or not scores:
            raise ValueError(f"background scores must be among {', '.join(TOPS)}; got {list(scores)}")
        tail = tail or default_tail(len(features), len(scores))
        return cls(features, {s: Distribution(len(features), tail, edges_for(s)) for s in scores}, provenance)

    @property
    def n(self) -> int:
        return next(iter(self.distributions.values())).n

    @property
    def scores(self) -> List[str]:
        return list(self.distributions)

    @property
    def fingerprint(self) -> str:
        """Which background this is, whatever its file is called: a hash of its provenance (the
        checkpoint, reference, draw and count). E-values against two backgrounds are not comparable."""
        text = json.dumps({**self.provenance, "n_variants": self.n}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: str) -> None:
        with h5py.File(path, "w") as h5:
            h5.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "n": self.n,
                             "features": json.dumps(self.features),
                             "provenance": json.dumps({**self.provenance, "n_variants": self.n})})
            for s, d in self.distributions.items():
                g = h5.create_group(s)
                g.attrs["tail_size"] = d.tail
                g.create_dataset("tail", data=d.sorted_tail(), compression="gzip")
                g.create_dataset("hist", data=d.hist, compression="gzip")
                g.create_dataset("edges", data=d.edges)

    @classmethod
    def load(cls, path: str, unfinished: bool = False) -> "Background":
        """Read a background file; one-line errors for a missing file, a file of another kind, or
        (unless ``unfinished``) the state of a stopped run, which counts only part of its variants."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"background file not found: {path}")
        try:
            h5 = h5py.File(path, "r")
        except OSError as exc:
            raise ValueError(f"{path} is not a dnaseq background (not a readable HDF5 file: {exc}); "
                             f"make one with dnaseq background") from None
        with h5:
            if h5.attrs.get("format") != FORMAT:
                raise ValueError(f"{path} is an HDF5 file but not a dnaseq background; make one with "
                                 f"dnaseq background")
            if int(h5.attrs["format_version"]) > FORMAT_VERSION:
                raise ValueError(f"{path} is a background of format version {int(h5.attrs['format_version'])}; "
                                 f"this dnaseq reads up to {FORMAT_VERSION}: upgrade dnaseq")
            features = json.loads(h5.attrs["features"])
            dists = {}
            for s in h5:
                g = h5[s]
                d = Distribution(len(features), int(g.attrs["tail_size"]), g["edges"][:])
                d._top, d.hist, d.n = g["tail"][:].astype(np.float32), g["hist"][:], int(h5.attrs["n"])
                dists[s] = d
            provenance = json.loads(h5.attrs["provenance"])
        state = provenance.get("resume")
        if state and not unfinished:
            raise ValueError(f"{path} is the state of a background run that stopped after {int(state['consumed']):,} "
                             f"variants, not a finished background: finish it by running the same dnaseq background "
                             f"command with --resume")
        return cls(features, dists, provenance, path)

    def check_matches(self, provenance: Dict) -> None:
        """Refuse, in one line, a background made under other settings than ``provenance``."""
        differs = []
        for key in MUST_MATCH:
            mine, theirs = self.provenance.get(key), provenance.get(key)
            if mine != theirs:
                if key == "features":
                    differs.append(f"features ({len(mine or [])} in the background, {len(theirs or [])} here)"
                                   if len(mine or []) != len(theirs or []) else "feature names")
                elif key == "model_fingerprint":
                    differs.append(f"checkpoint (background made with {self.provenance.get('checkpoint')}, "
                                   f"other weights)")
                elif key == "reference_checksum":
                    differs.append(f"reference (background made on {self.provenance.get('reference')})")
                else:
                    differs.append(f"{key} ({mine} in the background, {theirs} here)")
        if differs:
            raise ValueError(f"background {self.path} was made with another " + "; another ".join(differs)
                             + ": make a background with this checkpoint and reference (dnaseq background)")

    def annotate(self, values: Dict[str, np.ndarray], threshold: float = DEFAULT_THRESHOLD):
        """E-values (``evalue_<s>`` -> (m, F)) and the per-row summary columns of a chunk's scores
        ``values`` (which must hold every score type of the background; NaN rows stay NaN)."""
        evalues, summary = {}, {}
        for s, d in self.distributions.items():
            e = d.evalues(values[s])
            evalues[f"evalue_{s}"] = e
            scored = ~np.isnan(e).any(axis=1)
            m = len(e)
            mins, feats = np.full(m, np.nan), np.array([""] * m, dtype=object)
            n_below, combined = np.full(m, np.nan), np.full(m, np.nan)
            if scored.any():
                es = e[scored]
                arg = np.argmin(es, axis=1)
                mins[scored] = es[np.arange(len(es)), arg]
                feats[scored] = np.asarray(self.features, dtype=object)[arg]
                n_below[scored] = np.sum(es < threshold, axis=1)
                combined[scored] = simes(es)
            summary.update({f"min_evalue_{s}": mins, f"min_feature_{s}": feats, f"n_below_{s}": n_below,
                            f"combined_evalue_{s}": combined})
        return evalues, summary

    def evalue_names(self) -> List[str]:
        return [f"evalue_{s}" for s in self.distributions]

    def summary_names(self) -> List[str]:
        return [f"{p}_{s}" for s in self.distributions for p in SUMMARY_PARTS]
