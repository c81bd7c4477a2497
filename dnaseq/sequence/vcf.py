"""A tolerant VCF record reader: every data line comes out, parsed or with what is wrong.

Only the first five columns (CHROM, POS, ID, REF, ALT) matter for scoring, and the rule
"every input record appears in the output exactly once per ALT" needs the line number and the
reason for each line that cannot be used. htslib-based readers (cyvcf2, pysam) either stop the
whole run or skip such lines with a log message, so dnaseq reads the text itself: plain or
gzip/bgzip, ``##`` meta lines and the ``#CHROM`` header are skipped, columns are tab-separated.

Lines. Only ``\\n`` ends a line (as for awk, sed and htslib), so line numbers are those of
``sed -n 'Np'``; a trailing ``\\r`` (CRLF files) is dropped; empty lines are skipped; every
other line not starting with ``#`` is a data line. Bytes that are not UTF-8 are kept as
``\\xNN`` text and each row names the fields that held them (``not_utf8``); a UTF-8 byte-order
mark is ignored.

ALT classification (``alt_kind``):
  ``snv``, ``mnv`` (same-length substitution), ``indel``; and the unscorable kinds ``symbolic``
  (``<DEL>``, ``<INS>``, ``<*>`` ...), ``breakend`` (``]chr:pos]A``, ``A[chr:pos[``, ``.A``,
  ``A.``), ``star`` (``*``, a deletion spanning this site), ``missing`` (``.``), ``same_as_ref``,
  ``invalid_alt`` (characters that are not DNA, or IUPAC ambiguity codes such as ``Y``: an
  ambiguous allele has no single sequence to score; ``N`` is accepted and scored as unknown).

Malformed lines give one row per ALT (one row when the line has no ALT column) with
``kind="malformed"``: CHROM, ID, REF and ALT are the line's own text (its first fields; long
text is cut at 100 characters), ``pos`` is the POS text's integer when it is one (possibly < 1),
else -1 (an integer column, never empty), and ``problem`` quotes the raw POS text.

:func:`check_vcf` looks at the start of a file before anything is written: a file that has
no ``##fileformat``/``#CHROM`` header and whose first lines are not VCF records (an image, a
gzip of something else) is refused with one error naming the file. :class:`VcfReport`, filled
in by :func:`read_vcf` as it goes, gives the warnings for empty or header-less input.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, replace
from typing import Iterator, List, Optional, Tuple

from .sniff import not_a, sniff
from .textio import open_text

_BASES = re.compile(r"[ACGTNacgtn]+")
_IUPAC = re.compile(r"[ACGTNRYSWKMBDHVacgtnryswkmbdhv]+")
_POS = re.compile(r"-?[0-9]+")
MAX_POS = 2 ** 62  # larger POS values are malformed (they would overflow int64 columns)
UNSCORABLE = ("symbolic", "breakend", "star", "missing", "same_as_ref", "invalid_alt")
_CLIP = 100
_CORRUPT = (EOFError, gzip.BadGzipFile, OSError, zlib.error)
_OPEN = dict(errors="surrogateescape", newline="\n", encoding="utf-8-sig")  # bytes kept: see read_vcf
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape keeps it
_FIELDS = ("CHROM", "POS", "ID", "REF", "ALT")


@dataclass
class VariantRow:
    """One ALT of one VCF record (or one malformed line)."""
    line: int
    chrom: str
    pos: int  # 1-based, as in the VCF; malformed lines: the POS text's integer if it is one, else -1
    id: str
    ref: str
    alt: str
    alt_index: int  # 0-based index among the record's ALTs
    kind: str  # snv / mnv / indel / one of UNSCORABLE / malformed
    problem: str = ""  # what is wrong, for malformed lines and invalid ALTs
    not_utf8: Tuple[str, ...] = ()  # the fields (CHROM, POS, ID, REF, ALT) that held bytes that are not UTF-8
    duplicate_of: int = 0  # the line of an earlier row with the same CHROM, POS, REF and ALT (0: none)

    @property
    def scorable(self) -> bool:
        return self.kind in ("snv", "mnv", "indel")


def classify_alt(ref: str, alt: str) -> str:
    if alt == ".":
        return "missing"
    if alt == "*":
        return "star"
    if alt.startswith("<") and alt.endswith(">"):
        return "symbolic"
    if "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "breakend"
    if not _IUPAC.fullmatch(alt):
        return "invalid_alt"
    if alt.upper() == ref.upper():
        return "same_as_ref"
    if not _BASES.fullmatch(alt):
        return "invalid_alt"  # IUPAC ambiguity codes (R, Y, ...): no single sequence to score
    if len(alt) == len(ref):
        return "snv" if len(alt) == 1 else "mnv"
    return "indel"


def invalid_alt_problem(alt: str) -> str:
    """Why an ``invalid_alt`` ALT cannot be scored."""
    if _IUPAC.fullmatch(alt):
        codes = "".join(sorted({c.upper() for c in alt if c.upper() not in "ACGTN"}))
        return (f"ALT {_clip(alt)!r} holds IUPAC ambiguity code(s) {codes}: an ambiguous allele has no "
                f"single sequence; only A, C, G, T and N are scored")
    bad = "".join(sorted({c for c in alt if not _IUPAC.fullmatch(c)}))
    return f"ALT {_clip(alt)!r} holds characters that are not DNA ({_clip(bad, 20)!r})"


@dataclass
class VcfReport:
    """What :func:`read_vcf` saw in a file; :meth:`warnings` turns it into messages."""
    path: str
    size: int = 0
    has_fileformat: bool = False
    chrom_line: Optional[int] = None  # line number of the #CHROM header
    data_lines: int = 0
    first_data_line: Optional[int] = None
    malformed_lines: int = 0  # data lines with at least one malformed row
    first_malformed_line: Optional[int] = None
    corrupt: str = ""  # the gzip/IO error that ended the file early
    duplicates: int = 0  # rows repeating an earlier row's CHROM, POS, REF and ALT
    first_duplicate_line: Optional[int] = None

    def warnings(self) -> List[str]:
        w = []
        if self.size == 0:
            w.append(f"VCF {self.path} is empty (0 bytes): no variants to score")
        elif self.data_lines == 0 and not self.corrupt:
            w.append(f"VCF {self.path} has no data lines (header only): no variants to score")
        if self.data_lines and self.chrom_line is None:
            w.append(f"VCF {self.path} has no #CHROM header line: its lines were read as CHROM, POS, ID, "
                     f"REF, ALT columns anyway; check that it is a VCF")
        elif self.data_lines and self.first_data_line < self.chrom_line:
            w.append(f"VCF {self.path}: data line {self.first_data_line} comes before the #CHROM header "
                     f"(line {self.chrom_line})")
        if self.malformed_lines:
            w.append(f"VCF {self.path}: {self.malformed_lines:,} of {self.data_lines:,} data lines are malformed "
                     f"(first: line {self.first_malformed_line}); see the rows with status 'malformed'")
        if self.corrupt:
            w.append(f"VCF {self.path}: {self.corrupt}")
        if self.duplicates:
            w.append(f"VCF {self.path}: {self.duplicates:,} rows repeat an earlier row's CHROM, POS, REF and ALT "
                     f"(first: line {self.first_duplicate_line}); each is scored again, with a note")
        return w


#: formats (by content, :mod:`dnaseq.sequence.sniff`) refused as a VCF with their name; other
#: non-VCF content gets check_vcf's own "does not look like a VCF"
_NOT_VCF = {"bed", "fasta", "gff", "sam", "bam", "cram", "bedgraph", "wig", "bigwig", "bigbed", "hdf5", "jaspar",
            "zstd", "bzip2", "xz", "zip", "checkpoint"}


def check_vcf(path: str, sniff_lines: int = 10) -> Optional[int]:
    """Raise (before any output is created) if ``path`` is missing, unreadable, a folder, or
    clearly not a VCF: no ``##fileformat``/``#CHROM`` header and fewer than half of its first
    ``sniff_lines`` data lines are tab-separated records with an integer POS. A gzipped VCF is read
    to its end (a truncated one raises); its record count (:func:`count_records`) is returned, None
    for a plain one."""
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"VCF not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"VCF {path} is a folder, not a file")
    kind = sniff(path)
    if kind.name in _NOT_VCF:
        raise ValueError(not_a(path, "a VCF", kind, "--vcf takes a VCF (plain, gzip or bgzip)"))
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
    except PermissionError as exc:
        raise ValueError(f"cannot read VCF {path}: {exc.strerror}") from exc
    records = count_records(path) if gz else None  # read to its end now: a damaged file stops before any output
    if gz and records is None:
        raise ValueError(f"VCF {path} is truncated or corrupt: it cannot be decompressed to its end; copy or "
                         f"download it again (or decompress what can be read: zcat {path} > partial.vcf)")
    data: List[str] = []
    try:
        with open_text(path, **_OPEN) as fh:
            first = True
            while len(data) < sniff_lines:
                line = fh.readline(1 << 20)
                if not line:
                    break
                text = line.rstrip("\r\n")
                if first and text.startswith("#") and "\r" in text:
                    raise ValueError(f"VCF {path} uses CR (old Mac) line endings; convert it with "
                                     f"`tr '\\r' '\\n' < {path} > fixed.vcf`")
                first = False
                if not text:
                    continue
                if text.startswith("##fileformat=") or text.startswith("#CHROM"):
                    return records
                if not text.startswith("#"):
                    data.append(text)
    except PermissionError as exc:
        raise ValueError(f"cannot read VCF {path}: {exc.strerror}") from exc
    except _CORRUPT:
        return records  # read_vcf reports a corrupt/truncated gzip as one malformed row
    if not data:
        return records
    first = data[0].split("\t")
    if len(first) >= 2 and first[1].strip().lower() in ("pos", "position", "start", "bp"):
        ours = [f.lower() for f in first[:5]] == ["chrom", "pos", "id", "ref", "alt"]
        raise ValueError(f"{path} is a table with a column header ({' '.join(first[:5])} ...), not a VCF"
                         + (" (an output of dnaseq score-variants?)" if ours else "")
                         + ": --vcf takes a VCF, with its ##fileformat and #CHROM header lines")
    vcf_like = sum(1 for t in data if len(f := t.split("\t")) >= 5 and _POS.fullmatch(f[1]))
    if 2 * vcf_like < len(data):
        sample = "".join(data)
        binary = "\x00" in sample or re.search("[\udc80-\udcff\x01-\x08\x0e-\x1f]", sample)
        raise ValueError(f"{path} does not look like a VCF: it has no ##fileformat or #CHROM header line and "
                         f"{len(data) - vcf_like} of its first {len(data)} lines are not tab-separated "
                         f"CHROM POS ID REF ALT records" + (" (it looks like binary data)" if binary else ""))
    return records


def count_records(path: str) -> Optional[int]:
    """Lines of a VCF that do not start with ``#``, counted on the raw bytes (10 million in a few
    seconds) for a progress bar's total: never fewer than the records :func:`read_vcf` reads
    (empty lines count too). None when the file cannot be read to its end."""
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        lines = hashes = 0
        tail = b"\n"
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            while True:
                block = fh.read(1 << 22)
                if not block:
                    break
                lines += block.count(b"\n")
                hashes += (block[:1] == b"#" and tail == b"\n") + block.count(b"\n#")
                tail = block[-1:]
        return max(0, lines + (tail not in (b"\n", b"")) - hashes)
    except _CORRUPT:
        return None


def read_vcf(path: str, report: Optional[VcfReport] = None) -> Iterator[VariantRow]:
    """Yield one :class:`VariantRow` per ALT of every data line; malformed lines yield one row
    with ``kind="malformed"`` and the problem. A truncated gzip ends with one such row.
    ``report``, when given, is filled in as the file is read."""
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"VCF not found: {path}")
    rep = report if report is not None else VcfReport(path)
    rep.size = os.path.getsize(path)
    lineno = 0
    site, seen = None, {}  # duplicates are looked for among the rows of one position (bounded memory)
    try:
        with open_text(path, **_OPEN) as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line:
                    continue
                if line.startswith("#"):
                    if line.startswith("##fileformat="):
                        rep.has_fileformat = True
                    elif line.startswith("#CHROM") and rep.chrom_line is None:
                        rep.chrom_line = lineno
                    continue
                if _UNDECODABLE.search(line):
                    bad = tuple(n for n, col in zip(_FIELDS, line.split("\t")) if _UNDECODABLE.search(col))
                    line = line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    rows = [replace(r, not_utf8=bad) for r in _parse_line(line, lineno)]
                else:
                    rows = _parse_line(line, lineno)
                rep.data_lines += 1
                if rep.first_data_line is None:
                    rep.first_data_line = lineno
                if any(r.kind == "malformed" for r in rows):
                    rep.malformed_lines += 1
                    if rep.first_malformed_line is None:
                        rep.first_malformed_line = lineno
                for r in rows:
                    if r.kind == "malformed":
                        yield r
                        continue
                    if (r.chrom, r.pos) != site:
                        site, seen = (r.chrom, r.pos), {}
                    first = seen.setdefault((r.ref.upper(), r.alt.upper()), (r.line, r.alt_index))
                    if first != (r.line, r.alt_index):  # an earlier line, or an ALT listed twice (A,A)
                        r = replace(r, duplicate_of=first[0])
                        rep.duplicates += 1
                        rep.first_duplicate_line = rep.first_duplicate_line or r.line
                    yield r
    except _CORRUPT as exc:
        rep.corrupt = f"file ends early or is corrupt after line {lineno} ({exc})"
        yield VariantRow(lineno + 1, "", -1, "", "", "", 0, "malformed", rep.corrupt)


def _clip(text: str, n: int = _CLIP) -> str:
    return text if len(text) <= n else f"{text[:n]}...(+{len(text) - n} chars)"


def _pos_value(text: str) -> Optional[int]:
    """The POS text as an int, or None when it is not an integer that fits an int64 column."""
    if not _POS.fullmatch(text) or len(text) > 19:
        return None
    pos = int(text)
    return pos if -MAX_POS < pos < MAX_POS else None


def _malformed(lineno: int, fields: List[str], problem: str) -> List[VariantRow]:
    """One malformed row keeping the line's own CHROM/POS/ID/REF/ALT text (first five fields)."""
    f = (list(fields) + [""] * 5)[:5]
    pos = _pos_value(f[1])
    return [VariantRow(lineno, _clip(f[0]), -1 if pos is None else pos, _clip(f[2]), _clip(f[3]), _clip(f[4]),
                       0, "malformed", problem)]


