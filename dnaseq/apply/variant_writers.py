"""Streaming writers for variant scores: TSV (full float precision) and HDF5.

Both are appended chunk by chunk, so memory never holds more than one chunk of results. Both
write to ``PATH.partial`` and rename it to ``PATH`` only when the whole run succeeded; a failed
run removes the ``.partial`` file, so a ``PREFIX.tsv``/``PREFIX.h5`` is always complete.

String cells: every string cell (chrom, id, ref, alt, status, note ...) of both formats goes
through one sanitiser, :func:`dnaseq.sequence.textio.escape_controls`: control characters (tab, CR, LF,
NUL, DEL, C1) become ``\\xNN``; everything else (``#``, quotes, spaces, ``;``, non-ASCII such
as ``é``) is written as it is, UTF-8 encoded. Bytes of the VCF that are not UTF-8 arrive as
``\\xNN`` text too.

TSV: one header line (the variant columns; with a background, the per-row summary columns
``min_evalue_<s>``, ``min_feature_<s>``, ``n_below_<s>``, ``combined_evalue_<s>`` of
:mod:`dnaseq.apply.calibration`; then one column per score and feature named ``score:feature``,
e-values as ``evalue_diff:feature``), then one line per row; no comment lines (run metadata are in
``PREFIX.summary.json``). Cells follow the CSV quoting rules with a tab delimiter: a cell that
holds ``"`` is written in double quotes with each ``"`` doubled (no other cell is quoted).
``pandas.read_csv(path, sep="\\t")`` returns every cell as written; add
``keep_default_na=False, na_values=["nan"]`` to keep empty notes and text such as ``NA`` as
text (scores stay NaN where not scored), and ``dtype={"chrom": str, "id": str}`` to keep names
like ``1`` or ``007`` as text (:func:`read_scores_tsv` does all this). Floats are written with 9
significant digits, which round-trips float32 exactly (and keeps float64 scores to 9 digits);
rows that were not scored have ``nan``.

HDF5: ``/variants/<column>`` (UTF-8 strings; int64 ``pos``, ``alt_index``, ``line``; HDF5
booleans, which h5py reads as numpy ``bool``, for ``ref_match``, ``indel`` and ``padded``) and
``/scores/<score>`` float32 (N, F) (e-values too); ``/summary/<column>`` (float64, text for
``min_feature_<s>``) with a background; attributes ``features`` and ``meta`` (JSON). A row whose REF
was never compared with the genome (malformed, unknown chromosome, beyond the chromosome's end;
an empty ``ref_match`` cell in the TSV) has ``ref_match`` False and ``/variants/ref_checked``
False; :func:`read_scores_h5` gives ``ref_match`` as pandas' nullable ``boolean`` with ``<NA>``
there.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..outputs import HDF5Output, OutputLock, check_run_settings, last_line_end, write_run_settings
from ..sequence.textio import escape_controls

#: the score types a run can write (REF and ALT probabilities, their effects), the default set, and what a
#: REF that differs from the genome does (score with the genome's REF, the VCF's, or skip the record)
SCORES = ("ref", "alt", "diff", "abs_diff", "logit_diff", "combined")
DEFAULT_SCORES = ("ref", "alt", "diff", "logit_diff", "combined")
#: with a background: a feature's e-value below this counts in the row's n_features_below
DEFAULT_THRESHOLD = 0.01
REF_POLICIES = ("genome", "vcf", "skip")

VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "alt_index", "line", "status", "ref_match",
                   "indel", "padded", "note")
INT_COLUMNS = ("pos", "alt_index", "line")
BOOL_COLUMNS = ("ref_match", "indel", "padded")  # HDF5 booleans (the TSV writes True / False)
FORMATS = {"tsv": "tsv", "hdf5": "h5", "h5": "h5"}  # format -> file suffix
TEXT_SUMMARY_PREFIX = "min_feature_"  # the one text column among the summary columns of a calibrated run


def _summary_cells(summary: Dict[str, np.ndarray], names: List[str]) -> List[list]:
    """Per-row summary columns (numbers as %.9g, text sanitised), column by column."""
    return [[escape_controls(str(v)) for v in summary[c]] if c.startswith(TEXT_SUMMARY_PREFIX)
            else ["%.9g" % v for v in np.asarray(summary[c], np.float64).tolist()] for c in names]


def output_path(fmt: str, out: str) -> str:
    """The data file a format writes for prefix ``out``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; use tsv or hdf5")
    return f"{out}.{FORMATS[fmt]}"


