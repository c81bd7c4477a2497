"""Reference genome access through pyfaidx, with chromosome aliases and N-padding.

pyfaidx reads plain FASTA and BGZF-compressed FASTA (``.fa.gz`` made by ``bgzip``, with its
``.fai`` and ``.gzi``; reading BGZF needs Biopython, a dnaseq dependency). A plain gzip FASTA
cannot be indexed: the error says to recompress it with ``bgzip``.

Every window request returns exactly the length asked for: bases beyond either end of the
chromosome are filled with N and the number filled on each side is reported (each at most the
window's length), so callers can flag such windows instead of crashing or silently shifting them.

The index is checked against the FASTA every time a ``Genome`` opens (see
:mod:`dnaseq.sequence.fasta_index`): a stale, partial or garbage index is rebuilt, or refused in a
read-only folder, never used.
"""
from __future__ import annotations

import hashlib
import logging
import numbers
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import pyfaidx

from .encoding import CODE_TABLE, DECODE_TABLE, INVALID, N_CODE
from .names import candidate_names
from .fasta_index import _bgzip_message, _duplicate_or, check_index, ensure_index, index_paths, is_bgzf_path  # noqa: F401
from .sniff import check_fasta_file, sniff

log = logging.getLogger(__name__)


class UnknownChromosomeError(KeyError):
    """A chromosome name that no alias rule maps to a sequence in the FASTA."""

    def __init__(self, name: str, available: List[str], path: str):
        shown = ", ".join(available[:30]) + (f", ... ({len(available) - 30} more)" if len(available) > 30 else "")
        self.name = name
        self.message = (f"chromosome {name!r} is not in {path} (also tried 'chr' prefix added/removed "
                        f"and chrM/MT); available: {shown}")
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


@dataclass(frozen=True)
class Window:
    """A fetched stretch of reference: codes plus how much of it lies off the chromosome.

    ``dnaseq.one_hot(window)``, ``dnaseq.encode(window)`` and ``model.predict_proba(window)``
    take it as it is (its ``codes``), alone or in a list of windows of one length.
    """
    chrom: str
    start: int  # 0-based, may be negative
    end: int  # exclusive, may exceed the chromosome length
    codes: np.ndarray
    pad_left: int
    pad_right: int

    @property
    def padded(self) -> bool:
        return self.pad_left > 0 or self.pad_right > 0

    @property
    def text(self) -> str:
        """The bases as uppercase text (N for ambiguity codes and for the parts off the chromosome)."""
        return DECODE_TABLE[self.codes].tobytes().decode("ascii")

    @property
    def n_fraction(self) -> float:
        """Fraction of the window that is N (assembly gaps, ambiguity codes, off the chromosome)."""
        return float((self.codes == N_CODE).mean()) if len(self.codes) else 0.0

    def __len__(self) -> int:
        return len(self.codes)

    def __eq__(self, other) -> bool:  # the dataclass's own would compare the codes arrays elementwise
        if not isinstance(other, Window):
            return NotImplemented
        return ((self.chrom, self.start, self.end, self.pad_left, self.pad_right) ==
                (other.chrom, other.start, other.end, other.pad_left, other.pad_right)
                and np.array_equal(self.codes, other.codes))

    __hash__ = None  # mutable codes: not a dict key

    def __repr__(self) -> str:
        pad = f", padded {self.pad_left}+{self.pad_right}" if self.padded else ""
        return (f"Window({self.chrom}:{self.start}-{self.end}, {len(self.codes)} bp, "
                f"{100 * self.n_fraction:.0f}% N{pad})")


