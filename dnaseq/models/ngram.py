"""k-th order Markov (n-gram) models of DNA: the bar a neural DNA language model must clear.

``dnaseq lm-baseline`` fits every order k = 0..K (K <= 12) once, on the training sequences, and
reports held-out bits per base for each k (the job: :mod:`dnaseq.apply.lm_baseline`). numpy
only: nothing here imports torch, Lightning or matplotlib at module level.

Rules (every number the command prints follows from these):

* **Alphabet.** Sequences are uint8 codes (:mod:`dnaseq.sequence.encoding`): 0..3 = A, C, G, T.
  Any other code (4 = N, which every IUPAC ambiguity code also becomes) is a *break*.
* **Order k** predicts base ``x[i]`` from the k bases before it, ``P(x[i] | x[i-k:i])``. A (k+1)-mer
  is the integer ``sum_t x[i-k+t] * 4**(k-t)`` (first base most significant, as in
  :func:`dnaseq.models.kmers.canonical_kmers`): its context is ``index >> 2``, its predicted base
  ``index & 3``.
* **Breaks and starts.** No k-mer spanning a break is counted: the counts of order k are the
  counts of every (k+1)-long stretch free of N. A base with only r < k bases since the last break
  (or since the start of its sequence or window) is predicted by the order-r model, i.e. from the
  context it has (down to order 0, and with the order-r model's own top-order estimate, not the
  backoff distribution of order k). N positions are never predicted and never scored: they count
  in no total, and :meth:`NgramModel.log2_prob` gives NaN there. So a sequence with Ns scores
  exactly as the pieces between its Ns scored one by one (a test checks this).
* **Counting.** Every (K+1)-mer with a full context is encoded with K+1 shifted adds and counted
  with ``np.bincount`` (or a sort, when 4**(K+1) bins dwarf a block), block by block (1 Mbp
  blocks). Lower orders are the same array summed over its leading base (``reshape(4,
  -1).sum(0)``), plus the few positions within K bases after a break, counted directly. Short
  sequences are packed into blocks with an N between them (the same as counting them one by
  one). Memory is the count arrays (4**(K+1) int32 = 268 MB at K = 12, a third more for the
  lower orders) plus a few block-sized arrays: scoring keeps no per-context table, the four
  counts of a context are read together and smoothed on the fly.
* **Smoothing ``kn`` (default): interpolated modified Kneser-Ney** (Chen & Goodman 1999), three
  discounts per order::

      P_j(w | h) = (c_j(hw) - D_j(c_j(hw))) / c_j(h.)  +  gamma(h) * P'_{j-1}(w | h')
      gamma(h)   = (D_j1 N1(h.) + D_j2 N2(h.) + D_j3+ N3+(h.)) / c_j(h.)

  ``h'`` is ``h`` without its first base, ``c_j(h.) = sum_w c_j(hw)``, ``Nc(h.)`` the number of
  bases w with ``c_j(hw) = c`` (``N3+``: >= 3), ``D(0) = 0``. The top order of a model uses raw
  counts; every lower order ``P'_j`` uses continuation counts instead, ``c'_j(u) = number of
  distinct bases v with c_{j+1}(vu) > 0`` (distinct left extensions; an occurrence right after a
  break has none), in the same formula with its own discounts. The discounts of each order and
  kind come from its count-of-counts n1..n4 (entries equal to 1..4, each floored at 1):
  ``Y = n1 / (n1 + 2 n2)``, ``D1 = Y``, ``D2 = 2 - 3 Y n3 / n2``, ``D3+ = 3 - 4 Y n4 / n3``, with
  D2 and D3+ clamped to [D1, c] (so 0 < D <= c, every unseen base keeps some probability, and
  orders where every count is large, which have no n1 or n2, still get a discount). The
  three-discount form, not KN's single ``D = n1 / (n1 + 2 n2)``: DNA's high-order counts are
  Poisson-like rather than Zipfian, for which one discount trusts counts of 2 and more far too
  much (on ``data/dm3_insulators.h5``, k = 12: 2.44 held-out bits per base with one discount,
  2.11 with three; identical up to k = 8). Below order 0 sits the uniform distribution 1/4. A
  context never seen (``c(h.) = 0``) backs off entirely to the order below.
* **Smoothing ``wb``: interpolated Witten-Bell** on raw counts at every order::

      P_j(w | h) = (c_j(hw) + N1+(h.) * P_{j-1}(w | h')) / (c_j(h.) + N1+(h.))

  (Add-one is not offered: it is far too weak at high k, where most contexts are unseen.)
  Both smoothings give every base a positive probability and sum to 1 over A, C, G, T for every
  context, seen or not (a test checks this).
* **One fit, every order.** The order-k model uses raw counts at order k and (for KN) the
  continuation counts of the orders below, none of which depend on K, so one fit up to K serves
  every k <= K, and a model saved at order k (:meth:`NgramModel.save`) is the model fitted with
  ``max_k = k``. Evaluation scores all orders in one pass (the backoff chain of order k extends
  the one of order k - 1).
* **Files.** :meth:`NgramModel.save` writes a compressed ``.npz`` (plain arrays, no pickle): the
  raw counts of orders 0..k, the continuation counts of orders 0..k-1 (KN), the smoothing and k.
* **Inputs** (:mod:`dnaseq.apply.lm_baseline`). A reference FASTA: the named training and held-out
  chromosomes, whole or restricted to ``regions`` (BED). A dnaseq dataset HDF5: the windows of
  the training split and of the held-out split, *stitched*: a split's windows overlap (1000 bp
  windows every 200 bp in ``data/dm3_insulators.h5``), so they are sorted by chromosome and start
  and joined back into the genomic stretches they cover, each base once (overlaps are checked to
  agree; a window that disagrees or does not touch the previous one starts a new stretch). A
  DeepSEA ``.mat`` file has no coordinates: its windows are used as given, overlaps and all.
"""
from __future__ import annotations

