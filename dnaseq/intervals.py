"""BED / narrowPeak reading and the bin-coverage arithmetic behind DeepSEA-style labels.

Peaks are kept as sorted, merged, disjoint intervals per chromosome (two int64 arrays), so the
bases of a bin covered by a feature's peaks is a difference of a cumulative-coverage function
evaluated with ``searchsorted`` — no per-base arrays, no per-peak Python loop at labelling time.
"""
from __future__ import annotations

import gzip
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .textio import open_text


class BedFormatError(ValueError):
    """A BED line that cannot be read; the message names file, line number and problem."""


@dataclass
class IntervalSet:
    """Merged, sorted, disjoint [start, end) intervals per chromosome, plus what was skipped."""
    source: str
    chroms: Dict[str, Tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    n_records: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    skipped_examples: Dict[str, str] = field(default_factory=dict)  # reason -> first "file:line"

    def intervals(self, chrom: str) -> Tuple[np.ndarray, np.ndarray]:
        empty = np.zeros(0, dtype=np.int64)
        return self.chroms.get(chrom, (empty, empty))

    def covered_bases(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Bases of each [starts[i], ends[i]) covered by these intervals."""
        s, e = self.intervals(chrom)
        return coverage(s, e, np.asarray(starts, np.int64), np.asarray(ends, np.int64))

    def overlaps(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return self.covered_bases(chrom, starts, ends) > 0

    def total_bases(self) -> int:
        return int(sum((e - s).sum() for s, e in self.chroms.values()))

    def __len__(self) -> int:
        return self.n_records


def iter_bed_records(path: str, on_bad_line: str = "error",
                     skipped: Optional[Counter] = None,
                     examples: Optional[Dict[str, str]] = None) -> Iterator[Tuple[str, int, int]]:
    """Yield (chrom, start, end) from a BED3+ / narrowPeak file (plain or gzipped).

    ``track``, ``browser``, ``#`` and blank lines are skipped (counted as headers). A malformed
    line raises :class:`BedFormatError` naming ``file:line`` and the problem, or with
    ``on_bad_line="skip"`` is counted in ``skipped`` under its reason.
    """
    if on_bad_line not in ("error", "skip"):
        raise ValueError("on_bad_line must be 'error' or 'skip'")
    if not os.path.exists(path):
        raise FileNotFoundError(f"peak/interval file not found: {path}")
    skipped = skipped if skipped is not None else Counter()
    examples = examples if examples is not None else {}

    def bad(lineno: int, reason: str, line: str):
        if on_bad_line == "error":
            raise BedFormatError(f"{path}:{lineno}: {reason}: {line[:80]!r} "
                                 f"(fix the line, or pass --skip-bad-lines to count and skip such lines)")
        skipped[reason] += 1
        examples.setdefault(reason, f"{path}:{lineno}")

    seen_data = False
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                fields = line.split("\t")
                if len(fields) < 3:
                    fields = line.split()
                if len(fields) < 3:
                    bad(lineno, f"expected at least 3 tab-separated columns (chrom, start, end), got {len(fields)}", line)
                    continue
                chrom, start_s, end_s = fields[0], fields[1], fields[2]
                try:
                    start, end = int(start_s), int(end_s)
                except ValueError:
                    if not seen_data and not start_s.lstrip("-").isdigit() and not end_s.lstrip("-").isdigit():
                        skipped["header line"] += 1  # e.g. "chrom  start  end" before the data
                        examples.setdefault("header line", f"{path}:{lineno}")
                        continue
                    bad(lineno, f"start/end must be integers, got {start_s!r} and {end_s!r}", line)
                    continue
                seen_data = True
                if start < 0:
                    bad(lineno, f"negative start {start}", line)
                    continue
                if end < start:
                    bad(lineno, f"end {end} is before start {start}", line)
                    continue
                if end == start:
                    # legal in BED (a point), but it covers no base: count it, do not use it
                    skipped["zero-length interval"] += 1
                    examples.setdefault("zero-length interval", f"{path}:{lineno}")
                    continue
                yield chrom, start, end
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise BedFormatError(f"{path}: file is truncated or not valid gzip ({exc})") from exc


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Union of intervals as sorted disjoint [start, end) arrays (touching intervals join)."""
    if len(starts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(starts, kind="stable")
    s, e = np.asarray(starts, np.int64)[order], np.asarray(ends, np.int64)[order]
    running_end = np.maximum.accumulate(e)
    new_group = np.ones(len(s), dtype=bool)
    new_group[1:] = s[1:] > running_end[:-1]
    group = np.cumsum(new_group) - 1
    merged_s = s[new_group]
    merged_e = np.zeros(len(merged_s), np.int64)
    np.maximum.at(merged_e, group, e)
    return merged_s, merged_e


def coverage(starts: np.ndarray, ends: np.ndarray, q_starts: np.ndarray, q_ends: np.ndarray) -> np.ndarray:
    """Bases of each query [q_start, q_end) covered by disjoint sorted intervals."""
    if len(starts) == 0:
        return np.zeros(len(q_starts), np.int64)
    lengths = ends - starts
    before = np.concatenate([[0], np.cumsum(lengths)])  # covered bases before interval i

    def cumulative(x: np.ndarray) -> np.ndarray:
        # covered bases in [0, x)
        i = np.searchsorted(starts, x, side="right") - 1
        inside = np.where(i >= 0, np.clip(x - starts[np.maximum(i, 0)], 0, lengths[np.maximum(i, 0)]), 0)
        return np.where(i >= 0, before[np.maximum(i, 0)], 0) + inside

    return cumulative(q_ends) - cumulative(q_starts)


def read_intervals(path: str, on_bad_line: str = "error") -> IntervalSet:
    """Read a BED/narrowPeak file into a merged :class:`IntervalSet`."""
    out = IntervalSet(source=str(path))
    per_chrom: Dict[str, Tuple[List[int], List[int]]] = {}
    for chrom, start, end in iter_bed_records(str(path), on_bad_line, out.skipped, out.skipped_examples):
        s, e = per_chrom.setdefault(chrom, ([], []))
        s.append(start)
        e.append(end)
        out.n_records += 1
    for chrom, (s, e) in per_chrom.items():
        out.chroms[chrom] = merge_intervals(np.array(s, np.int64), np.array(e, np.int64))
    return out