def _position(value, what: str) -> int:
    """A coordinate as a plain int; a float (``(start + end) / 2``) is refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = " (use // for a midpoint: (start + end) // 2)" if isinstance(value, numbers.Real) else ""
        raise ValueError(f"{what} must be a whole number of bases, got {value!r}{hint}")
    return int(value)


# -- index checks ----------------------------------------------------------------------------
class Genome:
    """A reference FASTA. ``Genome(path)`` indexes it on first use (pyfaidx writes ``.fai``) and
    checks an existing index against the FASTA, rebuilding it if it does not match (module docstring).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"reference FASTA not found: {self.path}")
        if not os.path.isfile(self.path):
            raise ValueError(f"{self.path}: not a FASTA file")
        check_fasta_file(self.path)
        if not is_bgzf_path(self.path):
            with open(self.path, "rb") as fh:
                if fh.read(2) == b"\x1f\x8b":
                    raise ValueError(f"{self.path} is gzip-compressed: name it .fa.gz (compressed with "
                                     f"`bgzip`) or decompress it")
        self.index_path, self.gzi_path = index_paths(self.path)
        ensure_index(self.path)
        try:
            self._fasta = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=False,
                                        rebuild=False, build_index=False)
        except pyfaidx.UnsupportedCompressionFormat as exc:
            raise ValueError(_bgzip_message(self.path, exc)) from exc
        except ValueError as exc:
            raise _duplicate_or(self.path, exc, f"{self.path}: cannot read this FASTA or its index "
                                                f"{self.index_path}: {exc}") from exc
        except (pyfaidx.FastaIndexingError, OSError, EOFError, IndexError, struct.error,
                zlib.error) as exc:
            damaged = (" (it ends early or is damaged: copy or download it again)"
                       if isinstance(exc, (EOFError, struct.error, zlib.error)) else "")
            raise ValueError(f"{self.path}: cannot read this FASTA or its index {self.index_path}: "
                             f"{exc}{damaged}") from exc
        self.lengths: Dict[str, int] = {k: len(v) for k, v in self._fasta.records.items()}
        self._resolved: Dict[str, str] = {}

    # -- names -------------------------------------------------------------------------
    @property
    def chromosomes(self) -> List[str]:
        return list(self.lengths)

    def resolve(self, name: str) -> str:
        """The FASTA's own name for ``name`` (exact, then chr-prefix and chrM/MT aliases)."""
        hit = self._resolved.get(name)
        if hit is not None:
            return hit
        for cand in candidate_names(name):
            if cand in self.lengths:
                self._resolved[name] = cand
                return cand
        raise UnknownChromosomeError(name, self.chromosomes, self.path)

    def has(self, name: str) -> bool:
        try:
            self.resolve(name)
            return True
        except UnknownChromosomeError:
            return False

    def length(self, name: str) -> int:
        return self.lengths[self.resolve(name)]

    # -- sequence ------------------------------------------------------------------------
    def fetch_text(self, chrom: str, start: int, end: int) -> str:
        """Raw text of [start, end) inside the chromosome (case kept); :meth:`fetch` pads with N
        what lies off the chromosome."""
        name = self.resolve(chrom)
        start, end = _position(start, "start"), _position(end, "end")
        if not 0 <= start <= end <= self.lengths[name]:
            raise ValueError(f"{name}:{start}-{end} is not inside {name} (0 to {self.lengths[name]:,}): fetch_text "
                             f"reads within the chromosome; fetch() pads what lies off it with N")
        self._check_open()
        return self._fasta[name][start:end]

    def fetch(self, chrom: str, start: int, end: int) -> Window:
        """Codes for the 0-based half-open [start, end); parts off the chromosome become N."""
        name = self.resolve(chrom)
        start, end = _position(start, "start"), _position(end, "end")
        self._check_open()
        length = self.lengths[name]
        if end < start:
            raise ValueError(f"end {end} < start {start} for {chrom}")
        lo, hi = max(start, 0), min(end, length)
        codes = np.full(end - start, N_CODE, dtype=np.uint8)
        if hi > lo:
            codes[lo - start:hi - start] = _text_to_codes(self._read(name, lo, hi), self.path, name, lo)
        # positions < 0 and positions >= length; each at most the window's size
        pad_left = max(0, min(end, 0) - start)
        pad_right = max(0, end - max(start, length))
        return Window(name, start, end, codes, pad_left=pad_left, pad_right=pad_right)

    def _read(self, name: str, lo: int, hi: int) -> str:
        """Text of [lo, hi) inside the sequence; ValueError if pyfaidx returns another length."""
        try:
            text = self._fasta[name][lo:hi]
        except ValueError as exc:
            if lo == 0 or "within_block_offset" not in str(exc):
                raise
            # pyfaidx 0.9 seeks into the block *before* a BGZF block boundary when a read starts
            # exactly on it (offset 65536: "Require 0 <= within_block_offset < 2**16"); one base
            # earlier starts inside a block
            text = self._fasta[name][lo - 1:hi][1:]
        except (zlib.error, struct.error, EOFError, pyfaidx.FetchError) as exc:  # a damaged BGZF block
            damage = "a compressed block is corrupt" if isinstance(exc, zlib.error) else "it ends early or is corrupt"
            raise ValueError(f"{self.path}: cannot read {name}:{lo}-{hi}: the file is damaged ({damage}: {exc}); "
                             f"copy or download it again") from exc
        if len(text) != hi - lo:
            raise ValueError(f"{self.path}: read {len(text)} bases of {name}:{lo}-{hi} instead of "
                             f"{hi - lo}: its lines do not match the index {self.index_path}; delete "
                             f"the index or rebuild it with `samtools faidx {self.path}`")
        return text

    def window(self, chrom: str, center: int, length: int) -> Window:
        """A window of ``length`` bases around 0-based ``center``: [center - length//2, +length).

        For even lengths the centre base sits at index ``length // 2`` (right of the middle).
        """
        center, length = _position(center, "center"), _position(length, "length")
        if length < 0:
            raise ValueError(f"a window's length cannot be negative, got {length}")
        start = center - length // 2
        return self.fetch(chrom, start, start + length)

    def chromosome_codes(self, chrom: str, piece: int = 4_000_000) -> np.ndarray:
        """The whole chromosome as codes (uint8, one byte per base).

        Read in ``piece``-sized slices: Biopython's BGZF reader slows down quadratically with
        the length of a single read (70 Mbp in one read takes 20 s, in 4 Mbp slices 2 s).
        """
        name = self.resolve(chrom)
        length = self.lengths[name]
        codes = np.empty(length, dtype=np.uint8)
        for lo in range(0, length, piece):
            hi = min(lo + piece, length)
            codes[lo:hi] = _text_to_codes(self._read(name, lo, hi), self.path, name, lo)
        return codes

    def checksum(self) -> str:
        return file_checksum(self.path)

    def close(self) -> None:
        self._fasta.close()
        self._closed = True

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise ValueError(f"Genome({self.path!r}) was closed (its `with` block ended): open it again to read")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Genome({self.path!r}, {len(self.lengths)} sequences)"