def _variant_table(prep) -> Dict[str, list]:
    """The variant columns of a chunk; string cells sanitised by :func:`escape_controls`."""
    rows = prep.rows
    e = escape_controls
    return {
        "chrom": [e(r.chrom) for r in rows], "pos": [int(r.pos) for r in rows], "id": [e(r.id) for r in rows],
        "ref": [e(r.ref) for r in rows], "alt": [e(r.alt) for r in rows],
        "alt_index": [int(r.alt_index) for r in rows], "line": [int(r.line) for r in rows],
        "status": [e(s) for s in prep.status],
        "ref_match": ["" if m is None else str(bool(m)) for m in prep.ref_match],
        "indel": [str(r.kind == "indel") for r in rows], "padded": [str(bool(p)) for p in prep.padded],
        "note": [e(n) for n in prep.note],
    }


class _Writer:
    """Common part: ``PATH.partial`` while writing, renamed by :meth:`commit`; the output is
    claimed (:class:`~dnaseq.outputs.OutputLock`) from construction until :meth:`commit`,
    :meth:`discard` or :meth:`release`, so a second run on the same prefix stops instead of interleaving."""

    def __init__(self, path: str):
        self.lock = OutputLock(path)
        self.path = path
        self.partial = path + ".partial"
        self.paths = [path]
        self._open = True

    def _close(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._open:
            self._open = False
            self._close()

    def commit(self) -> None:
        """Close and move the finished file to its final name; the claim ends."""
        try:
            self.close()
            os.replace(self.partial, self.path)
        finally:
            self.release()

    def discard(self) -> None:
        """Close and remove the unfinished file (after a failure); the claim ends."""
        try:
            self.close()
        finally:
            try:
                if os.path.exists(self.partial):
                    os.remove(self.partial)
            finally:
                self.release()

    @contextlib.contextmanager
    def _released_on_error(self):
        """The claim ends when a subclass fails to open its file."""
        try:
            yield
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """End the claim on the output (after the run's last file is in place)."""
        self.lock.release()


class TsvWriter(_Writer):
    """With ``resume=True`` an existing ``PATH.partial`` of the same run (its ``.json`` sidecar
    holds the run's settings) is continued: a last line cut short by a kill is dropped, and
    ``done`` / ``done_statuses`` / ``done_ref_match`` say which rows are already there (one line
    per row: cells never hold a line break)."""

    def __init__(self, out: str, features: List[str], scores: List[str], meta: Dict, resume: bool = False,
                 summary: Sequence[str] = ()):
        super().__init__(f"{out}.tsv")
        with self._released_on_error():  # a refused --resume (other settings) leaves no claim behind
            self.scores, self.summary = scores, list(summary)
            self.done, self.done_statuses, self.done_ref_match = 0, Counter(), Counter()
            score_cols = [escape_controls(f"{s}:{f}") for s in scores for f in features]
            header = list(VARIANT_COLUMNS) + self.summary + score_cols
            if resume and os.path.exists(self.partial):
                check_run_settings(self.partial, _run_key(meta))
                self.done, self.done_statuses, self.done_ref_match = _truncate_to_complete_rows(self.partial, header)
                self.fh = open(self.partial, "a", encoding="utf-8", newline="")
                self.csv = csv.writer(self.fh, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
                return
            write_run_settings(self.partial, _run_key(meta))
            self.fh = open(self.partial, "w", encoding="utf-8", newline="")
            self.csv = csv.writer(self.fh, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            self.csv.writerow(header)
            self.fh.flush()

    def commit(self) -> None:
        super().commit()
        if os.path.exists(self.partial + ".json"):
            os.remove(self.partial + ".json")

    def discard(self) -> None:
        super().discard()
        if os.path.exists(self.partial + ".json"):
            os.remove(self.partial + ".json")

    def write(self, prep, values: Dict[str, np.ndarray], summary: Optional[Dict[str, np.ndarray]] = None) -> None:
        table = _variant_table(prep)
        n = len(prep.rows)
        block = np.concatenate([values[s] for s in self.scores], axis=1) if self.scores else np.zeros((n, 0))
        extra = _summary_cells(summary, self.summary) if self.summary else []
        rows = list(zip(*[table[c] for c in VARIANT_COLUMNS], *extra))
        if block.shape[1]:
            # the variant cells through csv (quoting), the numbers joined by one %-format per row
            # (7x faster than formatting each cell); sanitised cells hold no line breaks
            cells = io.StringIO()
            csv.writer(cells, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
            heads = cells.getvalue().split("\n")[:-1]
            fmt = "\t".join(["%.9g"] * block.shape[1])
            if len(heads) == n:
                self.fh.write("".join(f"{h}\t{fmt % tuple(r)}\n" for h, r in zip(heads, block.tolist())))
            else:  # a quoted cell with a line break in it (the sanitiser escapes them): cell by cell
                self.csv.writerows(list(r) + (fmt % tuple(v)).split("\t") for r, v in zip(rows, block.tolist()))
        else:
            self.csv.writerows(rows)
        self.fh.flush()  # a killed run keeps every finished chunk (--resume)

    def _close(self) -> None:
        self.fh.close()


_H5_BOOLS = BOOL_COLUMNS + ("ref_checked",)


def _bool_columns(prep) -> Dict[str, list]:
    """The boolean columns of a chunk as bools (HDF5); ``ref_checked`` is False where the REF
    was not compared (``ref_match`` None: an empty TSV cell), and ``ref_match`` False there."""
    return {"ref_match": [bool(m) for m in prep.ref_match],
            "ref_checked": [m is not None for m in prep.ref_match],
            "indel": [r.kind == "indel" for r in prep.rows], "padded": [bool(p) for p in prep.padded]}


class Hdf5Writer(_Writer):
    def __init__(self, out: str, features: List[str], scores: List[str], meta: Dict, summary: Sequence[str] = ()):
        import h5py  # start-up: the CLI imports this module to parse its options
        super().__init__(f"{out}.h5")
        with self._released_on_error():
            self.summary = list(summary)
            self.out = HDF5Output(self.partial)
            self.h5 = self.out.file
            self.h5.attrs["features"] = json.dumps(features)
            self.h5.attrs["meta"] = json.dumps(meta)
            self.scores = scores
            self.n = 0
            g = self.h5.create_group("variants")
            str_dt = h5py.string_dtype()
            for c in VARIANT_COLUMNS + ("ref_checked",):
                dt = np.int64 if c in INT_COLUMNS else np.bool_ if c in _H5_BOOLS else str_dt
                g.create_dataset(c, shape=(0,), maxshape=(None,), dtype=dt, chunks=(4096,), compression="gzip")
            g["ref_match"].attrs["note"] = ("False also where the REF was not compared with the genome "
                                            "(see ref_checked and status)")
            g["ref_checked"].attrs["note"] = "whether the VCF's REF was compared with the genome (ref_match)"
            s = self.h5.create_group("scores")
            for name in scores:
                s.create_dataset(name, shape=(0, len(features)), maxshape=(None, len(features)), dtype=np.float32,
                                 chunks=(min(1024, max(1, 2**20 // max(len(features), 1))), len(features)),
                                 compression="gzip")
            if self.summary:
                g = self.h5.create_group("summary")
                for c in self.summary:
                    g.create_dataset(c, shape=(0,), maxshape=(None,), chunks=(4096,), compression="gzip",
                                     dtype=str_dt if c.startswith(TEXT_SUMMARY_PREFIX) else np.float64)

    def write(self, prep, values: Dict[str, np.ndarray], summary: Optional[Dict[str, np.ndarray]] = None) -> None:
        table = _variant_table(prep)
        table.update(_bool_columns(prep))
        n0, n1 = self.n, self.n + len(prep.rows)
        for c in VARIANT_COLUMNS + ("ref_checked",):
            ds = self.out[f"variants/{c}"]
            ds.resize((n1,))
            dt = np.int64 if c in INT_COLUMNS else np.bool_ if c in _H5_BOOLS else object
            ds[n0:n1] = np.asarray(table[c], dtype=dt)
        for name in self.scores:
            ds = self.out[f"scores/{name}"]
            ds.resize((n1, ds.shape[1]))
            ds[n0:n1] = values[name].astype(np.float32)
        for c in self.summary:
            ds = self.out[f"summary/{c}"]
            ds.resize((n1,))
            text = c.startswith(TEXT_SUMMARY_PREFIX)
            ds[n0:n1] = [escape_controls(str(v)) for v in summary[c]] if text else np.asarray(summary[c], np.float64)
        self.out.flush()  # a failed write (disk full) raises here, not unseen in h5py's clean-up
        self.n = n1

    def _close(self) -> None:
        self.out.close()


_RUN_KEYS = ("checkpoint", "vcf", "reference", "window", "ref_policy", "strand", "scores", "score_n_reference",
             "background", "evalue_threshold")


def _run_key(meta: Dict) -> Dict:
    return {k: meta.get(k) for k in _RUN_KEYS}


def _truncate_to_complete_rows(path: str, header: List[str]):
    """Cut ``path`` after its last complete line; (data rows kept, their status counts, their
    ``ref_match`` counts). Read as a stream: a partial table of millions of rows is never held in
    memory."""
    end = last_line_end(path)
    with open(path, "rb+") as fh:
        fh.truncate(end)
    status_col, match_col = VARIANT_COLUMNS.index("status"), VARIANT_COLUMNS.index("ref_match")
    statuses, matches = Counter(), Counter()
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        if next(reader, None) != header:
            raise ValueError(f"--resume: {path} does not start with this run's header; delete it to start again")
        for row in reader:
            statuses[row[status_col]] += 1
            matches[{"True": True, "False": False}.get(row[match_col])] += 1
    return sum(statuses.values()), statuses, matches


def make_writer(fmt: str, out: str, features: List[str], scores: List[str], meta: Dict, resume: bool = False,
                summary: Sequence[str] = ()):
    """A writer for ``fmt`` (``summary``: per-row summary columns of a calibrated run, after the
    variant columns); a file that cannot be created is a ValueError naming it."""
    path = output_path(fmt, out)
    try:
        if FORMATS[fmt] == "tsv":
            return TsvWriter(out, features, scores, meta, resume=resume, summary=summary)
        if resume:
            raise ValueError("--resume works with --format tsv (an HDF5 file cut by a kill cannot be trusted)")
        return Hdf5Writer(out, features, scores, meta, summary=summary)
    except OSError as exc:
        raise ValueError(f"cannot write {path}.partial: {exc.strerror or exc}") from exc


def read_scores_tsv(path: str):
    """A TSV output as a DataFrame: text cells exactly as written, unscored scores NaN."""
    import pandas as pd  # start-up: the CLI imports this module to parse its options
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh, delimiter="\t"), [])
    text = [c for c in header if c in VARIANT_COLUMNS and c not in INT_COLUMNS or c.startswith(TEXT_SUMMARY_PREFIX)]
    numbers = [c for c in header if c not in VARIANT_COLUMNS and c not in text]
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values={c: ["nan"] for c in numbers},
                       dtype={**{c: str for c in text}, **{c: np.float64 for c in numbers}})


def read_scores_h5(path: str):
    """(variants DataFrame, {score: (N, F) array}, features) from an HDF5 output.

    ``indel`` and ``padded`` are numpy bools; ``ref_match`` is pandas' nullable ``boolean``,
    ``<NA>`` where the REF was not compared with the genome. Files written before the columns
    were HDF5 booleans (the strings ``"True"`` / ``"False"`` / ``""``) read the same way."""
    import h5py  # start-up: the CLI imports this module to parse its options
    import pandas as pd
    with h5py.File(path, "r") as h5:
        v = h5["variants"]
        columns = {}
        for c in VARIANT_COLUMNS:
            values = v[c].asstr()[:] if v[c].dtype.kind == "O" else v[c][:]
            if c in BOOL_COLUMNS and values.dtype != np.bool_:  # an older file: "True" / "False" / ""
                checked = values != ""
                values = values == "True"
            else:
                checked = v["ref_checked"][:] if c == "ref_match" and "ref_checked" in v else None
            if c == "ref_match":
                values = pd.array(values, dtype="boolean")
                if checked is not None:
                    values[~np.asarray(checked, dtype=bool)] = pd.NA
            columns[c] = values
        for c in h5["summary"] if "summary" in h5 else ():
            ds = h5["summary"][c]
            columns[c] = ds.asstr()[:] if ds.dtype.kind == "O" else ds[:]
        table = pd.DataFrame(columns)
        scores = {k: h5["scores"][k][:] for k in h5["scores"]}
        features = json.loads(h5.attrs["features"])
    return table, scores, features
