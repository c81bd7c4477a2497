"""BED / narrowPeak reading and the bin-coverage arithmetic behind DeepSEA-style labels.

Peaks are kept as sorted, merged, disjoint intervals per chromosome (two int64 arrays), so the
bases of a bin covered by a feature's peaks is a difference of a cumulative-coverage function
evaluated with ``searchsorted`` — no per-base arrays, no per-peak Python loop at labelling time.
"""
from __future__ import annotations

import logging
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .._lazy import api
from .names import candidate_names
from .sniff import check_peak_file, is_gff_fields
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
    n_records_by_chrom: Counter = field(default_factory=Counter)  # records (not merged) per name
    n_lines: int = 0  # every line of the file
    n_comment_lines: int = 0  # track / browser / # / blank lines

    def intervals(self, chrom: str) -> Tuple[np.ndarray, np.ndarray]:
        """The intervals on ``chrom``, found under its name in either scheme (``2L`` finds a BED's
        ``chr2L``, ``chrM`` its ``MT``); none when the file has no record there."""
        for name in candidate_names(chrom):
            if name in self.chroms:
                return self.chroms[name]
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty

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


#: Largest start/end accepted. Far beyond any chromosome, and small enough that sums of interval
#: lengths stay inside int64.
MAX_COORDINATE = 2 ** 62
log = logging.getLogger(__name__)
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would also take "1_000", "+5", "١٢"


def _to_int(text: str) -> int:
    """``text`` (matched by ``_INTEGER``) as an int; absurdly long numbers become just past the
    limit, so they are rejected without int()'s own limit on digits being reached."""
    if len(text.lstrip("-")) > 20:
        return -(MAX_COORDINATE + 1) if text.startswith("-") else MAX_COORDINATE + 1
    return int(text)


def _is_header(line: str) -> bool:
    return line.startswith(("#", "track", "browser"))


def iter_bed_records(path: str, on_bad_line: str = "error",
                     skipped: Optional[Counter] = None,
                     examples: Optional[Dict[str, str]] = None,
                     lines: Optional[Counter] = None, names: bool = False,
                     gff_type: Optional[str] = None, skip_hint: bool = False) -> Iterator[tuple]:
    """Yield (chrom, start, end) from a BED3+ / narrowPeak file (plain or gzipped), or from a
    GFF3 / GTF file, recognised by its first data line (9 columns, 1-based closed coordinates in
    columns 4-5, a strand in column 7) whatever it is called: its intervals are converted to
    0-based half-open and a warning says the file was read as GFF.

    With ``names=True``, (chrom, start, end, name): the BED name column (4th), None where there is
    none or it is ``.`` (GFF lines have none). ``gff_type`` (e.g. ``exon``) keeps only the GFF lines
    of that feature type (column 3); the others are counted in ``skipped`` as
    ``"other GFF feature type"``, and a file with none of that type is an error listing the types
    it has. A file whose content is another format (FASTA, VCF, SAM/BAM, bigWig, bedGraph, ...:
    :mod:`dnaseq.sequence.sniff`) is refused with one line naming it and what to pass instead.

    ``track``, ``browser``, ``#`` and blank lines are skipped (counted in ``lines["comment"]``;
    ``lines["total"]`` counts every line). Only ``\n`` ends a line (a ``\r`` before it is
    dropped), so line numbers are those of ``sed -n Np`` and ``awk``. Columns are split on tabs, or on any whitespace when a line has
    fewer than 3 tab-separated columns. A malformed line raises :class:`BedFormatError` whose
    message starts ``file:line: problem`` (ending with a pointer to ``--skip-bad-lines`` when
    ``skip_hint``: the commands that have it), or with ``on_bad_line="skip"`` is counted in
    ``skipped`` under its reason (a fixed category such as ``"negative start"``; the first such
    line is kept in ``examples``). A column header before the data and zero-length intervals are
    counted in ``skipped`` in both modes. So, in skip mode, records yielded + ``sum(skipped)`` +
    ``lines["comment"]`` == ``lines["total"]``. A truncated or corrupt gzip stream raises
    :class:`BedFormatError` in both modes, naming the line where the data ends.
    """
    if on_bad_line not in ("error", "skip"):
        raise ValueError("on_bad_line must be 'error' or 'skip'")
    _check_peak_path(path)
    skipped = skipped if skipped is not None else Counter()
    examples = examples if examples is not None else {}
    lines = lines if lines is not None else Counter()

    seen_data, gff = False, None
    types: Counter = Counter()  # GFF feature types seen
    kept = 0
    for lineno, line in _numbered_lines(path):
        lines["total"] += 1
        if not line.strip() or _is_header(line):
            lines["comment"] += 1
            continue
        if gff is None:  # the first data line decides the format
            gff = is_gff_fields(line.split("\t"))
            if gff:
                log.warning("%s: read as GFF/GTF (1-based start and end in columns 4-5, converted to BED's "
                            "0-based half-open intervals)", path)
        fields, problem = _gff_as_bed(line, gff_type, types) if gff else (_columns(line), None)
        if problem is None:
            record, problem, seen_data = _bed_record(fields, seen_data)
        if problem is not None:
            reason, detail = problem
            if detail is None or on_bad_line == "skip":  # counted in both modes, or skip mode
                skipped[reason] += 1
                examples.setdefault(reason, f"{path}:{lineno}")
                continue
            hint = ", or pass --skip-bad-lines to count and skip such lines" if skip_hint else ""
            raise BedFormatError(f"{path}:{lineno}: {detail}: {line[:80]!r} (fix the line{hint})")
        kept += 1
        if names:
            label = fields[3].strip() if len(fields) > 3 else ""
            yield (*record, label if label not in ("", ".") else None)
        else:
            yield record
    _check_gff_type(path, gff_type, gff, kept, types)


