"""Where ``dnaseq predict`` results go: a TSV or HDF5 table streamed block by block, bigWig
tracks (pyBigWig), or memory (a pandas DataFrame for the Python API).

Files are written under a ``.partial`` name and renamed when complete, so a run that fails
never leaves a file that looks finished. TSV: one row per window (``name chrom start end
bin_start bin_end padded n_fraction`` then one probability column per feature, 9 significant
digits), readable with plain ``pandas.read_csv(path, sep="\\t")``. HDF5: ``/windows/<column>``
and ``/probabilities`` (N, F) float32, attribute ``features`` and ``meta`` (JSON).
bigWig: one file per feature, the value of each bin over ``[bin_start, bin_end)``; bins must
not overlap in a bigWig, so where BED regions overlap the later bin is left out and counted.
A run stopped by Ctrl-C, SIGTERM or a kill keeps its ``.partial`` table and a ``.partial.json``
holding the run's settings; ``resume_point`` says how many rows it holds, and a sink made with
``resume_rows`` continues it (the last TSV line cut by a kill dropped, HDF5 datasets cut to the
rows all of them hold). bigWig tracks are rebuilt from the table's rows, so they never need to
be appended to. Whole chromosomes arrive in genome order (``in_order``), so their tracks are
written as the blocks come (memory flat however long the genome); BED regions may come in any order, so
their bins are kept (a few numbers per bin) and sorted at the end.
"""
from __future__ import annotations

import json
import os
import re
from typing import Dict, List, Optional

import h5py
import numpy as np
import pandas as pd

from ..outputs import HDF5Output, OutputLock, check_run_settings, complete_rows, last_line_end, write_run_settings
from ..sequence.textio import escape_controls

COLUMNS = ("name", "chrom", "start", "end", "bin_start", "bin_end", "padded", "n_fraction")
MOSTLY_N = 0.5
_REPLAY_ROWS = 1 << 20  # rows of an earlier run read back at a time (tracks, counts)


def resume_point(out: str, fmt: str, meta: Dict) -> Optional[int]:
    """Rows an earlier, stopped run with the same settings left in ``out``'s ``.partial`` table
    (None if there is no such table: nothing to resume); a ValueError naming the file when it was
    made by another run or cannot be read. Reads only: the sink made with ``resume_rows`` cuts
    the file to these rows."""
    partial = (f"{out}.tsv" if fmt == "tsv" else f"{out}.h5") + ".partial"
    if not os.path.exists(partial):
        return None
    check_run_settings(partial, meta)
    if fmt == "tsv":
        return complete_rows(partial)
    try:
        with h5py.File(partial, "r") as h5:
            lengths = [h5["probabilities"].shape[0]] + [h5[f"windows/{c}"].shape[0] for c in COLUMNS]
            return min(lengths + [int(h5.attrs.get("rows_flushed", 0))])
    except (OSError, KeyError) as exc:
        raise ValueError(f"--resume: {partial} cannot be read ({exc}): the kill cut it where HDF5 cannot "
                         f"recover; delete it to start again (--format tsv resumes from any cut)") from None


