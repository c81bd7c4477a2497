"""What every dataset reader gives: a split's description (:class:`DatasetInfo`) and row access
(:class:`SplitSource`), shared by the dnaseq HDF5 reader and the DeepSEA bundle reader."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np


@dataclass
class DatasetInfo:
    """What every split source tells about itself."""
    feature_names: List[str]
    feature_groups: List[str]
    seq_len: int
    attrs: Dict

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


def row_indices(idx, n: int) -> np.ndarray:
    """Rows ``idx`` of a split of ``n`` rows as int64, checked: integers in ``0 .. n-1``, or a
    boolean mask of length ``n`` (its True rows). Anything else is a ValueError that says what was
    given (a mask read as indices would give rows 0 and 1 over and over, silently)."""
    a = np.asarray(idx)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"a boolean mask of rows must have one value per row of the split ({n}); got shape "
                             f"{a.shape}")
        return np.flatnonzero(a)
    if a.size == 0:
        return a.astype(np.int64).reshape(-1)
    if a.dtype.kind not in "iu":
        raise ValueError(f"row indices must be integers (or a boolean mask); got dtype {a.dtype}")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= n:
        raise ValueError(f"row index {lo if lo < 0 else hi} is outside the split's {n:,} rows (0 to {n - 1:,})")
    return a.astype(np.int64, copy=False)


class SplitSource:
    """Row access to one split: ``read(sorted_indices) -> (codes (b, L) uint8, labels (b, F) uint8)``."""
    info: DatasetInfo
    n: int
    chunk_rows: int = 1

    def __len__(self) -> int:
        return self.n

    def read(self, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def read_all_labels(self) -> np.ndarray:
        out = []
        for lo in range(0, self.n, 65536):
            out.append(self.read(np.arange(lo, min(lo + 65536, self.n)))[1])
        return np.concatenate(out) if out else np.zeros((0, self.info.n_features), np.uint8)

    def close(self) -> None:
        pass


class SubsetSource(SplitSource):
    """The rows ``rows`` (sorted) of another split source: a seeded share of a training split."""

    def __init__(self, source: SplitSource, rows: np.ndarray):
        self.source, self.rows = source, np.sort(np.asarray(rows, np.int64))
        self.info, self.n = source.info, len(self.rows)

    def read(self, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        return self.source.read(self.rows[row_indices(idx, self.n)])

    def close(self) -> None:
        self.source.close()
