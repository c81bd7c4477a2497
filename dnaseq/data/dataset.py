"""The dnaseq HDF5 dataset layout: writing it, and reading any split of it lazily.

Layout (one file, one group per split)::

    /                     attrs: format, format_version, features, groups, chroms, base_order,
                                 bin_size, window_size, genome_path, genome_checksum, split,
                                 dnaseq_version, command, summary (JSON strings for lists/dicts)
    /<split>/sequences    uint8 (N, window_size)  base codes (A=0 C=1 G=2 T=3 N=4), gzip chunks
    /<split>/labels       uint8 (N, F), or bit-packed (N, ceil(F/8)) with attr packed=1
    /<split>/chrom        uint16 (N,) index into the root attr ``chroms``
    /<split>/start        int64 (N,)  0-based window start on the chromosome (may be < 0)
    /<split>/n_count      uint16 (N,) N bases in the window (padding included)

Sequences are never stored as float one-hot: a 1000 bp window is 1000 bytes on disk before
compression, and overlapping windows stored in genome order compress well.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import h5py
import numpy as np

from .._lazy import api
from ..outputs import HDF5Output
from ..sequence.sniff import not_a, sniff
from . import deepsea_bundle
from .layout import DatasetInfo, SplitSource, row_indices

FORMAT = "dnaseq-dataset"
FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")
_JSON_ATTRS = ("features", "groups", "chroms", "split", "summary", "command")


def _attr(value):
    return json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def label_chunk_rows(chunk_rows: int, label_width: int) -> int:
    """Rows per labels chunk: as many as a sequences chunk once a chunk of labels holds 16 KB or
    more (a shuffled batch decompresses a whole labels chunk for the rows it takes from one
    sequences chunk: 4,096-row chunks of 919 packed features made the loader decompress 16x the
    labels it used), up to 16 sequences chunks' rows for narrow labels, whose chunks would be tiny."""
    return chunk_rows * max(1, min(16, (16 << 10) // max(1, chunk_rows * label_width)))


class DatasetWriter:
    """Appends windows to an HDF5 dataset split by split (resizable, chunked, compressed)."""

    def __init__(self, path: str, window_size: int, n_features: int, pack_labels: bool = False,
                 chunk_rows: int = 256, compression_level: int = 4):
        self.path = path
        self.window_size = window_size
        self.n_features = n_features
        self.pack_labels = pack_labels
        self.chunk_rows = chunk_rows
        self.level = compression_level
        self._out = HDF5Output(path)
        self._h5 = self._out.file
        self._h5.attrs["format"] = FORMAT
        self._h5.attrs["format_version"] = FORMAT_VERSION

    def set_attrs(self, **attrs) -> None:
        for key, value in attrs.items():
            self._h5.attrs[key] = _attr(value)

    def _split_group(self, split: str) -> h5py.Group:
        if split in self._h5:
            return self._h5[split]
        g = self._h5.create_group(split)
        label_width = (self.n_features + 7) // 8 if self.pack_labels else self.n_features
        opts = dict(compression="gzip", compression_opts=self.level)
        g.create_dataset("sequences", shape=(0, self.window_size), maxshape=(None, self.window_size),
                         dtype=np.uint8, chunks=(self.chunk_rows, self.window_size), **opts)
        lab = g.create_dataset("labels", shape=(0, label_width), maxshape=(None, label_width),
                               dtype=np.uint8, chunks=(label_chunk_rows(self.chunk_rows, label_width),
                                                       max(label_width, 1)), **opts)
        lab.attrs["packed"] = int(self.pack_labels)
        lab.attrs["n_features"] = self.n_features
        for name, dtype in (("chrom", np.uint16), ("start", np.int64), ("n_count", np.uint16)):
            g.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                             chunks=(self.chunk_rows * 64,), **opts)
        return g

    def ensure_split(self, split: str) -> None:
        self._split_group(split)

    def append(self, split: str, sequences: np.ndarray, labels: np.ndarray, chrom_index: int,
               starts: np.ndarray, n_count: np.ndarray) -> None:
        if len(sequences) == 0:
            return
        self._split_group(split)  # created on first use
        if self.pack_labels:
            labels = np.packbits(labels.astype(bool), axis=1)
        columns = {"sequences": sequences, "labels": labels,
                   "chrom": np.full(len(sequences), chrom_index, np.uint16),
                   "start": starts.astype(np.int64), "n_count": n_count.astype(np.uint16)}
        n0 = self._out[f"{split}/sequences"].shape[0]
        for name, arr in columns.items():
            ds = self._out[f"{split}/{name}"]
            ds.resize(n0 + len(arr), axis=0)
            ds[n0:] = arr
        self._out.flush()  # a failed write (disk full) raises here, not unseen in h5py's clean-up

    def close(self) -> None:
        if self._h5:
            self._out.close()
            self._h5 = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_h5(path: str) -> h5py.File:
    """``path`` opened for reading; a file HDF5 cannot open (truncated by an interrupted copy,
    damaged, or not HDF5 at all) is one ValueError naming it and the damage, not h5py's OSError."""
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if not os.path.exists(path):
            raise FileNotFoundError(f"dataset not found: {path}") from None
        kind = sniff(path)
        if kind.name not in ("hdf5", "binary", "text"):  # a file of another kind: say which
            raise ValueError(not_a(path, "an HDF5 dataset", kind, "give the .h5 file that dnaseq build-dataset "
                                                                  "wrote")) from None
        reason = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        hint = ("it is truncated: an interrupted copy, download or build? copy or build it again"
                if "truncated" in reason else "it is damaged or not an HDF5 file")
        raise ValueError(f"{path}: cannot read it as an HDF5 dataset ({reason}); {hint}") from None


@api
def read_info(path: str) -> DatasetInfo:
    with open_h5(path) as h5:
        return _info_from_attrs(h5, path)


def _info_from_attrs(h5: h5py.File, path: str) -> DatasetInfo:
    if h5.attrs.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dnaseq dataset (no format={FORMAT!r} attribute); "
                         f"build one with `dnaseq build-dataset`, or pass a DeepSEA bundle (.mat)")
    version = h5.attrs.get("format_version", 1)
    if int(version) > FORMAT_VERSION:
        made_by = h5.attrs.get("dnaseq_version", "a newer version")
        raise ValueError(f"{path} was written by dnaseq {made_by} in dataset format {int(version)}; this dnaseq "
                         f"reads formats up to {FORMAT_VERSION}: upgrade dnaseq (pip install -U dnaseq) or rebuild it")
    attrs = {}
    for key, value in h5.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if key in _JSON_ATTRS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        attrs[key] = value.item() if isinstance(value, np.generic) else value
    features = list(attrs["features"])
    groups = list(attrs.get("groups") or ["unknown"] * len(features))
    return DatasetInfo(features, groups, int(attrs["window_size"]), attrs)


