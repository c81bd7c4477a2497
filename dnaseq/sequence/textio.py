"""Opening text inputs that may be plain or gzip/bgzip-compressed (sniffed, not by suffix), and
making arbitrary text safe for one-line-per-record outputs (TSV cells, HDF5 strings)."""
from __future__ import annotations

import gzip
import io
import re
from typing import Dict, Iterable, List, Optional


def open_text(path: str, errors: str = "replace", newline: Optional[str] = None,
              encoding: str = "utf-8") -> io.TextIOBase:
    """A text handle on ``path``; gzip and BGZF are recognised by their magic bytes.

    ``errors``, ``newline`` and ``encoding`` are those of :func:`open` (the VCF reader uses
    ``errors="backslashreplace"`` so bytes that are not UTF-8 survive as ``\\xNN``,
    ``newline="\\n"`` so only ``\\n`` ends a line, as for awk/sed/htslib, and ``utf-8-sig``).
    """
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, errors=errors, newline=newline)
    return open(path, "r", encoding=encoding, errors=errors, newline=newline)


# C0 controls (tab, CR, LF, NUL ...), DEL, C1 controls, lone surrogates and the Unicode line and
# paragraph separators: anything that can break a line-based reader or an HDF5 string.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(m: "re.Match") -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape_controls(text) -> str:
    """``str(text)`` with control characters written as ``\\xNN`` (``\\uNNNN`` for surrogates and
    U+2028/U+2029); everything else, non-ASCII letters included, is kept as it is.

    The one sanitiser for every string cell of the variant outputs (TSV and HDF5 alike): the
    result never holds a tab, a line break or a NUL, and always encodes as UTF-8.
    """
    text = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def has_controls(text: str) -> bool:
    """Whether :func:`escape_controls` would change ``text``."""
    return bool(_UNSAFE.search(text))


def unique_labels(names: Iterable[str]) -> List[str]:
    """``names`` with repeats told apart: the second ``x`` becomes ``x#2``, the third ``x#3``."""
    seen: Dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out
