"""Opening text inputs that may be plain or gzip/bgzip-compressed (sniffed, not by suffix)."""
from __future__ import annotations

import gzip
import io


def open_text(path: str) -> io.TextIOBase:
    """A text handle on ``path``; gzip and BGZF are recognised by their magic bytes."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")
