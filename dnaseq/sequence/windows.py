"""The one reader of inputs into model windows: genome regions (``chrom:start-end`` text or a BED
file), FASTA sequences and whole chromosomes become (N, L) uint8 codes with their coordinates,
for ``predict``, ``ism``, ``attribute`` and ``design`` alike.

The rules, stated once:

* **centred**: a region or bin ``[s, e)`` is seen through the window that starts at
  ``(s + e) // 2 - L // 2`` (:func:`window_start`, the rule of :meth:`dnaseq.Genome.window`);
  bases past a sequence's ends are N and the window is flagged ``padded``;
* **exact**: a FASTA sequence of exactly L bp is one window (``ism``, ``attribute``, ``design``
  accept no other length: their output is per base of the sequence);
* **padded**: a shorter FASTA sequence is centred in its window with N on both sides
  (``predict`` without a stride);
* **tiled**: with a ``stride``, a region, a chromosome or a FASTA sequence of any length but
  L is cut into ``stride`` bp bins from its start, each seen through the window centred on it.
  Bins of a chromosome that are entirely N (assembly gaps) are left out and counted.

BED regions that cannot be seen are left out and counted by reason (:func:`region_records`),
never dropped unseen: zero-length intervals and column headers, regions on a chromosome that
the reference does not have, and regions that start past their chromosome's end (another
genome build's coordinates). A ``chrom:start-end`` region given alone (``ism``, ``attribute``)
that runs past its chromosome's end is an error. An empty FASTA record is an error.

The block readers (``*_blocks``) yield callables that each build up to ``block`` windows when
called, so the inference engine builds each block on the rank that predicts it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from collections import Counter
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .encoding import N_CODE
from .genome import Genome, UnknownChromosomeError
from .intervals import iter_bed_records

Block = Callable[[], Tuple["Windows", int]]  # -> (windows, bins left out as assembly gaps)


@dataclass
class Windows:
    """Windows (n, L) and the table rows describing them."""
    codes: np.ndarray  # (n, L) uint8
    name: List[str]
    chrom: List[Optional[str]]  # None for FASTA sequences read exactly
    start: np.ndarray  # window start, 0-based (may be negative)
    bin_start: np.ndarray
    bin_end: np.ndarray
    padded: np.ndarray  # bool

    def table(self) -> Dict[str, np.ndarray]:
        L = self.codes.shape[1]
        return {"name": np.asarray(self.name, dtype=object), "chrom": np.asarray(self.chrom, dtype=object),
                "start": self.start, "end": self.start + L, "bin_start": self.bin_start,
                "bin_end": self.bin_end, "padded": self.padded,
                "n_fraction": (self.codes == N_CODE).mean(axis=1).astype(np.float32)}

    def take(self, rows: slice) -> "Windows":
        """The windows (and table rows) of ``rows``."""
        return Windows(self.codes[rows], self.name[rows], self.chrom[rows], self.start[rows],
                       self.bin_start[rows], self.bin_end[rows], self.padded[rows])

    @staticmethod
    def stack(parts: List["Windows"]) -> "Windows":
        names = [n for p in parts for n in p.name]
        chroms = [c for p in parts for c in p.chrom]
        arrays = (np.concatenate([getattr(p, k) for p in parts]) for k in ("start", "bin_start", "bin_end", "padded"))
        return Windows(np.concatenate([p.codes for p in parts]), names, chroms, *arrays)


def window_start(bin_start, bin_end, L: int):
    """Start of the window of length ``L`` centred on the bin ``[bin_start, bin_end)`` (arrays too)."""
    return (bin_start + bin_end) // 2 - L // 2


def bins(length: int, stride: int, lo: int = 0, hi: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``stride`` bp bins ``[s, e)`` of ``[lo, hi)`` (``hi``: ``length``); the last may be shorter."""
    hi = length if hi is None else hi
    starts = np.arange(lo, hi, stride, dtype=np.int64)
    return starts, np.minimum(starts + stride, hi)


def parse_region(text: str) -> Tuple[str, int, int]:
    """``chr:start-end`` (1-based, inclusive, commas allowed) -> (chrom, start0, end0_exclusive)."""
    m = re.fullmatch(r"\s*([^:\s]+):([\d,]+)-([\d,]+)\s*", text)
    if not m:
        raise ValueError(f"region {text!r} is not chrom:start-end (1-based, inclusive), e.g. chr2L:10001-10200")
    chrom, start, end = m.group(1), int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
    if start < 1 or end < start:
        raise ValueError(f"region {text!r}: need 1 <= start <= end")
    return chrom, start - 1, end


