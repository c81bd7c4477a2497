"""Streaming writers for variant scores: TSV (full float precision) and HDF5.

Both are appended chunk by chunk, so memory never holds more than one chunk of results.
TSV: ``#`` metadata lines, then a header: the variant columns and one column per score and
feature named ``score:feature``. Floats are written with 9 significant digits, which
round-trips float32 exactly (and keeps float64 scores to 9 digits). Read with
``pandas.read_csv(path, sep="\\t", comment="#")``.
HDF5: ``/variants/<column>`` (strings / integers / booleans) and ``/scores/<score>`` float32
(N, F); attributes ``features`` and ``meta`` (JSON).
"""
from __future__ import annotations

import json
from typing import Dict, List

import numpy as np

VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "alt_index", "line", "status", "ref_match",
                   "indel", "padded", "note")


def _variant_table(prep) -> Dict[str, list]:
    rows = prep.rows
    return {
        "chrom": [r.chrom for r in rows], "pos": [r.pos for r in rows], "id": [r.id for r in rows],
        "ref": [r.ref for r in rows], "alt": [r.alt for r in rows], "alt_index": [r.alt_index for r in rows],
        "line": [r.line for r in rows], "status": prep.status,
        "ref_match": ["" if m is None else str(bool(m)) for m in prep.ref_match],
        "indel": [str(r.kind == "indel") for r in rows], "padded": [str(p) for p in prep.padded],
        "note": prep.note,
    }


class TsvWriter:
    def __init__(self, out: str, features: List[str], scores: List[str], meta: Dict):
        self.path = f"{out}.tsv"
        self.paths = [self.path]
        self.fh = open(self.path, "w")
        for k, v in meta.items():
            self.fh.write(f"# {k}: {v}\n")
        score_cols = [f"{s}:{f}" for s in scores for f in features]
        self.fh.write("\t".join(list(VARIANT_COLUMNS) + score_cols) + "\n")
        self.scores = scores

    def write(self, prep, values: Dict[str, np.ndarray]) -> None:
        table = _variant_table(prep)
        block = np.concatenate([values[s] for s in self.scores], axis=1) if self.scores else \
            np.zeros((len(prep.rows), 0))
        text = np.char.mod("%.9g", block) if block.size else np.zeros((len(prep.rows), 0), dtype="<U1")
        for i in range(len(prep.rows)):
            left = "\t".join(str(table[c][i]).replace("\t", " ") for c in VARIANT_COLUMNS)
            self.fh.write(left + ("\t" + "\t".join(text[i]) if block.shape[1] else "") + "\n")

    def close(self) -> None:
        self.fh.close()


class Hdf5Writer:
    def __init__(self, out: str, features: List[str], scores: List[str], meta: Dict):
        import h5py
        self.path = f"{out}.h5"
        self.paths = [self.path]
        self.h5 = h5py.File(self.path, "w")
        self.h5.attrs["features"] = json.dumps(features)
        self.h5.attrs["meta"] = json.dumps(meta)
        self.scores = scores
        self.n = 0
        g = self.h5.create_group("variants")
        str_dt = h5py.string_dtype()
        for c in VARIANT_COLUMNS:
            dt = np.int64 if c in ("pos", "alt_index", "line") else str_dt
            g.create_dataset(c, shape=(0,), maxshape=(None,), dtype=dt, chunks=(4096,), compression="gzip")
        s = self.h5.create_group("scores")
        for name in scores:
            s.create_dataset(name, shape=(0, len(features)), maxshape=(None, len(features)), dtype=np.float32,
                             chunks=(min(1024, max(1, 2**20 // max(len(features), 1))), len(features)),
                             compression="gzip")

    def write(self, prep, values: Dict[str, np.ndarray]) -> None:
        table = _variant_table(prep)
        n0, n1 = self.n, self.n + len(prep.rows)
        for c in VARIANT_COLUMNS:
            ds = self.h5["variants"][c]
            ds.resize((n1,))
            ds[n0:n1] = np.asarray(table[c], dtype=np.int64) if ds.dtype == np.int64 else \
                np.asarray([str(x) for x in table[c]], dtype=object)
        for name in self.scores:
            ds = self.h5["scores"][name]
            ds.resize((n1, ds.shape[1]))
            ds[n0:n1] = values[name].astype(np.float32)
        self.n = n1

    def close(self) -> None:
        self.h5.close()


def make_writer(fmt: str, out: str, features: List[str], scores: List[str], meta: Dict):
    if fmt == "tsv":
        return TsvWriter(out, features, scores, meta)
    if fmt in ("hdf5", "h5"):
        return Hdf5Writer(out, features, scores, meta)
    raise ValueError(f"unknown output format {fmt!r}; use tsv or hdf5")


def read_scores_h5(path: str):
    """(variants DataFrame, {score: (N, F) array}, features) from an HDF5 output."""
    import h5py
    import pandas as pd
    with h5py.File(path, "r") as h5:
        table = pd.DataFrame({c: (h5["variants"][c].asstr()[:] if h5["variants"][c].dtype.kind == "O"
                                  else h5["variants"][c][:]) for c in VARIANT_COLUMNS})
        scores = {k: h5["scores"][k][:] for k in h5["scores"]}
        features = json.loads(h5.attrs["features"])
    return table, scores, features
