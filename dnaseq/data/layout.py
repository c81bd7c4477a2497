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
        return self.source.read(self.rows[np.asarray(idx)])

    def close(self) -> None:
        self.source.close()