import os
import zipfile
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from .ngram_scan import BLOCK, as_codes, blocks, count_into, pieces, scan, scan_rows

#: highest order offered: 4**13 (k + 1)-mers = 67M int32 counts (268 MB)
MAX_ORDER = 12
SMOOTHINGS = {"kn": "interpolated modified Kneser-Ney (three discounts per order, continuation counts "
                    "below the top order)",
              "wb": "interpolated Witten-Bell"}
FORMAT = "dnaseq-ngram"
FORMAT_VERSION = 1
_TABLE_MAX = 4 ** 11  # orders with at most this many (k+1)-mers score from precomputed tables


def _row_sum(quad: np.ndarray) -> np.ndarray:
    """Sum of the 4 columns of an (n, 4) array (``sum(axis=1)`` is 10x slower on 4 columns)."""
    out = quad[:, 0] + quad[:, 1]
    out += quad[:, 2]
    out += quad[:, 3]
    return out


def _discounts(counts: np.ndarray) -> np.ndarray:
    """``[0, D1, D2, D3+]`` of modified Kneser-Ney from an order's count-of-counts n1..n4 (each
    floored at 1): ``Y = n1 / (n1 + 2 n2)``, ``D1 = Y``, ``D2 = 2 - 3 Y n3 / n2``,
    ``D3+ = 3 - 4 Y n4 / n3``, D2 and D3+ clamped to [D1, c]."""
    n1, n2, n3, n4 = (max(int(np.count_nonzero(counts == c)), 1) for c in (1, 2, 3, 4))
    Y = n1 / (n1 + 2 * n2)
    D2 = 2 - 3 * Y * n3 / n2
    D3 = 3 - 4 * Y * n4 / n3
    return np.array([0.0, Y, min(max(D2, Y), 2.0), min(max(D3, Y), 3.0)])


