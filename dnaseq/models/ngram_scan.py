"""Sequences of base codes as (k+1)-mer indices, the counting and scoring front end of the
n-gram models (:mod:`dnaseq.models.ngram`, whose docstring states the rules): long sequences cut
into blocks with k bases of context, short ones packed with an N between them, and for every
position the (k+1)-mer ending there and how many bases of context it has since the last N."""
from __future__ import annotations

from typing import Iterable, Iterator, List, Tuple

import numpy as np

from ..sequence.encoding import N_CODE

BLOCK = 1 << 20  # positions per block of counting / scoring


def as_codes(seq) -> np.ndarray:
    """A sequence (a genome Window or an array of codes 0..4) as a 1-D uint8 array."""
    codes = getattr(seq, "codes", seq)  # a genome Window, or an array
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError(f"a sequence must be a 1-D array of base codes, got shape {codes.shape}")
    if codes.dtype != np.uint8:
        if codes.size and (codes.min() < 0 or codes.max() > 255):
            raise ValueError("base codes must be 0..4 (A, C, G, T, N)")
        codes = codes.astype(np.uint8)
    return codes


def pieces(seq: np.ndarray, K: int, block: int) -> Iterator[Tuple[np.ndarray, int]]:
    """``(window, start)`` pairs covering one sequence: positions ``window[start:]`` are scored,
    the K bases before them are context only (N padding before the sequence start)."""
    for lo in range(0, len(seq), block):
        hi = min(lo + block, len(seq))
        if lo >= K:
            yield seq[lo - K:hi], K
        else:
            yield np.concatenate([np.full(K - lo, N_CODE, np.uint8), seq[:hi]]), K


def blocks(sequences: Iterable, K: int, block: int = BLOCK) -> Iterator[Tuple[np.ndarray, int]]:
    """``(window, start)`` pairs covering every sequence: short sequences are packed into one
    window with an N before each (a break, so the same as scoring them one by one), long ones
    cut into pieces with K bases of context."""
    buf: List[np.ndarray] = []
    size = 0
    sep = np.full(1, N_CODE, np.uint8)
    for seq in sequences:
        seq = as_codes(seq)
        if len(seq) > block // 4:
            if buf:
                yield np.concatenate(buf), 0
                buf, size = [], 0
            yield from pieces(seq, K, block)
            continue
        buf += [sep, seq]
        size += len(seq) + 1
        if size >= block:
            yield np.concatenate(buf), 0
            buf, size = [], 0
    if buf:
        yield np.concatenate(buf), 0


def scan(window: np.ndarray, start: int, K: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positions ``start..`` of ``window``: the (K+1)-mer index ending there (int64; digits
    before a break are 0 and meaningless), the context length r available since the last break
    (capped at K), and whether the position is a base (it is scored)."""
    n = len(window) - start
    is_base = window < 4
    digits = np.zeros(len(window) + K, np.int64)
    digits[K:] = np.where(is_base, window, 0)
    index = np.zeros(n, np.int64)
    for t in range(K + 1):  # base at q - K + t sits at digits[q + t]
        index <<= 2
        index |= digits[start + t:start + t + n]
    pos = np.arange(len(window), dtype=np.int64)
    last_break = np.maximum.accumulate(np.where(is_base, -1, pos))  # last non-base at or before q
    before = np.concatenate([[-1], last_break[:-1]])[start:]       # ... strictly before q
    r = np.minimum(pos[start:] - 1 - before, K)
    return index, r, is_base[start:]


def count_into(acc: np.ndarray, index: np.ndarray) -> None:
    """``acc[i] += number of times i occurs in index`` (bincount, or a sort for sparse blocks)."""
    if not len(index):
        return
    if len(acc) <= 4 * len(index) or len(acc) <= 1 << 22:
        np.add(acc, np.bincount(index, minlength=len(acc)), out=acc, casting="unsafe")
    else:
        values, counts = np.unique(index, return_counts=True)
        acc[values] += counts.astype(acc.dtype)


def scan_rows(rows: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`scan` of the last position of each row (m, L)."""
    m, L = rows.shape
    width = min(L, k + 1)
    tail = rows[:, L - width:]
    is_base = tail < 4
    index = np.zeros(m, np.int64)
    for t in range(width):
        index = (index << 2) | np.where(is_base[:, t], tail[:, t], 0).astype(np.int64)
    # bases since the last non-base, before the last position
    before = is_base[:, :-1][:, ::-1]
    r = np.where(before.all(axis=1), width - 1, np.argmin(before, axis=1)) if width > 1 else np.zeros(m, np.int64)
    return index, np.minimum(r, k).astype(np.int64), is_base[:, -1]
