"""Checking a FASTA's ``.fai`` / ``.gzi`` index against the file, and rebuilding it safely.

Written here rather than taken from a library: pyfaidx (which dnaseq reads FASTA with) checks
only an index's age, and samtools/htslib are not a Python dependency.

pyfaidx trusts an existing ``.fai`` except for one test (``rebuild=True``: rebuild it when it is
older than the FASTA; with ``rebuild=False`` it only warns). A partial, empty, hand-copied or
garbage index would otherwise give ``unknown chromosome`` for sequences it leaves out, or wrong
bases / a numpy broadcast error for a FASTA rewrapped to another line width. So before opening,
``Genome`` checks the index against the FASTA, and then either rebuilds it (folder writable:
one ``logging`` warning naming the index) or stops with a one-line ``ValueError`` naming the
FASTA and its index and saying to delete or rebuild it (``samtools faidx FILE``). It never reads
the whole FASTA for this; it reads a few bytes around each indexed sequence (a BGZF block or two
each for ``.fa.gz``): 2 ms for the 70 Mbp hg19 chrX ``.fa.gz``, 0.2 s for 3,000 sequences. Checked:

* mtimes: ``.fai`` (and for BGZF ``.gzi``) not older than the FASTA -- pyfaidx's own rule;
* the ``.fai`` is text of 5 tab-separated fields per line (name, length, offset, bases per line,
  bytes per line), non-negative integers, at least one sequence, offsets increasing;
* for BGZF the ``.gzi`` exists and is well formed (block count, increasing offsets inside the
  compressed file); reads below go through it, so a ``.gzi`` from another compression fails them;
* each record's offset is the start of a line and the line before it is a ``>`` header whose
  first word is the record's name;
* each record's first line is ``bases per line`` bases followed by its line end of
  ``bytes per line - bases per line`` bytes (a rewrapped FASTA fails here), and its last line
  starts right after a line end, where length and line widths put it;
* the byte where the record's last base should be (from length, offset and line widths) is a
  base, and only line ends follow it up to the next record's header -- or, for the last record,
  up to the end of the file; before the first header only blank and ``;`` comment lines. So no
  sequence can be missing from the index and no length can be off, without reading the bases.

Not checked: the lines in the middle of a sequence (a FASTA whose inner lines were edited to
other widths but keep the same first line, total size and a newer mtime). ``fetch`` still checks
that pyfaidx returned exactly the number of bases asked for and raises ``ValueError`` otherwise.

A missing index is built quietly, as before. Indexes are built by pyfaidx into temporary files
next to the FASTA and renamed into place, so a concurrent reader never sees a half-written one.
A freshly built index is checked too: pyfaidx mis-indexes some odd layouts (non-ASCII text in a
sequence, a blank first line, a last line longer than the others), which then gives
``ValueError: cannot index this FASTA`` instead of wrong bases.
A read-only folder with a missing index gives a ``ValueError`` saying to copy the FASTA to a
writable folder or create the index there with ``samtools faidx``.
"""
from __future__ import annotations

import logging
import os
import secrets
import struct
import zlib
from dataclasses import dataclass
from typing import List, Optional, Tuple

import pyfaidx

from .fasta_bytes import BgzfReader, IndexMismatch, PlainReader

log = logging.getLogger("dnaseq.sequence.genome")


_LINE_END = b"\r\n"
_HEADER_LOOKBACK = 4096  # first read back from a record's offset; grows up to _MAX_HEADER
_MAX_HEADER = 1 << 20
_MAX_GAP = 1 << 16  # line ends allowed between a sequence's last base and the next header


