"""Motifs, the one type for interpret and design: read MEME and JASPAR files, write MEME,
information content, reverse complement.

A motif is a position probability matrix ``pfm`` of shape (4, W) in dnaseq's base order
(A, C, G, T; columns sum to 1) with an ``id`` (``MA0529.3``), a ``name`` (``BEAF-32``) and the
number of sites it was counted from (``nsites``; 0 when unknown).

Formats read (:func:`read_motifs` tells them apart by their first non-blank line):

* MEME (``MEME version 4`` ...; ``MOTIF id [name]`` then ``letter-probability matrix: ... w= W``
  and W rows of 4 numbers). The alphabet must be ACGT (``ALPHABET= ACGT`` or absent).
* JASPAR (``>MA0010.1 br_Z1`` then four rows ``A [ 3 1 5 ... ]``, ``C [...]``, ``G [...]``,
  ``T [...]`` of counts; brackets optional, rows in any order). Counts are turned into
  probabilities per column; a column of all zeros becomes uniform.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

import numpy as np

from .textio import open_text

BASES = "ACGT"


@dataclass
class Motif:
    id: str
    name: str
    pfm: np.ndarray  # (4, W) probabilities, rows A, C, G, T
    nsites: int = 0

    @property
    def width(self) -> int:
        return int(self.pfm.shape[1])

    @property
    def label(self) -> str:
        """``id name`` (or just the id when the motif has no separate name)."""
        return f"{self.id} {self.name}" if self.name and self.name != self.id else self.id


def normalise(counts: np.ndarray, pseudocount: float = 0.0) -> np.ndarray:
    """Counts (4, W) -> probabilities per column (float64); an empty column becomes uniform."""
    c = np.asarray(counts, dtype=np.float64) + pseudocount
    total = c.sum(axis=0, keepdims=True)
    out = np.full_like(c, 0.25)
    np.divide(c, total, out=out, where=total > 0)
    return out


def information_content(pfm: np.ndarray, background: Sequence[float] = (0.25,) * 4) -> np.ndarray:
    """Information content in bits of each column of a probability matrix (4, W):
    ``sum_b p_b log2(p_b / bg_b)`` (2 bits for a certain base over a uniform background)."""
    p = np.asarray(pfm, dtype=np.float64)
    bg = np.asarray(background, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / bg), 0.0)
    return terms.sum(axis=0)


def reverse_complement(pfm: np.ndarray) -> np.ndarray:
    """The motif of the other strand: columns reversed, A<->T and C<->G."""
    return np.ascontiguousarray(np.asarray(pfm)[::-1, ::-1])


def consensus(pfm: np.ndarray, min_ic: float = 0.5) -> str:
    """Most likely base per column, lowercase where the column carries less than ``min_ic`` bits."""
    ic = information_content(pfm)
    best = np.asarray(pfm).argmax(axis=0)
    return "".join(BASES[b] if i >= min_ic else BASES[b].lower() for b, i in zip(best, ic))


def read_motifs(path: str) -> List[Motif]:
    """Motifs of a MEME or JASPAR file (the format is recognised from the content)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"motif file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder; give a MEME or JASPAR motif file")
    with open_text(path) as fh:  # plain or gzipped
        text = fh.read()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if first.startswith(">"):
        motifs = parse_jaspar(text.splitlines(), path)
    elif first.startswith("MEME") or "letter-probability matrix" in text:
        motifs = parse_meme(text.splitlines(), path)
    else:
        raise ValueError(f"{path}: neither a MEME file (starts with 'MEME version') nor a JASPAR file "
                         f"(starts with '>ID NAME')")
    if not motifs:
        raise ValueError(f"{path}: no motifs found")
    return motifs


def read_background(path: str) -> Optional[np.ndarray]:
    """The background letter frequencies (A, C, G, T, summing to 1) a MEME file states, or None
    (JASPAR files and MEME files without them). Problems are reported as ``file:line: problem``."""
    with open_text(path) as fh:
        lines = fh.read().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("Background letter frequencies") and i + 1 < len(lines):
            fields = lines[i + 1].split()
            values = dict(zip(fields[::2], fields[1::2]))
            try:
                bg = np.array([float(values[b]) for b in BASES])
            except (KeyError, ValueError):
                raise ValueError(f"{path}:{i + 2}: cannot read the background frequencies "
                                 f"(expected 'A p C p G p T p')") from None
            return bg / bg.sum()
    return None


def _numbers(line: str) -> Optional[List[float]]:
    try:
        return [float(v) for v in line.split()]
    except ValueError:
        return None


def _non_negative(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) and v >= 0 for v in values)


