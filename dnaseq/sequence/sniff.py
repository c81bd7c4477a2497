"""What kind of file this is, by its content, whatever it is called.

Users pass the gene annotation as peaks, a bigWig as a BED, a VCF as the reference. Each reader
calls :func:`sniff` on what it was given and, when the content is another known format, stops
with one line naming that format and what to pass instead (:func:`not_a`), instead of reading
every line as a malformed record or, worse, as data.

Written by hand: libmagic (python-magic) knows none of the genomics text formats (BED, VCF, GFF,
bedGraph, SAM all come out as "ASCII text"), and htslib's ``hts_detect_format`` is reachable only
through pysam, which is not a dependency. The rules are the formats' own magic numbers and the
first lines' shape: bigWig ``0x888FFC26`` and bigBed ``0x8789F2EB`` (little-endian), HDF5's
8-byte signature, ``BAM\\1`` inside a gzip stream, ``CRAM``, zstd / bzip2 / xz / zip magic; for
text, ``>`` (FASTA), ``##fileformat=VCF`` or ``#CHROM POS`` (VCF), ``@HD``/``@SQ`` or 11
columns with a flag and a CIGAR (SAM), ``##gff-version`` or 9 columns with 1-based coordinates and
a strand (GFF/GTF), ``fixedStep``/``variableStep`` (wiggle), ``track type=bedGraph`` or four
columns with a number in the fourth whose intervals tile end to start (bedGraph), three or more
columns with integer start and end (BED); binary when more than a quarter of the first 4 KiB are
control characters or not UTF-8.
"""
from __future__ import annotations

import gzip
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import List

#: bytes read from the start of a file (after decompression)
HEAD_BYTES = 1 << 16