class H5Split(SplitSource):
    """A split of a dnaseq HDF5 dataset, opened lazily (each process/worker opens its own handle).

    Reads go chunk by chunk through a small LRU cache of decompressed chunks, so a batch drawn
    from a few chunks (see :class:`dnaseq.data.datamodule.ChunkShuffleSampler`) decompresses each
    chunk once. ``in_memory=True`` loads the whole split instead.
    """

    def __init__(self, path: str, split: str, in_memory: bool = False, cache_chunks: int = 64):
        if not os.path.exists(path):
            raise FileNotFoundError(f"dataset not found: {path}")
        self.path, self.split = path, split
        with open_h5(path) as h5:
            self.info = _info_from_attrs(h5, path)
            if split not in h5:
                present = [k for k in h5.keys()]
                raise KeyError(f"{path} has no split {split!r}; it has {present}")
            g = h5[split]
            self.n = g["sequences"].shape[0]
            self.chunk_rows = g["sequences"].chunks[0] if g["sequences"].chunks else 256
            self.label_rows = g["labels"].chunks[0] if g["labels"].chunks else self.chunk_rows
            self.packed = bool(g["labels"].attrs.get("packed", 0))
        self._h5: Optional[h5py.File] = None
        self._ds = None
        self._pid = None
        # decompressed chunks, by chunk index: sequences and labels have chunks of their own sizes
        self._cache: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._label_cache: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self.cache_chunks = cache_chunks
        self._memory = None
        if in_memory:
            self.load_into_memory()

    def load_into_memory(self) -> None:
        """Read the whole split once; later reads come from RAM (labels as stored: packed ones
        stay packed, an eighth of the memory, and each read unpacks its rows)."""
        g = self._group()
        self._memory = (g["sequences"][:], g["labels"][:])

    def __getstate__(self):
        # h5py handles cannot cross process boundaries: a worker reopens the file itself
        state = self.__dict__.copy()
        state["_h5"] = state["_ds"] = None
        state["_cache"], state["_label_cache"] = OrderedDict(), OrderedDict()
        return state

    def _group(self) -> h5py.Group:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = open_h5(self.path)
            self._pid = os.getpid()
            self._ds = None
        return self._h5[self.split]

    def _datasets(self):
        """(sequences, labels) dataset handles, looked up once per process."""
        if self._ds is None or self._pid != os.getpid():
            g = self._group()
            self._ds = (g["sequences"], g["labels"])
        return self._ds

    def _unpack(self, labels: np.ndarray) -> np.ndarray:
        if self.packed:
            return np.unpackbits(labels, axis=1, count=self.info.n_features)
        return labels

    @staticmethod
    def _cached(cache: "OrderedDict", c: int, rows: int, n: int, ds, keep: int) -> np.ndarray:
        hit = cache.get(c)
        if hit is not None:
            cache.move_to_end(c)
            return hit
        block = cache[c] = ds[c * rows:min((c + 1) * rows, n)]
        if len(cache) > keep:
            cache.popitem(last=False)
        return block

    def _gather(self, idx: np.ndarray, out: np.ndarray, rows: int, cache, ds, keep: int) -> None:
        chunk_of = idx // rows
        for c in np.unique(chunk_of):
            where = np.nonzero(chunk_of == c)[0]
            out[where] = self._cached(cache, int(c), rows, self.n, ds, keep)[idx[where] - c * rows]

    def read(self, idx: np.ndarray, packed: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Base codes (n, L) and labels (n, F) of rows ``idx``; with ``packed`` the labels as
        stored (bit-packed rows of ``ceil(F / 8)`` bytes when the dataset packs them, to be
        unpacked where they are used, e.g. on the training device)."""
        idx = row_indices(idx, self.n)
        if self._memory is not None:
            raw = self._memory[1][idx]
            return self._memory[0][idx], (raw if packed else self._unpack(raw))
        seq_ds, lab_ds = self._datasets()
        seqs = np.empty((len(idx), self.info.seq_len), np.uint8)
        raw = np.empty((len(idx), lab_ds.shape[1]), np.uint8)
        self._gather(idx, seqs, self.chunk_rows, self._cache, seq_ds, self.cache_chunks)
        # a labels chunk holds the rows of several sequence chunks; a shuffle group's sequence
        # chunks lie in as many labels chunks at most, so the same number of each is kept
        keep = max(4, min(self.cache_chunks, (64 << 20) // max(1, self.label_rows * lab_ds.shape[1])))  # <= 64 MB
        self._gather(idx, raw, self.label_rows, self._label_cache, lab_ds, keep)
        return seqs, (raw if packed else self._unpack(raw))

    def coordinates(self) -> Tuple[List[str], np.ndarray, np.ndarray]:
        """(chromosome names per row, window starts, N counts) for the whole split."""
        g = self._group()
        chroms = np.array(self.info.attrs["chroms"], dtype=object)
        return list(chroms[g["chrom"][:]]), g["start"][:], g["n_count"][:]

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None


@api
def open_split(path: str, split: str, in_memory: Optional[bool] = None,
               memory_limit_bytes: int = 2 << 30) -> SplitSource:
    """Open one split of a dnaseq HDF5 dataset, a DeepSEA ``.mat`` file, or a DeepSEA bundle
    directory (holding train.mat / valid.mat / test.mat).

    ``in_memory=None`` loads the split into RAM when its uncompressed size is below
    ``memory_limit_bytes``.
    """

    if os.path.isdir(path) or str(path).endswith(".mat"):
        return deepsea_bundle.open_mat_split(path, split)
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset not found: {path}")
    src = H5Split(path, split)
    if in_memory is None:
        in_memory = src.n * (src.info.seq_len + src.info.n_features) < memory_limit_bytes
    if in_memory:
        src.load_into_memory()
    return src


@api
def available_splits(path: str) -> List[str]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset not found: {path} (relative paths are relative to "
                                f"the current directory, {os.getcwd()})")
    if os.path.isdir(path) or str(path).endswith(".mat"):
        return deepsea_bundle.available_splits(path)
    with open_h5(path) as h5:
        return [s for s in h5.keys() if isinstance(h5[s], h5py.Group)]


def format_summary(summary: Dict, max_rows: Optional[int] = None, more: str = "") -> str:
    """A text table of windows and positives per feature per split (from the stored summary).
    Past ``max_rows`` features the table is condensed: per group the feature count and the
    median and smallest count of positives per split, and the features with the fewest training
    positives (``more``: a hint on how to list them all)."""
    splits = [s for s in SPLITS if s in summary.get("windows", {})]
    lines = []
    header = f"{'feature':<24}{'group':<10}" + "".join(f"{s:>12}" for s in splits)
    lines.append(header)
    lines.append("-" * len(header))
    lines.append(f"{'windows':<34}" + "".join(f"{summary['windows'][s]:>12,}" for s in splits))
    names, groups = summary["features"], summary["groups"]
    if max_rows is not None and len(names) > max_rows:
        pos = {s: np.asarray(summary["positives"][s], np.int64) for s in splits}
        lines.append(f"{len(names):,} features; per group, median (smallest) positives:")
        for g in dict.fromkeys(groups):
            cols = np.array([x == g for x in groups])
            row = f"  {g[:21]:<22}{int(cols.sum()):>6,}    "
            row += "".join(f" {f'{int(np.median(pos[s][cols])):,} ({int(pos[s][cols].min()):,})':>11}" for s in splits)
            lines.append(row)
        if "train" in pos:
            few = np.argsort(pos["train"], kind="stable")[:5]
            lines.append("fewest training positives: " + ", ".join(f"{names[i]} ({pos['train'][i]:,})" for i in few))
        if more:
            lines.append(more)
        return "\n".join(lines)
    for i, (name, group) in enumerate(zip(names, groups)):
        row = f"{name[:23]:<24}{group[:9]:<10}"
        for s in splits:
            p = summary["positives"][s][i]
            n = max(summary["windows"][s], 1)
            row += f"{p:>7,} {100 * p / n:>3.0f}%"
        lines.append(row)
    return "\n".join(lines)