# What a line that yields no interval is: (reason counted in ``skipped``, detail for the error
# message), detail None for lines counted in both modes (headers, points, other GFF types).
_Problem = Tuple[str, Optional[str]]


def _check_peak_path(path: str) -> None:
    """A peak file that exists, is a file, and whose content is not another format."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"peak/interval file not found: {path}")
    if os.path.isdir(path):
        raise BedFormatError(f"{path}: is a folder, not a BED file")
    try:
        check_peak_file(path)
    except ValueError as exc:
        raise BedFormatError(str(exc)) from None


def _gff_as_bed(line: str, gff_type: Optional[str], types: Counter) -> Tuple[List[str], Optional[_Problem]]:
    """A GFF/GTF line as BED columns (1-based closed -> 0-based half-open), counting its feature
    type in ``types``; or the problem that keeps it out."""
    fields = line.split("\t")
    if len(fields) < 9 or not (_INTEGER.fullmatch(fields[3].strip()) and _INTEGER.fullmatch(fields[4].strip())):
        return fields, ("not a GFF line", "expected 9 tab-separated GFF columns with integer start and end")
    feature_type = fields[2].strip()
    types[feature_type] += 1
    if gff_type is not None and feature_type != gff_type:
        return fields, ("other GFF feature type", None)
    return [fields[0], str(_to_int(fields[3].strip()) - 1), fields[4].strip()], None


def _bed_record(fields: List[str], seen_data: bool) -> Tuple[Optional[tuple], Optional[_Problem], bool]:
    """``(chrom, start, end)`` from BED columns, or the problem that keeps the line out, and
    whether a data line (integer start and end) has now been seen: before the first, a line with
    neither start nor end an integer is a column header."""
    if len(fields) < 3:
        return None, ("fewer than 3 columns",
                      f"expected at least 3 tab-separated columns (chrom, start, end), got {len(fields)}"), seen_data
    chrom, start_s, end_s = fields[0].strip(), fields[1].strip(), fields[2].strip()
    start_ok, end_ok = bool(_INTEGER.fullmatch(start_s)), bool(_INTEGER.fullmatch(end_s))
    if not (start_ok and end_ok):
        if not seen_data and not start_ok and not end_ok:
            return None, ("header line", None), False  # e.g. "chrom  start  end" before the data
        return None, ("start/end must be integers",
                      f"start/end must be integers, got {start_s[:30]!r} and {end_s[:30]!r}"), seen_data
    start, end = _to_int(start_s), _to_int(end_s)
    problem = _coordinate_problem(chrom, start, end, start_s, end_s)
    if problem is not None:
        return None, problem, True
    if end == start:  # legal in BED (a point), but it covers no base: counted, not used
        return None, ("zero-length interval", None), True
    return (chrom, start, end), None, True


def _check_gff_type(path: str, gff_type: Optional[str], gff: Optional[bool], kept: int, types: Counter) -> None:
    """``--gff-type`` that matched nothing is an error listing the types the file has; on a BED
    file it is a warning."""
    if gff_type is not None and gff and not kept:
        seen = ", ".join(f"{k} ({v:,})" for k, v in types.most_common(12))
        raise BedFormatError(f"{path}: no GFF line of type {gff_type!r} (--gff-type); its types: {seen}")
    if gff_type is not None and gff is False:
        log.warning("%s: --gff-type %s applies to GFF/GTF files; this is BED, read whole", path, gff_type)


def _numbered_lines(path: str) -> Iterator[Tuple[int, str]]:
    """(line number, line without its end) of a plain or gzipped text file; only ``\n`` ends a
    line, a UTF-8 byte-order mark is dropped; a truncated or corrupt gzip stream is a
    :class:`BedFormatError` naming the line where the data ends."""
    try:
        fh = open_text(path, newline="\n")
    except OSError as exc:  # e.g. permission denied
        raise BedFormatError(f"{path}: cannot read ({exc})") from exc
    lineno = 0
    with fh:
        it = iter(fh)
        while True:
            try:
                line = next(it)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                raise BedFormatError(f"{path}:{lineno + 1}: file is truncated or not valid gzip "
                                     f"({type(exc).__name__}: {exc}); {lineno} lines were read") from exc
            lineno += 1
            line = line.rstrip("\r\n")
            yield lineno, (line.lstrip("\ufeff") if lineno == 1 else line)


def _columns(line: str) -> List[str]:
    """Tab-separated columns, or whitespace-separated when a line has fewer than 3 tab-separated ones."""
    fields = line.split("\t")
    return fields if len(fields) >= 3 else line.split()


def _coordinate_problem(chrom: str, start: int, end: int, start_s: str, end_s: str) -> Optional[Tuple[str, str]]:
    """(reason, detail) of an interval that cannot be used, or None."""
    if start < 0:
        return "negative start", f"negative start {start_s[:30]}"
    if end > MAX_COORDINATE or start > MAX_COORDINATE:
        return "coordinate too large", f"coordinate {(end_s if end > start else start_s)[:30]} is larger than 2**62"
    if end < start:
        return "end before start", f"end {end_s[:30]} is before start {start_s[:30]}"
    if not chrom:
        return "empty chromosome name", "empty chromosome name"
    return None


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


@api
def read_intervals(path: str, on_bad_line: str = "error", gff_type: Optional[str] = None,
                   skip_hint: bool = False) -> IntervalSet:
    """Read a BED/narrowPeak (or GFF/GTF: :func:`iter_bed_records`) file into a merged
    :class:`IntervalSet`."""
    out = IntervalSet(source=str(path))
    per_chrom: Dict[str, Tuple[List[int], List[int]]] = {}
    lines: Counter = Counter()
    for chrom, start, end in iter_bed_records(str(path), on_bad_line, out.skipped, out.skipped_examples, lines,
                                              gff_type=gff_type, skip_hint=skip_hint):
        s, e = per_chrom.setdefault(chrom, ([], []))
        s.append(start)
        e.append(end)
        out.n_records += 1
        out.n_records_by_chrom[chrom] += 1
    out.n_lines, out.n_comment_lines = lines["total"], lines["comment"]
    for chrom, (s, e) in per_chrom.items():
        out.chroms[chrom] = merge_intervals(np.array(s, np.int64), np.array(e, np.int64))
    return out