def parse_meme(lines: Iterable[str], path: str = "<meme>") -> List[Motif]:
    """Motifs of MEME-format text (see module docstring). A matrix has ``w=`` rows; without
    ``w=`` its rows run to the first line that is not four numbers. A matrix cut short (fewer
    rows than ``w=`` before the next MOTIF, a text line or the end) is an error naming the line."""
    motifs: List[Motif] = []
    ident = name = None
    rows: List[List[float]] = []
    width: Optional[int] = None  # rows expected (None: not stated)
    in_matrix, nsites, start = False, 0, 0

    def finish():
        nonlocal in_matrix, ident
        motifs.append(Motif(ident, name, normalise(np.array(rows).T), nsites))
        in_matrix, ident = False, None

    def cut_short(lineno: int):
        return ValueError(f"{path}:{lineno}: the matrix of motif {ident} (line {start}) has {len(rows)} rows, "
                          f"not w={width}")

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if in_matrix:
            values = _numbers(line) if line else None
            if values is not None and values:
                if len(values) != 4:
                    raise ValueError(f"{path}:{lineno}: expected 4 values ({BASES}), got {len(values)}")
                if not _non_negative(values):
                    raise ValueError(f"{path}:{lineno}: probabilities must be finite numbers >= 0: {line!r}")
                rows.append(values)
                if width is not None and len(rows) == width:
                    finish()
                continue
            if not line and (width is not None or not rows):
                continue  # blank lines inside a stated-width matrix, or before its first row
            if re.match(r"[-+.\d]", line):  # a row with something else in it (a typo such as 0.86x)
                raise ValueError(f"{path}:{lineno}: expected 4 probabilities ({BASES}), got {line!r}")
            if width is not None or not rows:
                raise cut_short(lineno)
            finish()  # an open matrix ends at the first line that is not a row
        if motifs and _numbers(line):  # a matrix row after the rows that w= announced
            raise ValueError(f"{path}:{lineno}: a row of numbers after the matrix of motif {motifs[-1].id}: its "
                             f"w={motifs[-1].width} says fewer rows than it has; correct w=")
        if line.startswith("ALPHABET"):
            alphabet = line.split("=", 1)[1].strip().split()[0] if "=" in line else ""
            if alphabet and alphabet.upper() != BASES:
                raise ValueError(f"{path}:{lineno}: alphabet {alphabet!r} is not ACGT")
        elif line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise ValueError(f"{path}:{lineno}: MOTIF line without an identifier")
            ident, name = parts[1], " ".join(parts[2:]) or parts[1]
        elif line.startswith("letter-probability"):
            if ident is None:
                raise ValueError(f"{path}:{lineno}: a letter-probability matrix before any MOTIF line")
            m = re.search(r"\bw=\s*(\d+)", line)
            ns = re.search(r"\bnsites=\s*([\d.eE+]+)", line)
            width, nsites = (int(m.group(1)) if m else None), (int(float(ns.group(1))) if ns else 0)
            rows, in_matrix, start = [], True, lineno
    if in_matrix:
        if width is not None or not rows:
            raise cut_short(lineno + 1)
        finish()
    return motifs


_JASPAR_ROW = re.compile(r"^\s*([ACGTacgt])\s*\[?([^\]]*)\]?\s*$")


def parse_jaspar(lines: Iterable[str], path: str = "<jaspar>") -> List[Motif]:
    """Motifs of JASPAR-format text (``>ID NAME`` and four count rows). An error names the line at
    fault: a row given twice, a missing row (the motif's last line), a row whose length differs
    from the motif's first row, or a count that is not a finite number >= 0."""
    motifs: List[Motif] = []
    header, rows, where, last = None, {}, {}, 0

    def finish():
        if header is None:
            return
        missing = [b for b in BASES if b not in rows]
        if missing:
            raise ValueError(f"{path}:{last}: motif {header[0]} has no {' or '.join(missing)} row (a JASPAR motif "
                             f"is '>ID NAME' then four count rows A, C, G, T)")
        counts = np.array([rows[b] for b in BASES], dtype=np.float64)
        motifs.append(Motif(header[0], header[1], normalise(counts), int(round(counts[:, 0].sum()))))

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            finish()
            parts = line[1:].split()
            if not parts:
                raise ValueError(f"{path}:{lineno}: '>' line without an identifier")
            header, rows, where, last = (parts[0], " ".join(parts[1:]) or parts[0]), {}, {}, lineno
            continue
        m = _JASPAR_ROW.match(line)
        if header is None or not m:
            raise ValueError(f"{path}:{lineno}: expected '>ID NAME' or a count row such as 'A [ 3 1 5 ]', "
                             f"got {line!r}")
        base, last = m.group(1).upper(), lineno
        if base in rows:
            raise ValueError(f"{path}:{lineno}: motif {header[0]} has a second {base} row (the first is line "
                             f"{where[base]})")
        try:
            values = [float(v) for v in m.group(2).split()]
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: counts must be numbers: {line!r}") from exc
        if not values or not _non_negative(values):
            raise ValueError(f"{path}:{lineno}: counts must be finite numbers >= 0: {line!r}")
        if rows:
            first = next(iter(rows))
            if len(values) != len(rows[first]):
                raise ValueError(f"{path}:{lineno}: the {base} row of motif {header[0]} has {len(values)} counts, "
                                 f"its {first} row (line {where[first]}) {len(rows[first])}: the four rows must "
                                 f"have one count per position each")
        rows[base], where[base] = values, lineno
    finish()
    return motifs


def write_meme(path: str, motifs: Sequence[Motif]) -> str:
    """Write motifs as a MEME version 4 file (uniform background); returns ``path``."""
    lines = ["MEME version 4", "", f"ALPHABET= {BASES}", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for m in motifs:
        name = f" {m.name}" if m.name and m.name != m.id else ""
        lines.append(f"MOTIF {m.id}{name}")
        lines.append(f"letter-probability matrix: alength= 4 w= {m.width} nsites= {int(m.nsites)} E= 0")
        lines += [" " + " ".join(f"{v:.6f}" for v in col) for col in np.asarray(m.pfm).T]
        lines.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    return path
