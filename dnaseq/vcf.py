"""A tolerant VCF record reader: every data line comes out, parsed or with what is wrong.

Only the first five columns (CHROM, POS, ID, REF, ALT) matter for scoring, and the rule
"every input record appears in the output exactly once per ALT" needs the line number and the
reason for each line that cannot be used. htslib-based readers (cyvcf2, pysam) either stop the
whole run or skip such lines with a log message, so dnaseq reads the text itself: plain or
gzip/bgzip, ``##`` meta lines and the ``#CHROM`` header are skipped, columns are tab-separated.

ALT classification (``alt_kind``):
  ``snv``, ``mnv`` (same-length substitution), ``indel``; and the unscorable kinds ``symbolic``
  (``<DEL>``, ``<INS>``, ``<*>`` ...), ``breakend`` (``]chr:pos]A``, ``A[chr:pos[``, ``.A``,
  ``A.``), ``star`` (``*``, a deletion spanning this site), ``missing`` (``.``), ``same_as_ref``.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from typing import Iterator, List, Optional

from .textio import open_text

_BASES = re.compile(r"^[ACGTNacgtn]+$")
_IUPAC = re.compile(r"^[ACGTNRYSWKMBDHVacgtnryswkmbdhv]+$")
UNSCORABLE = ("symbolic", "breakend", "star", "missing", "same_as_ref", "invalid_alt")


@dataclass
class VariantRow:
    """One ALT of one VCF record (or one malformed line)."""
    line: int
    chrom: str
    pos: int  # 1-based, as in the VCF; -1 when unreadable
    id: str
    ref: str
    alt: str
    alt_index: int  # 0-based index among the record's ALTs
    kind: str  # snv / mnv / indel / one of UNSCORABLE / malformed
    problem: str = ""  # what is wrong, for malformed lines

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
    if not _IUPAC.match(alt):
        return "invalid_alt"
    if alt.upper() == ref.upper():
        return "same_as_ref"
    if len(alt) == len(ref):
        return "snv" if len(alt) == 1 else "mnv"
    return "indel"


def read_vcf(path: str) -> Iterator[VariantRow]:
    """Yield one :class:`VariantRow` per ALT of every data line; malformed lines yield one row
    with ``kind="malformed"`` and the problem. A truncated gzip ends with one such row."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"VCF not found: {path}")
    lineno = 0
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line or line.startswith("#"):
                    continue
                yield from _parse_line(line, lineno)
    except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as exc:
        yield VariantRow(lineno + 1, "", -1, "", "", "", 0, "malformed",
                         f"file ends early or is corrupt after line {lineno} ({exc})")


def _parse_line(line: str, lineno: int) -> List[VariantRow]:
    fields = line.split("\t")
    if len(fields) < 5:
        fields_ws = line.split()
        problem = (f"expected at least 5 tab-separated columns, got {len(fields)}"
                   + (" (columns are separated by spaces, not tabs)" if len(fields_ws) >= 5 else ""))
        return [VariantRow(lineno, fields[0] if fields else "", -1, "", "", "", 0, "malformed", problem)]
    chrom, pos_s, vid, ref, alts = fields[:5]

    def bad(problem: str) -> List[VariantRow]:
        return [VariantRow(lineno, chrom, -1, vid, ref, alts, 0, "malformed", problem)]

    if not chrom:
        return bad("empty CHROM")
    try:
        pos = int(pos_s)
    except ValueError:
        return bad(f"POS {pos_s!r} is not an integer")
    if pos < 1:
        return bad(f"POS {pos} is below 1")
    if not ref or not _IUPAC.match(ref):
        return bad(f"REF {ref!r} is not a DNA sequence")
    rows = []
    for i, alt in enumerate(alts.split(",")):
        if not alt:
            rows.append(VariantRow(lineno, chrom, pos, vid, ref, alt, i, "malformed", "empty ALT"))
            continue
        rows.append(VariantRow(lineno, chrom, pos, vid, ref, alt, i, classify_alt(ref, alt)))
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