# -- the model -----------------------------------------------------------------------------------
class NgramModel:
    """Counts of every order 0..``max_k`` and the smoothed k-th order Markov models they give (see
    the module docstring for every rule). ``fit`` once; ``log2_prob``, ``bits_per_base`` and
    ``evaluate`` take the order ``k`` to use (default: ``max_k``)."""

    def __init__(self, max_k: int = MAX_ORDER, smoothing: str = "kn", block: int = BLOCK):
        if not isinstance(max_k, (int, np.integer)) or not 0 <= max_k <= MAX_ORDER:
            raise ValueError(f"max_k must be a whole number from 0 to {MAX_ORDER}, not {max_k!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; choose {' or '.join(SMOOTHINGS)}")
        self.max_k = int(max_k)
        self.smoothing = smoothing
        self.block = int(block)
        self.counts: Optional[List[np.ndarray]] = None  # raw counts of (j+1)-mers, j = 0..max_k
        self.cont: Optional[List[np.ndarray]] = None    # KN continuation counts, j = 0..max_k-1
        self._discounts: Dict[Tuple[str, int], np.ndarray] = {}
        self._tables: Dict[Tuple[str, int], Tuple[np.ndarray, np.ndarray]] = {}

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, sequences: Iterable, progress=None) -> "NgramModel":
        """Count every order at once over ``sequences`` (an iterable of code arrays or genome
        Windows). ``progress``: a callable given the bases of each block done, or None."""
        K = self.max_k
        bins = 4 ** (K + 1)
        top = np.zeros(bins, np.int64 if bins <= 1 << 20 else np.int32)
        short: List[List[np.ndarray]] = [[] for _ in range(K)]  # positions < K bases after a break
        masks = [(1 << 2 * (j + 1)) - 1 for j in range(K + 1)]
        total = 0
        for window, start in blocks(sequences, K, self.block):
            index, r, is_base = scan(window, start, K)
            full = is_base & (r >= K)
            total += int(np.count_nonzero(is_base))  # no count of any order can exceed this
            if top.dtype == np.int32 and total >= np.iinfo(np.int32).max:
                top = top.astype(np.int64)
            count_into(top, index[full])
            few = is_base & (r < K)
            if few.any():
                idx, rr = index[few], r[few]
                for j in range(K):
                    short[j].append(idx[rr >= j] & masks[j])
            if progress is not None:
                progress(len(window) - start)
        counts = [None] * (K + 1)
        counts[K] = top
        marginal = top
        for j in range(K - 1, -1, -1):
            marginal = marginal.reshape(4, -1).sum(0, dtype=top.dtype)
            counts[j] = marginal.copy()  # the next order down sums full-context counts only
            if short[j]:
                np.add.at(counts[j], np.concatenate(short[j]), 1)
        counts = [c.astype(np.int64) if len(c) <= 1 << 20 else c for c in counts]
        self.counts = counts
        self.cont = None
        if self.smoothing == "kn":
            self.cont = [np.count_nonzero(counts[j + 1].reshape(4, -1), axis=0).astype(np.uint8)
                         for j in range(K)]
        self._discounts, self._tables = {}, {}
        return self

    @property
    def fitted(self) -> bool:
        return self.counts is not None

    @property
    def n_bases(self) -> int:
        """Bases counted (every scored position of the training sequences)."""
        self._check()
        return int(self.counts[0].sum())

    def _check(self, k: Optional[int] = None) -> int:
        if self.counts is None:
            raise ValueError("the n-gram model is not fitted: call fit(sequences) first")
        k = self.max_k if k is None else int(k)
        if not 0 <= k <= self.max_k:
            raise ValueError(f"order k must be 0..{self.max_k} (the model holds counts up to {self.max_k}), not {k}")
        return k

    # -- probabilities -----------------------------------------------------------------------
    def _arrays(self, kind: str, j: int) -> Tuple[np.ndarray, np.ndarray]:
        """(counts, discounts [0, D1, D2, D3+]) of order j, raw or continuation (WB: no discount)."""
        num = self.counts[j] if kind == "raw" else self.cont[j]
        key = (kind, j)
        if key not in self._discounts:
            self._discounts[key] = _discounts(num) if self.smoothing == "kn" else np.zeros(4)
        return num, self._discounts[key]

    def _table(self, kind: str, j: int) -> Tuple[np.ndarray, np.ndarray]:
        """(alpha per (j+1)-mer, gamma per context) of order j: ``P_j(w | h) = alpha(hw) +
        gamma(h) * P_{j-1}(w | h')``, the same arithmetic as :meth:`_level`'s on-the-fly path."""
        key = (kind, j)
        hit = self._tables.get(key)
        if hit is None:
            num, D = self._arrays(kind, j)
            quad = num.reshape(-1, 4)
            total = quad.sum(1, dtype=np.int64).astype(np.float64)
            if self.smoothing == "kn":
                each = D[np.minimum(quad, 3).astype(np.intp)]
                alpha, mass = quad - each, each.sum(1)
            else:
                mass = np.count_nonzero(quad, axis=1).astype(np.float64)
                alpha = quad.astype(np.float64)
                total += mass
            seen = total > 0
            alpha[seen] /= total[seen, None]
            alpha[~seen] = 0.0
            gamma = np.ones(len(total))  # unseen context: all from below
            gamma[seen] = mass[seen] / total[seen]
            hit = self._tables[key] = (alpha.ravel(), gamma)
        return hit

    def _level(self, kind: str, j: int, index: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """P_j(base | context) of each position from order j's counts and P_{j-1} (``lower``).
        Orders with up to 4**11 (j+1)-mers use precomputed tables (:meth:`_table`, 40 MB at most);
        above, the four counts of each context are read together (one cache line) and smoothed
        on the fly, so no table the size of the counts is kept."""
        idx = index & ((1 << 2 * (j + 1)) - 1)
        if 4 ** (j + 1) <= _TABLE_MAX:
            alpha, gamma = self._table(kind, j)
            return alpha[idx] + gamma[idx >> 2] * lower
        num, D = self._arrays(kind, j)
        rows = num.view(f"V{4 * num.itemsize}")                  # one item per context: a 1-D
        quad = rows[idx >> 2].view(num.dtype).reshape(-1, 4)      # gather is 6x faster than 2-D rows
        w = (idx & 3)[:, None]
        c = np.take_along_axis(quad, w, axis=1)[:, 0].astype(np.float64)
        total = _row_sum(quad).astype(np.float64)                 # c(h.)
        if self.smoothing == "kn":
            each = D[np.minimum(quad, 3).astype(np.intp)]          # D[c(hw)] for each w, D[0] = 0
            mass = _row_sum(each)
            c -= np.take_along_axis(each, w, axis=1)[:, 0]
        else:
            mass = _row_sum((quad > 0).view(np.uint8)).astype(np.float64)  # N1+(h.)
            total += mass
        seen = total > 0
        p = lower.copy()                                           # unseen context: all from below
        p[seen] = (c[seen] + mass[seen] * lower[seen]) / total[seen]
        return p

    def _chain(self, index: np.ndarray, r: np.ndarray, k: int, bits_per_order: bool = False) -> np.ndarray:
        """P(base) of each position under the order-k model (r: its context length, <= k), or
        with ``bits_per_order`` the total -log2 P under each order 0..k, (k+1,), in one pass (the
        backoff chain of order k extends the one of order k - 1)."""
        lower = np.full(len(index), 0.25)
        bits = np.zeros(k + 1)
        result = np.empty(len(index))
        for j in range(k + 1):
            if bits_per_order or j == k or self.smoothing == "wb":  # (WB: the raw level is the lower one)
                top = self._level("raw", j, index, lower)
                if bits_per_order:  # order j: positions with r < j keep their order-r probability
                    result = top if j == 0 else np.where(r >= j, top, result)
                    bits[j] = -np.log2(result).sum()
                else:
                    result = np.where(r == j, top, result)
            else:  # KN, one order: the raw level j only where the context stops at j
                here = r == j
                if here.any():
                    result[here] = self._level("raw", j, index[here], lower[here])
            if j < k:
                lower = self._level("cont", j, index, lower) if self.smoothing == "kn" else top
        return bits if bits_per_order else result

    def next_base_probs(self, contexts, k: Optional[int] = None) -> np.ndarray:
        """P(A, C, G, T | context) under the order-k model: ``contexts`` (m, L) or (L,) codes, of
        which the last min(L, k) count, and only those after the last N (as in scoring). Returns
        (m, 4) or (4,)."""
        k = self._check(k)
        ctx = np.atleast_2d(np.asarray(contexts, dtype=np.uint8))
        m = len(ctx)
        seqs = np.concatenate([ctx, np.zeros((m, 1), np.uint8)], axis=1)
        out = np.empty((m, 4))
        for w in range(4):
            seqs[:, -1] = w
            index, r, _ = scan_rows(seqs, k)
            out[:, w] = self._chain(index, r, k)
        return out[0] if np.ndim(contexts) == 1 else out

    def log2_prob(self, codes, k: Optional[int] = None) -> np.ndarray:
        """log2 P(x[i] | context) of every position of one sequence under the order-k model
        (float64, NaN at N and every non-base)."""
        k = self._check(k)
        codes = as_codes(codes)
        out = np.full(len(codes), np.nan)
        pos = 0
        for window, start in pieces(codes, k, self.block):
            index, r, is_base = scan(window, start, k)
            n = len(window) - start
            part = np.full(n, np.nan)
            if is_base.any():
                part[is_base] = np.log2(self._chain(index[is_base], r[is_base], k))
            out[pos:pos + n] = part
            pos += n
        return out

    def evaluate(self, sequences: Iterable, k: Optional[int] = None, progress=None) -> Tuple[np.ndarray, int]:
        """(total bits under each order 0..k, bases scored) over ``sequences``, in one pass."""
        k = self._check(k)
        bits = np.zeros(k + 1)
        n = 0
        for window, start in blocks(sequences, k, self.block):
            index, r, is_base = scan(window, start, k)
            if is_base.any():
                bits += self._chain(index[is_base], r[is_base], k, bits_per_order=True)
                n += int(np.count_nonzero(is_base))
            if progress is not None:
                progress(len(window) - start)
        return bits, n

    def bits_per_base(self, sequences: Iterable, k: Optional[int] = None) -> float:
        """Mean -log2 P per scored base under the order-k model (NaN when there is no base)."""
        k = self._check(k)
        total, n = 0.0, 0
        for window, start in blocks(sequences, k, self.block):
            index, r, is_base = scan(window, start, k)
            if is_base.any():
                total -= float(np.log2(self._chain(index[is_base], r[is_base], k)).sum())
                n += int(np.count_nonzero(is_base))
        return total / n if n else float("nan")

    def discounts(self, k: Optional[int] = None) -> Dict[str, List[float]]:
        """The discount of each order (KN: raw and continuation; WB has none)."""
        k = self._check(k)
        if self.smoothing != "kn":
            return {}
        return {"raw": [self._arrays("raw", j)[1][1:].tolist() for j in range(k + 1)],
                "continuation": [self._arrays("cont", j)[1][1:].tolist() for j in range(k)]}

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str, k: Optional[int] = None) -> str:
        """Write the order-k model (default: max_k) as a compressed ``.npz`` of plain arrays."""
        k = self._check(k)
        arrays = {"format": np.array(FORMAT), "format_version": np.array(FORMAT_VERSION),
                  "k": np.array(k), "smoothing": np.array(self.smoothing)}
        for j in range(k + 1):
            arrays[f"counts_{j}"] = self.counts[j]
        if self.smoothing == "kn":
            for j in range(k):
                arrays[f"cont_{j}"] = self.cont[j]
        with open(path, "wb") as fh:  # np.savez would add .npz to a name without it
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str) -> "NgramModel":
        """A model written by :meth:`save` (its max_k is the order it was saved at)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"n-gram model not found: {path}")
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # an .npz is a zip archive
                raise ValueError(f"{path} is not a dnaseq n-gram model: give the PREFIX.best.npz that dnaseq "
                                 f"lm-baseline writes (not its table or summary)")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: cannot read it as a dnaseq n-gram model ({exc})") from None
        if str(arrays.get("format", "")) != FORMAT:
            raise ValueError(f"{path} is not a dnaseq n-gram model (no format={FORMAT!r})")
        try:
            k, smoothing = int(arrays["k"]), str(arrays["smoothing"])
            model = cls(max_k=k, smoothing=smoothing)
            model.counts = [arrays[f"counts_{j}"] for j in range(k + 1)]
            model.cont = [arrays[f"cont_{j}"] for j in range(k)] if smoothing == "kn" else None
        except KeyError as exc:
            raise ValueError(f"{path}: a dnaseq n-gram model without its array {exc.args[0]}") from None
        for j, c in enumerate(model.counts):
            if c.shape != (4 ** (j + 1),):
                raise ValueError(f"{path}: counts of order {j} have shape {c.shape}, not ({4 ** (j + 1)},)")
        return model

    def __repr__(self) -> str:
        state = f"{self.n_bases:,} bases" if self.fitted else "not fitted"
        return f"NgramModel(max_k={self.max_k}, smoothing={self.smoothing!r}, {state})"