def _text_to_codes(text: str, path: str, chrom: str, offset: int) -> np.ndarray:
    raw = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8)
    codes = CODE_TABLE[raw]
    bad = codes == INVALID
    if bad.any():
        pos = int(np.argmax(bad))
        protein = np.isin(raw, np.frombuffer(b"EFILPQefilpq", np.uint8)).mean() > 0.1  # letters no DNA code uses
        raise ValueError(f"{path}: sequence {chrom} has invalid character {chr(raw[pos])!r} "
                         f"at 0-based position {offset + pos}"
                         + (" (its letters look like a protein sequence: give a DNA FASTA)" if protein else ""))
    return codes


def is_fasta(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a FASTA file by its content (plain or gzip/BGZF-compressed): its first
    character that is not white space is ``>`` (:func:`dnaseq.sequence.sniff.sniff`). Its name
    does not matter."""
    try:
        return sniff(path).name == "fasta"
    except OSError:
        return False


def file_checksum(path: str, algorithm: str = "md5", chunk: int = 1 << 22) -> str:
    """Checksum of a file's bytes, streamed in 4 MiB pieces."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def write_fasta(path: str | os.PathLike, records: Dict[str, str], width: int = 60) -> Path:
    """Write a small FASTA (used by tests and data scripts); ``.gz`` paths are BGZF-compressed."""
    path = Path(path)
    lines = []
    for name, seq in records.items():
        lines.append(f">{name}\n")
        lines.extend(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
    text = "".join(lines).encode()
    if path.suffix == ".gz":
        from Bio import bgzf  # optional: only a .gz output needs Biopython
        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(text)
    else:
        path.write_bytes(text)
    return path