def _slice(fetch: Callable[[int, int], np.ndarray], seq_len: int, starts: np.ndarray, L: int):
    """Windows ``[start, start + L)`` of a sequence of ``seq_len`` bp read by ``fetch(a, b)``, N past its ends."""
    lo, hi = int(starts.min()), int(starts.max()) + L
    span = np.full(hi - lo, N_CODE, np.uint8)
    a, b = max(lo, 0), min(hi, seq_len)
    if b > a:
        span[a - lo:b - lo] = fetch(a, b)
    codes = np.lib.stride_tricks.sliding_window_view(span, L)[starts - lo]
    padded = (starts < 0) | (starts + L > seq_len)
    return np.ascontiguousarray(codes), padded


def _tiled(fetch, name: str, length: int, s: np.ndarray, e: np.ndarray, L: int) -> Windows:
    starts = window_start(s, e, L)
    codes, padded = _slice(fetch, length, starts, L)
    return Windows(codes, [f"{name}:{a + 1}-{b}" for a, b in zip(s, e)], [name] * len(s), starts, s, e, padded)


def region_window(genome: Genome, chrom: str, s: int, e: int, L: int, label: Optional[str] = None) -> Windows:
    """The one window centred on the region ``[s, e)`` of ``chrom``, named ``label`` (a BED name)
    or else ``chrom:s+1-e``."""
    name = genome.resolve(chrom)
    st = int(window_start(s, e, L))
    w = genome.fetch(name, st, st + L)
    return Windows(w.codes[None], [label or f"{name}:{s + 1}-{e}"], [name], np.array([st], np.int64),
                   np.array([s], np.int64), np.array([e], np.int64), np.array([w.padded]))


def chromosome_blocks(genome: Genome, chrom: str, L: int, stride: int, block: int) -> Iterator[Block]:
    """Blocks of up to ``block`` tiled bins of one chromosome (bins entirely N are left out)."""
    name = genome.resolve(chrom)
    length = genome.lengths[name]
    bs, be = bins(length, stride)
    for lo in range(0, len(bs), block):
        def unit(s=bs[lo:lo + block], e=be[lo:lo + block]):
            w = _tiled(lambda a, b: genome.fetch(name, a, b).codes, name, length, s, e, L)
            # the bin's own bases inside each window (a stride wider than the window: the window's):
            # all N means an assembly gap
            width = int((e - s).max())
            idx = (s - w.start)[:, None] + np.arange(width)[None, :]
            in_bin = (np.arange(width)[None, :] < (e - s)[:, None]) & (idx >= 0) & (idx < L)
            gap = np.where(in_bin, np.take_along_axis(w.codes, np.clip(idx, 0, L - 1), axis=1) == N_CODE, True)
            keep = ~gap.all(axis=1)
            kept = Windows(w.codes[keep], [n for n, k in zip(w.name, keep) if k], [name] * int(keep.sum()),
                           w.start[keep], s[keep], e[keep], w.padded[keep])
            return kept, int((~keep).sum())
        yield unit


def region_records(genome: Genome, bed: str, left_out: Optional[Counter] = None,
                   examples: Optional[Dict[str, str]] = None) -> Iterator[Tuple[str, int, int, Optional[str]]]:
    """(chromosome as the reference names it, start, end, BED name or None) of each region of
    ``bed`` that the reference can show; the others are counted in ``left_out`` by reason, the
    first of each kept in ``examples`` as ``file:line`` (module docstring). Malformed lines are
    errors naming the file and line."""
    left_out = left_out if left_out is not None else Counter()
    examples = examples if examples is not None else {}
    lines: Counter = Counter()
    for chrom, s, e, label in iter_bed_records(bed, skipped=left_out, examples=examples, lines=lines, names=True):
        try:
            name = genome.resolve(chrom)
        except UnknownChromosomeError:
            reason, detail = "chromosome not in the reference", chrom
        else:
            if s < genome.lengths[name]:
                yield name, s, e, label
                continue
            reason, detail = "starts past the chromosome's end", f"{chrom}:{s + 1}-{e}; {name} is {genome.lengths[name]:,} bp"
        left_out[reason] += 1
        examples.setdefault(reason, f"{bed}:{lines['total']} ({detail})")


def describe_left_out(left_out: Counter, examples: Dict[str, str]) -> str:
    """``3 chromosome not in the reference (first: file:line (chr9)), ...``"""
    return ", ".join(f"{n:,} {reason} (first: {examples.get(reason, '?')})" for reason, n in left_out.most_common())