_BINARY = [  # (magic at offset 0, name, description)
    (b"\x26\xfc\x8f\x88", "bigwig", "bigWig signal track"),
    (b"\xeb\xf2\x89\x87", "bigbed", "bigBed file"),
    (b"\x89HDF\r\n\x1a\n", "hdf5", "HDF5 file"),
    (b"CRAM", "cram", "CRAM alignment file"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd-compressed file"),
    (b"BZh", "bzip2", "bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "xz", "xz-compressed file"),
    (b"PK\x03\x04", "zip", "zip archive"),
    (b"\x89PNG", "png", "PNG image"),
    (b"%PDF", "pdf", "PDF document"),
]

DESCRIPTIONS = {
    "fasta": "FASTA sequence file", "vcf": "VCF of variants", "sam": "SAM alignment file",
    "bam": "BAM alignment file", "gff": "GFF/GTF annotation", "bedgraph": "bedGraph signal track",
    "wig": "wiggle signal track", "bed": "BED file", "empty": "empty file", "binary": "binary file",
    "text": "text file", "jaspar": "JASPAR motif file", "checkpoint": "model checkpoint", **{name: desc for _, name, desc in _BINARY},
}

_INT = re.compile(r"-?[0-9]+")  # ASCII digits only, as the BED reader reads them
_CIGAR = re.compile(r"\*|(\d+[MIDNSHP=X])+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(nan|inf)", re.I)
_STRANDS = {"+", "-", ".", "?"}


@dataclass(frozen=True)
class Kind:
    name: str  # fasta, vcf, bed, gff, sam, bam, bedgraph, wig, bigwig, bigbed, hdf5, ..., text, empty

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.name, self.name)


def _head(path: str) -> bytes:
    """The first :data:`HEAD_BYTES` of the file, decompressed when it is gzip/BGZF (as far as the
    stream can be read: a truncated one gives what it holds)."""
    with open(path, "rb") as fh:
        raw = fh.read(HEAD_BYTES)
    if raw[:2] != b"\x1f\x8b":
        return raw
    out = b""
    try:
        with gzip.open(path, "rb") as fh:
            out = fh.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        try:  # what a damaged stream holds before the damage
            out = zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(raw)[:HEAD_BYTES]
        except zlib.error:
            out = b""
    return out


def sniff(path: str | os.PathLike) -> Kind:
    """The format of the file at ``path`` by its content (module docstring); ``text`` when it is
    text of no recognised shape, ``empty`` when it has nothing but white space."""
    head = _head(str(path))
    for magic, name, _ in _BINARY:
        if head.startswith(magic):
            return Kind("checkpoint" if name == "zip" and _is_torch_checkpoint(str(path)) else name)
    if head.startswith(b"BAM\x01"):
        return Kind("bam")
    if not head.strip():
        return Kind("empty")
    if _looks_binary(head[:4096]):
        return Kind("binary")
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(head) == HEAD_BYTES and lines:
        lines = lines[:-1] or lines  # the last line may be cut
    return Kind(_text_kind([line.rstrip("\r") for line in lines[:200]]))


def _is_torch_checkpoint(path: str) -> bool:
    """A zip archive as ``torch.save`` writes it (``NAME/data.pkl`` inside): a model checkpoint."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/data.pkl") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _looks_binary(sample: bytes) -> bool:
    """More than a quarter of the bytes are control characters (not tab / CR / LF) or not UTF-8:
    a text file with a stray NUL or a Latin-1 name is still text (its lines get their own errors)."""
    controls = sum(b < 32 and b not in (9, 10, 13) for b in sample)
    invalid = sample.decode("utf-8", errors="replace").count("\ufffd")
    return controls + invalid > 0.25 * len(sample)


def _text_kind(lines: List[str]) -> str:
    filled = [line for line in lines if line.strip()]
    if filled and filled[0].lstrip().startswith(">"):
        if len(filled) > 1 and re.match(r"\s*A\s*\[", filled[1]):
            return "jaspar"  # a motif matrix file: >ID name, then A [ ... ] rows
        return "fasta"
    headers = [line for line in lines if line.startswith(("#", "track", "browser", "@"))]
    for line in headers:
        if line.startswith("##fileformat=VCF") or line.startswith("#CHROM\tPOS"):
            return "vcf"
        if line.startswith("##gff-version") or line.startswith("#gtf"):
            return "gff"
        if re.match(r"@(HD|SQ|RG|PG)\t", line):
            return "sam"
        if line.startswith("track") and re.search(r"type=bedGraph", line, re.I):
            return "bedgraph"
        if line.startswith("track") and re.search(r"type=wiggle", line, re.I):
            return "wig"
    data = [line for line in lines if line.strip() and not line.startswith(("#", "track", "browser", "@"))]
    if not data:
        return "text"
    if data[0].startswith(("fixedStep", "variableStep")):
        return "wig"
    fields = [line.split("\t") for line in data[:50]]
    f0 = fields[0]
    if len(f0) >= 11 and _INT.fullmatch(f0[1]) and _INT.fullmatch(f0[3]) and _CIGAR.fullmatch(f0[5]):
        return "sam"
    if is_gff_fields(f0):
        return "gff"
    if len(f0) >= 8 and _INT.fullmatch(f0[1].strip()) and not _INT.fullmatch(f0[2].strip()) \
            and re.fullmatch(r"[ACGTNacgtn]+", f0[3].strip()):
        return "vcf"  # records without the header lines: CHROM POS ID REF ALT ...
    rows = [f if len(f) >= 3 else line.split() for f, line in zip(fields, data)]
    if len(rows[0]) >= 3 and _INT.fullmatch(rows[0][1].strip()) and _INT.fullmatch(rows[0][2].strip()):
        if _tiles_signal(rows):
            return "bedgraph"
        return "bed"
    return "text"


def is_gff_fields(fields: List[str]) -> bool:
    """A GFF3 / GTF data line split on tabs: seqid, source, type, then 1-based start and end, score,
    strand, phase and attributes (9 columns; a BED line has integers in columns 2-3 instead)."""
    if len(fields) < 9 or _INT.fullmatch(fields[1].strip()):
        return False
    return bool(_INT.fullmatch(fields[3].strip()) and _INT.fullmatch(fields[4].strip())) \
        and fields[6].strip() in _STRANDS


def _tiles_signal(rows: List[List[str]]) -> bool:
    """Four columns, a number in the fourth, and each interval starting where the one before ended
    (on the same chromosome) for most of the first lines: a signal track, not peaks."""
    if len(rows) < 5 or any(len(r) != 4 or not _NUMBER.fullmatch(r[3].strip()) for r in rows):
        return False
    try:
        joined = sum(a[0] == b[0] and int(a[2]) == int(b[1]) for a, b in zip(rows, rows[1:]))
    except ValueError:
        return False
    return joined >= 0.8 * (len(rows) - 1)


#: what to do instead, by the format found, when a peak file (BED / narrowPeak) was expected
_AS_PEAKS = {
    "fasta": "a sequence is the --reference; peaks are BED or narrowPeak intervals",
    "vcf": "variants are scored with dnaseq score-variants; peaks are BED or narrowPeak intervals",
    "sam": "these are aligned reads: call peaks first (e.g. MACS2 callpeak) and pass its narrowPeak",
    "bam": "these are aligned reads: call peaks first (e.g. MACS2 callpeak) and pass its narrowPeak",
    "cram": "these are aligned reads: call peaks first (e.g. MACS2 callpeak) and pass its narrowPeak",
    "bigwig": "a signal track has no peaks: call them (e.g. MACS2 bdgpeakcall) or pass the experiment's narrowPeak",
    "bedgraph": "a signal track has no peaks: call them (e.g. MACS2 bdgpeakcall) or pass the experiment's narrowPeak",
    "wig": "a signal track has no peaks: call them (e.g. MACS2 bdgpeakcall) or pass the experiment's narrowPeak",
    "bigbed": "convert it to BED first: bigBedToBed FILE.bb FILE.bed",
    "hdf5": "peaks are BED or narrowPeak text files (a dnaseq dataset is --data)",
}
_COMPRESSED = {"zstd": "zstd -d", "bzip2": "bunzip2", "xz": "unxz", "zip": "unzip"}


def not_a(path: str, expected: str, kind: Kind, instead: str = "") -> str:
    """The one-line message for a file of the wrong kind: what it is, what was expected, what to do."""
    if kind.name in _COMPRESSED:
        instead = (f"decompress it ({_COMPRESSED[kind.name]}), or compress it with gzip or bgzip, which "
                   f"dnaseq reads")
    article = "an" if kind.description[:1].lower() in "aeiou" else "a"
    return f"{path}: this is {article} {kind.description}, not {expected}" + (f"; {instead}" if instead else "")


#: formats that are certainly not a FASTA reference
_NOT_FASTA = {"vcf", "bed", "gff", "sam", "bam", "cram", "bedgraph", "wig", "bigwig", "bigbed", "hdf5", "jaspar",
              "zstd", "bzip2", "xz", "zip", "png", "pdf", "checkpoint"}


def check_fasta_file(path: str) -> Kind:
    """The kind of a file given as the reference; another known format raises ValueError with
    :func:`not_a`'s message (anything else is left to the FASTA reader and its own errors)."""
    kind = sniff(path)
    if kind.name in _NOT_FASTA:
        raise ValueError(not_a(path, "a FASTA reference", kind,
                               "the reference is a FASTA file (plain, or compressed with bgzip)"))
    return kind


def check_peak_file(path: str) -> Kind:
    """The kind of a file given as peaks (``bed``, ``gff``, ``text`` or ``empty`` are read); any
    other known format raises ValueError with :func:`not_a`'s message."""
    kind = sniff(path)
    if kind.name in ("bed", "gff", "text", "empty"):
        return kind
    raise ValueError(not_a(path, "a BED or narrowPeak file", kind, _AS_PEAKS.get(kind.name, "")))