def _parse_line(line: str, lineno: int) -> List[VariantRow]:
    fields = line.split("\t")
    if len(fields) < 5:
        ws = line.split()
        spaced = len(ws) >= 5
        problem = (f"expected at least 5 tab-separated columns, got {len(fields)}"
                   + (" (columns are separated by spaces, not tabs)" if spaced else ""))
        shown = fields if len(fields) >= 2 or len(ws) < 2 else ws
        if len(shown) >= 2 and _pos_value(shown[1]) is None:
            problem += f"; POS text {_clip(shown[1], 40)!r}"
        return _malformed(lineno, shown, problem)
    chrom, pos_s, vid, ref, alts = fields[:5]

    def bad(problem: str) -> List[VariantRow]:
        """One malformed row per ALT of the record (each ALT is an output row, scored or not)."""
        one = _malformed(lineno, fields, problem)[0]
        return [replace(one, alt=_clip(alt), alt_index=i) for i, alt in enumerate(alts.split(","))]

    if not chrom:
        return bad("empty CHROM")
    if not _POS.fullmatch(pos_s):
        return bad(f"POS {_clip(pos_s, 40)!r} is not an integer")
    pos = _pos_value(pos_s)
    if pos is None:
        return bad(f"POS {_clip(pos_s, 40)} is out of range")
    if pos < 1:
        return bad(f"POS {pos} is below 1")
    if not _IUPAC.fullmatch(ref):
        return bad(f"REF {_clip(ref, 40)!r} is not a DNA sequence")
    rows = []
    for i, alt in enumerate(alts.split(",")):
        if not alt:
            rows.append(VariantRow(lineno, chrom, pos, vid, ref, alt, i, "malformed",
                                   f"empty ALT (ALT column {_clip(alts, 40)!r})"))
            continue
        kind = classify_alt(ref, alt)
        rows.append(VariantRow(lineno, chrom, pos, vid, ref, alt, i, kind,
                               invalid_alt_problem(alt) if kind == "invalid_alt" else ""))
    return rows


def write_vcf(path: str, records: List[tuple], contigs: Optional[dict] = None) -> str:
    """Write a minimal VCF (tests, benchmarks): records are (chrom, pos, id, ref, alt)."""
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        for name, length in (contigs or {}).items():
            fh.write(f"##contig=<ID={name},length={length}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for chrom, pos, vid, ref, alt in records:
            fh.write(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t.\n")
    return path