def region_blocks(genome: Genome, bed: str, L: int, stride: Optional[int], block: int,
                  left_out: Optional[Counter] = None, examples: Optional[Dict[str, str]] = None) -> Iterator[Block]:
    """Blocks of up to ``block`` windows for the regions of a BED file: one centred window per
    region (named by the BED's name column when it has one, else ``chrom:start+1-end``), or with
    ``stride`` the region tiled into bins from its start (each named by its coordinates).
    Regions that cannot be seen are counted in ``left_out`` (:func:`region_records`)."""
    pending: List[tuple] = []

    def flush(items):
        return lambda: (Windows.stack([region_window(genome, c, s, e, L, n) for c, s, e, n in items]), 0)

    for chrom, s, e, label in region_records(genome, bed, left_out, examples):
        if stride:
            bs, be = bins(e, stride, lo=s, hi=e)
            pending.extend((chrom, int(a), int(b), None) for a, b in zip(bs, be))
        else:
            pending.append((chrom, s, e, label))
        while len(pending) >= block:
            yield flush(pending[:block])
            pending = pending[block:]
    if pending:
        yield flush(pending)


def fasta_blocks(path: str, L: int, stride: Optional[int], block: int) -> Iterator[Block]:
    """Blocks of windows for the sequences of a FASTA file: exact or padded (one window each)
    without ``stride``; longer sequences need ``stride`` and are tiled."""
    with Genome(path) as g:
        lengths = dict(g.lengths)
    _refuse_empty_records(path, lengths)
    for name, length in lengths.items():
        if length == L or (length < L and not stride):
            def unit(name=name, length=length):
                with Genome(path) as g:
                    start = (length - L) // 2  # negative: N on both sides
                    w = g.fetch(name, start, start + L)
                return Windows(w.codes[None], [name], [name], np.array([start], np.int64), np.array([0], np.int64),
                               np.array([length], np.int64), np.array([w.padded])), 0
            yield unit
        elif not stride:
            raise ValueError(f"{path}: sequence {name!r} has {length:,} bp but the model takes {L} bp; "
                             f"pass --stride to tile it, or use sequences of at most {L} bp")
        else:
            bs, be = bins(length, stride)
            for lo in range(0, len(bs), block):
                def unit(name=name, length=length, s=bs[lo:lo + block], e=be[lo:lo + block]):
                    with Genome(path) as g:
                        return _tiled(lambda a, b: g.fetch(name, a, b).codes, name, length, s, e, L), 0
                yield unit


def _refuse_empty_records(path: str, lengths: Dict[str, int]) -> None:
    empty = [n for n, n_bp in lengths.items() if n_bp == 0]
    if empty:
        raise ValueError(f"{path}: {len(empty)} sequence(s) have no bases ({', '.join(map(repr, empty[:5]))}); "
                         f"remove them or give them sequence")


def fasta_windows(path: str, L: int) -> Windows:
    """Every sequence of a FASTA file, each exactly ``L`` bp (the **exact** rule), in file order."""
    with Genome(path) as g:
        lengths = dict(g.lengths)
        if not lengths:
            raise ValueError(f"{path}: no sequences")
        wrong = {n: n_bp for n, n_bp in lengths.items() if n_bp != L}
        if wrong:
            name, n_bp = next(iter(wrong.items()))
            raise ValueError(f"{path}: sequence {name!r} has {n_bp} bp but the model takes {L} bp; "
                             f"use sequences of exactly {L} bp or --region on a reference")
        codes = np.stack([g.fetch(n, 0, L).codes for n in lengths])
    n = len(lengths)
    return Windows(codes, list(lengths), [None] * n, np.zeros(n, np.int64), np.zeros(n, np.int64),
                   np.full(n, L, np.int64), np.zeros(n, bool))


def region_input(genome: Genome, region: str, length: int):
    """(names, codes, positions, window starts) of the model-length window centred on a
    ``chrom:start-end`` region; positions are the region's bases inside the window."""
    chrom, s, e = parse_region(region)
    size = genome.lengths[genome.resolve(chrom)]
    if e > size:
        raise ValueError(f"region {region} runs past the end of {genome.resolve(chrom)} ({size:,} bp): "
                         f"is it another genome build's coordinates?")
    if e - s > length:
        raise ValueError(f"region {region} spans {e - s} bp, more than the model's {length} bp window; "
                         f"split it into pieces of at most {length} bp")
    w = region_window(genome, chrom, s, e, length)
    return w.name, w.codes, np.arange(s - w.start[0], e - w.start[0]), [int(w.start[0])]


def fasta_input(path: str, length: int):
    """(names, codes, positions, window starts) of a FASTA's sequences, each exactly ``length`` bp
    (every position is the sequence's; no genome coordinates)."""
    w = fasta_windows(path, length)
    return w.name, w.codes, np.arange(length), [None] * len(w.name)