@dataclass(frozen=True)
class FaiRecord:
    name: str
    length: int
    offset: int
    line_bases: int
    line_bytes: int

    @property
    def body_end(self) -> int:
        """File offset just after the sequence's last base (its offset if the sequence is empty)."""
        if self.length == 0:
            return self.offset
        last = self.length - 1
        return self.offset + (last // self.line_bases) * self.line_bytes + last % self.line_bases + 1


def is_bgzf_path(path: str) -> bool:
    """pyfaidx's rule: ``.gz`` / ``.bgz`` names are read as BGZF."""
    return str(path).lower().endswith((".gz", ".bgz"))


def index_paths(path: str) -> Tuple[str, Optional[str]]:
    """The ``.fai`` and (for BGZF) ``.gzi`` files pyfaidx uses for ``path``."""
    path = str(path)
    return path + ".fai", (path + ".gzi" if is_bgzf_path(path) else None)


def read_fai(fai: str) -> List[FaiRecord]:
    """Parse a ``.fai`` strictly; IndexMismatch says what is wrong with it."""
    with open(fai, "rb") as fh:
        raw = fh.read()
    if not raw.strip():
        raise IndexMismatch(f"{fai} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IndexMismatch(f"{fai} is not a text index (binary data)") from None
    records = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line and i > text.count("\n"):  # the final newline
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 5 or not fields[0] or any(c.isspace() for c in fields[0]) \
                or not all(f.isascii() and f.isdigit() for f in fields[1:]):
            raise IndexMismatch(f"{fai} line {i} is not 'name, length, offset, bases per line, "
                                f"bytes per line' (tab-separated): {line[:30]!r}")
        rec = FaiRecord(fields[0], *map(int, fields[1:]))
        if rec.length and not 0 < rec.line_bases <= rec.line_bytes:
            raise IndexMismatch(f"{fai} line {i} ({rec.name}) has impossible line widths "
                                f"{rec.line_bases}/{rec.line_bytes}")
        if records and rec.offset < records[-1].body_end:
            raise IndexMismatch(f"{fai} line {i} ({rec.name}) overlaps the sequence before it")
        records.append(rec)
    return records


def _header_before(rd, offset: int) -> Tuple[int, bytes]:
    """(start, text) of the line that ends just before ``offset`` (or at the end of the file:
    an empty last sequence whose header has no line end)."""
    if offset <= 0:
        raise IndexMismatch("a sequence starts at byte 0, with no '>' header before it")
    k = min(offset, _HEADER_LOOKBACK)
    while True:
        buf = rd.read_at(offset - k, k)
        if len(buf) != k:
            raise IndexMismatch(f"the FASTA ends before byte {offset}")
        ends_line = buf.endswith(b"\n")
        if not ends_line and offset != rd.size:
            raise IndexMismatch(f"byte {offset} is not the start of a line")
        j = buf.rfind(b"\n", 0, k - 1 if ends_line else k)
        if j >= 0:
            return offset - k + j + 1, buf[j + 1:]
        if k == offset:
            return 0, buf
        if k >= _MAX_HEADER:
            raise IndexMismatch(f"no header line within {_MAX_HEADER} bytes before byte {offset}")
        k = min(offset, k * 16)


def _header_name(line: bytes) -> Optional[str]:
    """The sequence name pyfaidx takes from a header line (first word after '>')."""
    if not line.startswith(b">"):
        return None
    try:
        words = line.decode("utf-8").rstrip("\n\r")[1:].split()
    except UnicodeDecodeError:
        return None
    return words[0] if words else None


def _check_prefix(rd, end: int) -> None:
    """Before the first header pyfaidx allows only blank lines and ';' comment lines."""
    pos, carry = 0, b""
    while pos < end:
        chunk = rd.read_at(pos, min(1 << 20, end - pos))
        if not chunk:
            raise IndexMismatch(f"the FASTA ends before byte {end}")
        pos += len(chunk)
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop() if pos < end else b""
        for line in lines:
            if not (line.startswith(b";") or not line.decode("utf-8").strip()):
                what = "a sequence missing from the index" if line.startswith(b">") else "text"
                raise IndexMismatch(f"{what} before the first indexed sequence ({line[:40]!r})")


def _is_line_end(b: bytes) -> bool:
    return not b.strip(_LINE_END)


def _check_tail(rd, rec: FaiRecord, next_start: Optional[int], next_name: str = "") -> None:
    """The last base is where the index says, followed only by line ends up to ``next_start``
    (the next record's header line) or, for the last record (``next_start`` None), the file end.
    After a full last line pyfaidx reads its ``line_bytes - line_bases`` line-end bytes too."""
    end = rec.body_end
    where = f"the header of {next_name!r}" if next_start is not None else "the end of the file"
    if next_start is not None and end > next_start:
        raise IndexMismatch(f"{rec.name} (length {rec.length} in the index) runs into {where}")
    if rec.length:
        last = rd.read_at(end - 1, 1)
        if len(last) != 1 or _is_line_end(last):
            raise IndexMismatch(f"{rec.name} has no base at byte {end - 1}, where its length in the "
                                f"index ({rec.length}) puts its last base")
    if rec.length > rec.line_bases:  # the last line starts right after a line end
        start = end - ((rec.length - 1) % rec.line_bases + 1)
        eol = rec.line_bytes - rec.line_bases
        buf = rd.read_at(start - eol, eol + min(end - start, _MAX_GAP))
        term, bases = buf[:eol], buf[eol:]
        if not (term.endswith(b"\n") and _is_line_end(term)) or not bases \
                or len(bases) != len(bases.translate(None, _LINE_END)):
            raise IndexMismatch(f"{rec.name}'s last line does not start at byte {start}, where its "
                                f"length and line widths in the index put it")
    want = _MAX_GAP + 1 if next_start is None else next_start - end
    gap = rd.read_at(end, min(want, _MAX_GAP + 1))
    if next_start is not None and len(gap) < min(want, _MAX_GAP + 1):
        raise IndexMismatch(f"the FASTA ends before {where}")
    rest = gap.lstrip(_LINE_END)
    if rest or len(gap) > _MAX_GAP:
        what = "a sequence missing from the index" if rest.startswith(b">") else "more sequence"
        raise IndexMismatch(f"{what} after the {rec.length} bases the index gives {rec.name}, "
                            f"before {where}")
    eol = rec.line_bytes - rec.line_bases
    if rec.length and rec.length % rec.line_bases == 0 and len(gap) < eol and next_start is not None:
        raise IndexMismatch(f"{rec.name}'s last line does not end in {eol} line-end byte(s)")


def _check_first_line(rd, rec: FaiRecord) -> None:
    """A full first line is ``line_bases`` bases and ``line_bytes - line_bases`` line-end bytes
    (fewer only at the end of the file), then a base if the sequence goes on."""
    if rec.length == 0 or rec.length < rec.line_bases:
        return
    eol = rec.line_bytes - rec.line_bases
    buf = rd.read_at(rec.offset + rec.line_bases - 1, eol + 2)
    base, term, after = buf[:1], buf[1:1 + eol], buf[1 + eol:]
    ok = len(base) == 1 and not _is_line_end(base) and _is_line_end(term)
    if rec.length > rec.line_bases:  # more lines follow: a whole line end, then a base
        ok = ok and len(term) == eol and term.endswith(b"\n") and len(after) == 1 and not _is_line_end(after)
    elif len(term) < eol:  # a single line: its line end may only be cut short by the end of the file
        ok = ok and not after and len(buf) < eol + 2
    if not ok:
        raise IndexMismatch(f"{rec.name}'s first line is not {rec.line_bases} bases + "
                            f"{eol} line-end byte(s) (FASTA rewrapped to another line width?)")


def check_index(path: str) -> Optional[str]:
    """Why the index of ``path`` does not match it (one line), or None when it does.

    The index files must exist (see :func:`index_paths`). Cheap: see the module docstring.
    """
    path = str(path)
    fai, gzi = index_paths(path)
    fasta_mtime = os.stat(path).st_mtime_ns
    for idx in (fai, gzi):
        if idx is None:
            continue
        if not os.path.exists(idx):
            return f"{idx} is missing"
        if os.stat(idx).st_mtime_ns < fasta_mtime:
            return f"{idx} is older than the FASTA"
    rd = None
    try:
        records = read_fai(fai)
        rd = BgzfReader(path, gzi) if gzi else PlainReader(path)
        starts = []
        for rec in records:
            start, line = _header_before(rd, rec.offset)
            name = _header_name(line)
            if name != rec.name:
                found = f"header {name!r}" if name is not None else f"{line[:40]!r}"
                raise IndexMismatch(f"the index puts {rec.name!r} at byte {rec.offset}, after {found}")
            starts.append(start)
            _check_first_line(rd, rec)
        _check_prefix(rd, starts[0])
        for i, rec in enumerate(records):
            nxt = i + 1 < len(records)
            _check_tail(rd, rec, starts[i + 1] if nxt else None, records[i + 1].name if nxt else "")
    except IndexMismatch as exc:
        return str(exc)
    except Exception as exc:  # any failure to read the FASTA where the index points
        return f"cannot read the FASTA where the index points ({type(exc).__name__}: {exc})"
    finally:
        if rd is not None:
            rd.close()
    return None


def _folder_writable(folder: str) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _build_index(path: str) -> None:
    """Build ``.fai`` (and ``.gzi``) with pyfaidx into temporary files and rename them into place."""
    fai, gzi = index_paths(path)
    tag = f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp_fai, tmp_gzi = fai + tag, (gzi + tag if gzi else None)
    try:
        try:
            faidx = pyfaidx.Faidx(path, indexname=tmp_fai, gzi_indexname=tmp_gzi, build_index=True,
                                  rebuild=True)
        except FileNotFoundError:
            raise
        except pyfaidx.UnsupportedCompressionFormat as exc:
            raise ValueError(_bgzip_message(path, exc)) from exc
        except ValueError as exc:
            raise _duplicate_or(path, exc, f"{path}: cannot index this FASTA: {_with_rewrap(exc)}") from exc
        except RuntimeError as exc:  # pyfaidx's check_bad_lines, e.g. two blank lines ending a sequence
            raise ValueError(f"{path}: cannot index this FASTA: its line lengths are not consistent "
                             f"(blank lines inside or after a sequence?); pyfaidx: {exc}{_REWRAP}") from exc
        except (pyfaidx.FastaIndexingError, IndexError, EOFError, struct.error, zlib.error) as exc:
            # zlib.error, struct.error, EOFError: a damaged BGZF file
            damaged = (" (the compressed file ends early or is damaged: copy or download it again)"
                       if isinstance(exc, (EOFError, struct.error, zlib.error)) else "")
            raise ValueError(f"{path}: cannot index this FASTA: {_with_rewrap(exc)}{damaged}") from exc
        except OSError as exc:
            raise ValueError(f"{path}: could not build its index {fai}: {exc}") from exc
        faidx.close()
        fasta_mtime = os.stat(path).st_mtime_ns
        for tmp, final in ((tmp_gzi, gzi), (tmp_fai, fai)):  # .fai last: it is what is checked first
            if tmp is None:
                continue
            if os.stat(tmp).st_mtime_ns < fasta_mtime:  # FASTA stamped in the future (clock skew)
                os.utime(tmp, ns=(fasta_mtime, fasta_mtime))
            os.replace(tmp, final)
    finally:
        for tmp in (tmp_fai, tmp_gzi):
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)


def _duplicate_or(path: str, exc: ValueError, message: str) -> ValueError:
    """pyfaidx's read_fai says 'Duplicate key "NAME"' (its default duplicate_action="stop")."""
    if str(exc).startswith("Duplicate key"):
        return ValueError(f"{path}: more than one sequence is named {str(exc)[14:]}; sequence names "
                          f"must be unique")
    return ValueError(message)


# pyfaidx (like samtools faidx) needs every line of a sequence but its last to have one length
_REWRAP = "; rewrap it to one line length, e.g. `seqkit seq -w 60 IN.fa > OUT.fa`"


def _with_rewrap(exc: Exception) -> str:
    """pyfaidx's message, with how to fix it when it is about line lengths."""
    text = str(exc)
    return text.rstrip(". ") + _REWRAP if "line length" in text.lower() else text


def _bgzip_message(path: str, exc: Exception) -> str:
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    if not compressed:  # a plain-text FASTA named .gz: pyfaidx goes by the name
        return (f"{path}: this FASTA is not compressed although its name ends in .gz; rename it without .gz "
                f"(or compress it with `bgzip`)")
    return (f"{path}: gzip FASTA must be BGZF-compressed to be indexed; "
            f"recompress with `zcat {path} | bgzip > new.fa.gz` ({exc})")


def ensure_index(path: str) -> None:
    """Make sure ``path`` has an index that matches it: check it, rebuild it, or raise ValueError.

    A missing index is built quietly; a mismatched one is rebuilt with one logged warning when the
    folder is writable, else ValueError naming the FASTA and the index (see the module docstring).
    """
    path = str(path)
    fai, gzi = index_paths(path)
    shown = fai if gzi is None else f"{fai} (with {gzi})"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(fai):
        if not _folder_writable(folder):
            raise ValueError(f"{path}: cannot write its index ({fai}): the folder is not writable; copy "
                             f"the FASTA to a writable folder or create the index there with "
                             f"`samtools faidx {path}`")
        _build_index(path)
    else:
        problem = check_index(path)
        if problem is None:
            return
        if not _folder_writable(folder):
            raise ValueError(f"{path}: its index {shown} does not match it ({problem}) and the folder is "
                             f"not writable; delete the index or rebuild it with `samtools faidx {path}` "
                             f"(or copy the FASTA to a writable folder)")
        log.warning("rebuilding the index %s of %s: it does not match the FASTA (%s)", shown, path, problem)
        _build_index(path)
    problem = check_index(path)
    if problem is not None:
        raise ValueError(f"{path}: cannot index this FASTA: the index pyfaidx built for it does not match "
                         f"it ({problem}); check for non-ASCII text, a blank line starting a sequence, "
                         f"a stray '\\r', or a last line longer than the others")