class PredictionSink:
    def __init__(self, out: Optional[str], fmt: str, features: List[str], tracks: List[str],
                 sizes: Optional[Dict[str, int]], meta: Dict, in_order: bool = False,
                 resume_rows: Optional[int] = None):
        self.out, self.fmt, self.features, self.tracks, self.sizes = out, fmt, list(features), tracks, sizes
        self._cols = [self.features.index(t) for t in tracks]
        self.meta = meta
        self.rows = self.mostly_n = self.skipped = self.overlaps_dropped = 0
        self._mem: List = []
        self._track_parts: List = []
        self._fh = self._out = None
        self._bw: List = []  # streamed tracks: (final path, open pyBigWig file)
        if out is None:
            return
        self.path = f"{out}.tsv" if fmt == "tsv" else f"{out}.h5"
        self.partial = self.path + ".partial"
        self._lock = OutputLock(self.path)  # a second run on the same prefix stops instead of interleaving
        try:
            if resume_rows is None:
                self._open(meta)
            else:
                self._reopen(resume_rows)
            if tracks and in_order:
                self._bw = [self._open_track(t) for t in tracks]
            if resume_rows:
                self._replay(resume_rows)
        except BaseException:
            self.suspend() if resume_rows is not None else self.abort()
            raise

    def _open(self, meta: Dict) -> None:
        if self.fmt == "tsv":
            self._fh = open(self.partial, "w", encoding="utf-8")
            self._fh.write("\t".join(list(COLUMNS) + self.features) + "\n")
        else:
            self._out = HDF5Output(self.partial)
            h5 = self._out.file
            g = h5.create_group("windows")
            for c in COLUMNS:
                dt = {"padded": bool, "n_fraction": np.float32}.get(c, np.int64)
                dt = h5py.string_dtype() if c in ("name", "chrom") else dt
                g.create_dataset(c, shape=(0,), maxshape=(None,), dtype=dt, chunks=(4096,), compression="gzip")
            F = len(self.features)
            h5.create_dataset("probabilities", shape=(0, F), maxshape=(None, F), dtype=np.float32,
                              chunks=(max(1, min(1024, 2 ** 20 // max(F, 1))), F), compression="gzip")
            h5.attrs["features"] = json.dumps(self.features)
            h5.attrs["meta"] = json.dumps(meta)
        write_run_settings(self.partial, meta)

    def _reopen(self, rows: int) -> None:
        """Continue an earlier run's table after its first ``rows`` rows."""
        if self.fmt == "tsv":
            with open(self.partial, "rb+") as fh:  # ``rows`` is every complete line (resume_point)
                fh.truncate(last_line_end(self.partial))
            self._fh = open(self.partial, "a", encoding="utf-8")
        else:
            self._out = HDF5Output(self.partial, "r+")
            for name in [f"windows/{c}" for c in COLUMNS]:
                self._out[name].resize((rows,))
            ds = self._out["probabilities"]
            ds.resize((rows, ds.shape[1]))
            self._out.flush()
        self.rows = rows

    def _replay(self, rows: int) -> None:
        """The earlier run's rows into this run's counts and bigWig tracks."""
        names = ["chrom", "bin_start", "bin_end", "n_fraction"] + self.tracks
        if self.fmt == "tsv":
            parts = pd.read_csv(self.partial, sep="\t", usecols=names, nrows=rows, chunksize=_REPLAY_ROWS,
                                dtype={"chrom": str}, keep_default_na=False)
            parts = ({c: chunk[c].to_numpy() for c in names} for chunk in parts)
        else:
            def parts():
                for lo in range(0, rows, _REPLAY_ROWS):
                    hi = min(rows, lo + _REPLAY_ROWS)
                    part = {c: self._out[f"windows/{c}"][lo:hi] for c in names[:4]}
                    part["chrom"] = part["chrom"].astype(str).astype(object)
                    probs = self._out["probabilities"][lo:hi]
                    yield {**part, **{t: probs[:, j] for t, j in zip(self.tracks, self._cols)}}
            parts = parts()
        for part in parts:
            self.mostly_n += int((part["n_fraction"] > MOSTLY_N).sum())
            if self.tracks:
                values = np.stack([np.asarray(part[t], np.float32) for t in self.tracks], axis=1)
                if self._bw:
                    self._add_entries(part, values)
                else:
                    self._track_parts.append((part["chrom"], part["bin_start"], part["bin_end"], values))

    def write(self, meta, out) -> None:
        table, n_skipped = meta
        probs = out["probs"]
        n = len(probs)
        self.skipped += n_skipped
        self.mostly_n += int((table["n_fraction"] > MOSTLY_N).sum())
        if self._bw:
            self._add_entries(table, probs[:, self._cols])
        elif self.tracks:
            self._track_parts.append((table["chrom"], table["bin_start"], table["bin_end"], probs[:, self._cols]))
        if self.out is None:
            self._mem.append((table, probs))
        elif self._fh is not None:
            text = np.char.mod("%.9g", probs) if probs.size else np.zeros((n, 0), dtype="<U1")
            lines = []
            for i in range(n):
                left = "\t".join(escape_controls(table[c][i]) for c in COLUMNS[:6]) + \
                    f"\t{bool(table['padded'][i])}\t{table['n_fraction'][i]:.4g}"
                lines.append(left + ("\t" + "\t".join(text[i]) if probs.shape[1] else ""))
            if lines:
                self._fh.write("\n".join(lines) + "\n")
        else:
            n0 = self._out["probabilities"].shape[0]
            for c in COLUMNS:
                ds = self._out[f"windows/{c}"]
                ds.resize((n0 + n,))
                v = table[c]
                ds[n0:] = np.asarray([escape_controls(x) for x in v], dtype=object) if c in ("name", "chrom") else v
            ds = self._out["probabilities"]
            ds.resize((n0 + n, ds.shape[1]))
            ds[n0:] = probs
            self._out.flush()  # a failed write (disk full) raises here, not unseen in h5py's clean-up
            # rows known to be on disk (flushed with the next block): what --resume trusts after a kill
            self._out.file.attrs["rows_flushed"] = n0 + n
        self.rows += n

    def close(self) -> List[str]:
        paths = []
        if self.out is not None:
            try:
                if self._fh is not None:
                    self._fh.close()
                if self._out is not None:
                    self._out.close()
                os.replace(self.partial, self.path)
                _remove(self.partial + ".json")
                paths.append(self.path)
                if self._bw:
                    paths += self._close_tracks()
                elif self.tracks:
                    paths += self._write_bigwigs()
            finally:
                self._lock.release()
        return paths

    def abort(self) -> None:
        """After a failed run: close, remove the unfinished file, end the claim on the output."""
        if self.out is None:
            return
        try:
            self._close_handles()
            for path in [self.partial, self.partial + ".json"] + [p + ".partial" for p, _ in self._bw]:
                _remove(path)
        finally:
            self._lock.release()

    def suspend(self) -> None:
        """After Ctrl-C / SIGTERM, or a resume that could not start: close, keep the table's
        ``.partial`` and its settings for ``--resume`` (tracks are rebuilt then), end the claim."""
        if self.out is None:
            return
        try:
            self._close_handles()
            for path, _ in self._bw:
                _remove(path + ".partial")
        finally:
            self._lock.release()

    def _close_handles(self) -> None:
        for h in (self._fh, self._out) + tuple(bw for _, bw in self._bw):
            if h is not None:
                h.close()

    def in_memory(self):
        if self.out is not None:
            return None, None
        if not self._mem:
            return pd.DataFrame({**{c: [] for c in COLUMNS}, **{f: [] for f in self.features}}), \
                np.zeros((0, len(self.features)), np.float32)
        probs = np.concatenate([p for _, p in self._mem])
        table = {c: np.concatenate([t[c] for t, _ in self._mem]) for c in COLUMNS}
        df = pd.DataFrame(table)
        df = pd.concat([df, pd.DataFrame(probs, columns=self.features)], axis=1)
        return df, probs

    def _open_track(self, feature: str):
        import pyBigWig  # optional at import time of dnaseq: only bigWig output needs it
        path = track_path(self.out, feature)
        bw = pyBigWig.open(path + ".partial", "w")
        bw.addHeader([(c, int(n)) for c, n in self.sizes.items()])
        return path, bw

    def _add_entries(self, table, values: np.ndarray) -> None:
        """Bins in genome order, and their values (one column per track), onto the open tracks."""
        if not len(values):
            return
        chroms = [str(c) for c in table["chrom"]]
        starts, ends = table["bin_start"].tolist(), table["bin_end"].tolist()
        for j, (_, bw) in enumerate(self._bw):
            bw.addEntries(chroms, starts, ends=ends, values=values[:, j].astype(np.float64).tolist())

    def _close_tracks(self) -> List[str]:
        paths = []
        for path, bw in self._bw:
            bw.close()
            os.replace(path + ".partial", path)
            paths.append(path)
        self._bw = []
        return paths

    def _write_bigwigs(self) -> List[str]:
        chrom = np.concatenate([p[0] for p in self._track_parts]) if self._track_parts else np.zeros(0, object)
        start = np.concatenate([p[1] for p in self._track_parts]) if self._track_parts else np.zeros(0, np.int64)
        end = np.concatenate([p[2] for p in self._track_parts]) if self._track_parts else np.zeros(0, np.int64)
        vals = np.concatenate([p[3] for p in self._track_parts]) if self._track_parts else \
            np.zeros((0, len(self.tracks)), np.float32)
        order_of = {c: i for i, c in enumerate(self.sizes)}
        key = np.array([order_of[c] for c in chrom], np.int64)
        order = np.lexsort((end, start, key))
        chrom, start, end, vals, key = chrom[order], start[order], end[order], vals[order], key[order]
        # sorted by (chromosome, start): a bin starting before the end of an earlier bin is left out
        big = np.int64(1) << 40
        s_abs, e_abs = key * big + start, key * big + end
        prev_end = np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(e_abs)[:-1]]) if len(e_abs) \
            else e_abs
        keep = s_abs >= prev_end
        self.overlaps_dropped = int((~keep).sum())
        chrom, start, end, vals = chrom[keep], start[keep], end[keep], vals[keep]
        self._bw = [self._open_track(t) for t in self.tracks]
        if len(start):
            self._add_entries({"chrom": chrom, "bin_start": start, "bin_end": end}, vals)
        return self._close_tracks()


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


def _file_part(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def track_path(out: str, feature: str) -> str:
    """The bigWig file of ``feature`` for output prefix ``out``."""
    return f"{out}.{_file_part(feature)}.bw"
