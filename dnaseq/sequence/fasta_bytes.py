"""Bytes of a FASTA file at uncompressed offsets, plain or BGZF (through its ``.gzi``, block by
block as pyfaidx reads it), for :mod:`dnaseq.sequence.fasta_index`'s checks: a few bytes around each
indexed sequence, never the whole file. Biopython's ``bgzf`` decompresses; the ``.gzi`` is parsed
here strictly, because a ``.gzi`` that does not describe the file must be reported, not trusted."""
from __future__ import annotations

import bisect
import os
import struct
from typing import List, Tuple

import pyfaidx


class IndexMismatch(Exception):
    """An index file that does not describe its FASTA (internal; Genome turns it into ValueError)."""


def read_gzi(gzi: str, compressed_size: int) -> List[Tuple[int, int]]:
    """(compressed, uncompressed) start of each BGZF block, block 0 included; IndexMismatch if bad."""
    with open(gzi, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8:
        raise IndexMismatch(f"{gzi} is empty or truncated")
    (n,) = struct.unpack_from("<Q", raw)
    if len(raw) != 8 + 16 * n:
        raise IndexMismatch(f"{gzi} is not a BGZF index (size {len(raw)} for {n} blocks)")
    blocks = [(0, 0)] + [struct.unpack_from("<QQ", raw, 8 + 16 * i) for i in range(n)]
    for (c0, u0), (c1, u1) in zip(blocks, blocks[1:]):
        if not (c0 < c1 < compressed_size and u0 < u1 <= u0 + 65536):
            raise IndexMismatch(f"{gzi} does not describe the blocks of this file")
    return blocks


class PlainReader:
    """Bytes of an uncompressed file at given offsets."""

    def __init__(self, path: str):
        self._fh = open(path, "rb")
        self.size = os.fstat(self._fh.fileno()).st_size

    def read_at(self, pos: int, n: int) -> bytes:
        self._fh.seek(pos)
        return self._fh.read(n)

    def close(self) -> None:
        self._fh.close()


class BgzfReader:
    """Random access to uncompressed offsets of a BGZF file through its .gzi (as pyfaidx does)."""

    def __init__(self, path: str, gzi: str):
        from Bio import bgzf  # optional: only bgzipped FASTA needs Biopython
        self._blocks = read_gzi(gzi, os.path.getsize(path))
        self._ustarts = [u for _, u in self._blocks]
        self._fh = bgzf.BgzfReader(path, "rb")
        cstart, ustart = self._blocks[-1]
        self._fh.seek(pyfaidx.make_virtual_offset(cstart, 0))
        tail = len(self._fh.read(65537))
        if tail > 65536:
            self._fh.close()
            raise IndexMismatch(f"{gzi} does not list all blocks of the file")
        self.size = ustart + tail

    def read_at(self, pos: int, n: int) -> bytes:
        if pos >= self.size:
            return b""
        i = bisect.bisect_right(self._ustarts, pos) - 1
        cstart, ustart = self._blocks[i]
        self._fh.seek(pyfaidx.make_virtual_offset(cstart, pos - ustart))
        return self._fh.read(n)

    def close(self) -> None:
        self._fh.close()
