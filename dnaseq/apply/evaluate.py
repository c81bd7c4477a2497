"""Per-chromatin-feature evaluation: ROC AUC and PR AUC (scikit-learn), group summaries.

A feature with no positives or no negatives in the split keeps its row, with NaN metrics and
the reason in ``note``; it is left out of means and medians (and the summary says how many
features each mean covers).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import h5py
import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed

from .._lazy import api
from ..data.dataset import open_split
from ..inference import engine
from ..inference.predictor import probabilities_step, settings
from ..outputs import ensure_writable_dir, write_json
from ..sequence.sniff import not_a, sniff
from ..settings import RunOptions
from ..training.metrics import roc_and_pr_auc
from ..training.checkpoint import as_model
from ..training.task import check_compatible

METRICS = ("roc_auc", "pr_auc")
log = logging.getLogger(__name__)


def _one_feature(y: np.ndarray, p: np.ndarray):
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0:
        return n_pos, n_neg, np.nan, np.nan, "no positives in this split"
    if n_neg == 0:
        return n_pos, n_neg, np.nan, np.nan, "no negatives in this split"
    roc, ap = roc_and_pr_auc(y, p)
    return n_pos, n_neg, roc, ap, ""


def _checked_inputs(labels, probs, feature_names, feature_groups) -> Tuple[np.ndarray, np.ndarray]:
    labels, probs = np.asarray(labels), np.asarray(probs)
    if labels.ndim != 2 or probs.ndim != 2:
        raise ValueError(f"labels and predictions must be 2-D (windows, features), got shapes {labels.shape} and "
                         f"{probs.shape} (one feature: reshape(-1, 1))")
    if labels.shape != probs.shape:
        raise ValueError(f"labels {labels.shape} and predictions {probs.shape} differ in shape")
    if labels.shape[1] != len(feature_names):
        raise ValueError(f"{labels.shape[1]} label columns but {len(feature_names)} feature names")
    if feature_groups is not None and len(feature_groups) != len(feature_names):
        raise ValueError(f"{len(feature_groups)} feature groups for {len(feature_names)} features")
    if labels.dtype.kind not in "biuf" or probs.dtype.kind not in "biuf":
        raise ValueError(f"labels and predictions must be numbers, got dtypes {labels.dtype} and {probs.dtype}")
    binary = labels.dtype == bool or (labels.dtype.kind in "iu" and (not labels.size or labels.min() >= 0 and
                                                                     labels.max() <= 1))
    if not binary and labels.size and not np.isin(labels, (0, 1)).all():  # whole-array checks only when needed
        bad = labels[~np.isin(labels, (0, 1))].flat[0].item()
        raise ValueError(f"labels must be 0 or 1 (absent / present), found {bad!r}; threshold soft labels first")
    if probs.size and not np.isfinite(probs.sum(dtype=np.float64)):
        rows, cols = np.nonzero(~np.isfinite(probs))
        raise ValueError(f"predictions hold {len(rows):,} values that are NaN or infinite (the first: window "
                         f"{rows[0]}, feature {feature_names[cols[0]]!r})")
    return labels.astype(np.uint8, copy=False), probs


def feature_metrics(labels: np.ndarray, probs: np.ndarray, feature_names: Sequence[str],
                    feature_groups: Optional[Sequence[str]] = None, n_jobs: int = -1) -> pd.DataFrame:
    """One row per feature: name, group, n_pos, n_neg, roc_auc, pr_auc, note. ``labels`` (n, F)
    are 0/1 (bool or numbers), ``probs`` (n, F) finite scores; anything else is refused by name."""
    labels, probs = _checked_inputs(labels, probs, feature_names, feature_groups)
    groups = list(feature_groups) if feature_groups is not None else ["all"] * len(feature_names)

    # threads: numpy's sorts release the GIL, and threads share the big arrays without copies
    rows = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_one_feature)(labels[:, j], probs[:, j]) for j in range(labels.shape[1]))
    table = pd.DataFrame(rows, columns=["n_pos", "n_neg", "roc_auc", "pr_auc", "note"])
    table.insert(0, "group", groups)
    table.insert(0, "feature", list(feature_names))
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and median ROC/PR AUC per group and over all features (NaN rows left out)."""
    rows = []
    parts = [(g, table[table.group == g]) for g in dict.fromkeys(table.group)] + [("all", table)]
    for name, part in parts:
        scored = part.dropna(subset=["roc_auc"])
        rows.append({"group": name, "features": len(part), "scored": len(scored),
                     "roc_auc_mean": scored.roc_auc.mean(), "roc_auc_median": scored.roc_auc.median(),
                     "pr_auc_mean": scored.pr_auc.mean(), "pr_auc_median": scored.pr_auc.median()})
    return pd.DataFrame(rows)


@dataclass
class Evaluation:
    """Per-feature metrics, group summary and how they were made."""
    table: pd.DataFrame
    summary: pd.DataFrame
    meta: Dict = field(default_factory=dict)

    def write(self, out_dir: str) -> Dict[str, str]:
        os.makedirs(out_dir, exist_ok=True)
        paths = {"features": os.path.join(out_dir, "metrics_per_feature.tsv"),
                 "summary": os.path.join(out_dir, "metrics_summary.tsv"),
                 "json": os.path.join(out_dir, "metrics.json")}
        self.table.to_csv(paths["features"], sep="\t", index=False, float_format="%.6g")
        self.summary.to_csv(paths["summary"], sep="\t", index=False, float_format="%.6g")
        write_json(paths["json"], {"meta": self.meta, "summary": _records(self.summary),
                                   "features": _records(self.table)}, indent=1)
        return paths

    def format(self, max_rows: int = 60) -> str:
        lines = []
        if self.meta:
            lines.append(", ".join(f"{k}: {v}" for k, v in self.meta.items() if k in
                                   ("checkpoint", "data", "split", "windows", "strand")))
        t = self.table
        shown = t if len(t) <= max_rows else t.head(max_rows)
        lines.append(f"{'feature':<28}{'group':<10}{'pos':>8}{'neg':>9}{'ROC AUC':>9}{'PR AUC':>9}")
        for r in shown.itertuples():
            lines.append(f"{str(r.feature)[:27]:<28}{str(r.group)[:9]:<10}{r.n_pos:>8}{r.n_neg:>9}"
                         f"{_fmt(r.roc_auc):>9}{_fmt(r.pr_auc):>9}" + (f"  ({r.note})" if r.note else ""))
        if len(t) > max_rows:
            lines.append(f"... {len(t) - max_rows} more features in the TSV")
        lines.append("")
        lines.append(f"{'group':<12}{'features':>9}{'scored':>8}{'ROC mean':>10}{'ROC med':>9}{'PR mean':>9}{'PR med':>9}")
        for r in self.summary.itertuples():
            lines.append(f"{r.group[:11]:<12}{r.features:>9}{r.scored:>8}{_fmt(r.roc_auc_mean):>10}"
                         f"{_fmt(r.roc_auc_median):>9}{_fmt(r.pr_auc_mean):>9}{_fmt(r.pr_auc_median):>9}")
        return "\n".join(lines)


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.4f}"


def _records(df: pd.DataFrame) -> List[Dict]:
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in df.to_dict(orient="records")]


@api
def evaluate_predictions(labels: np.ndarray, probs: np.ndarray, feature_names, feature_groups=None,
                         meta: Optional[Dict] = None) -> Evaluation:
    table = feature_metrics(labels, probs, feature_names, feature_groups)
    return Evaluation(table, summarize(table), dict(meta or {}))


@api
def evaluate(checkpoint, data: str, split: str = "test", strand: Optional[str] = None,
             batch_size: Optional[int] = None, device: Optional[str] = None, out_dir: Optional[str] = None,
             save_predictions: bool = False, plots: bool = True, plot_features: Optional[Sequence[str]] = None,
             progress: Optional[bool] = None, run: Optional[RunOptions] = None) -> Optional[Evaluation]:
    """Evaluate a checkpoint (path or loaded model) on one split of a dataset.

    ``strand``: ``as-trained`` (default: the checkpoint's), ``forward`` or ``both``. ``run``
    (accelerator, devices, strategy, precision ...): how the model runs; ``batch_size``,
    ``device`` and ``progress``, when given, are applied on top of it
    (:meth:`dnaseq.settings.RunOptions.for_command`).
    With ``out_dir``: writes metrics TSV/JSON, PNG plots and, with ``save_predictions``,
    ``predictions.h5`` (probabilities, labels, feature names and, for a dnaseq dataset, each
    row's window and bin coordinates: :func:`save_predictions_h5`). Returns None on ranks other
    than 0 of a multi-process run.
    """

    model, label = as_model(checkpoint, language_model=True)
    if model.language_model:
        raise ValueError(f"{label} is a DNA language model: evaluate it on a reference FASTA (--data genome.fa), "
                         f"which reports held-out bits per base; {data} is a chromatin dataset")
    source = open_split(data, split)
    check_compatible(model.n_features, model.seq_len, source.info.n_features, source.info.seq_len,
                     model_label="the checkpoint", data_label=str(data))
    try:
        columns = output_columns(model.feature_names, list(source.info.feature_names), str(data))
        unknown = [f for f in plot_features or () if f not in source.info.feature_names]
        if unknown and plots and out_dir:  # before the predictions, not after them
            raise ValueError(f"plot features {_few(unknown)} are not features of {data}, which has "
                             f"{_few(list(source.info.feature_names), 10)}")
    except ValueError:
        source.close()
        raise
    if out_dir:
        ensure_writable_dir(out_dir)
    run = RunOptions.for_command("evaluate", run, batch_size=batch_size, device=device, progress=progress,
                                 default_progress=True)
    s = settings(model, strand)
    n, F = len(source), source.info.n_features
    chunk = max(run.batch_size, getattr(source, "chunk_rows", 1))

    def produce():
        for lo in range(0, n, chunk):
            idx = np.arange(lo, min(lo + chunk, n))

            def unit(idx=idx, lo=lo):
                codes, y = source.read(idx)
                return {"codes": torch.from_numpy(np.ascontiguousarray(codes)), "meta": (lo, y)}
            yield unit

    try:
        info = engine.run(s.net, produce, probabilities_step(s.fill, s.strand, run.batch_size),
                          lambda: _SplitSink(n, F), run, total=-(-n // chunk))
        coords = split_coordinates(source) if (out_dir and save_predictions and info.is_main) else None
    finally:
        source.close()
    if not info.is_main:
        return None
    probs, labels = info.sink.probs[:, columns], info.sink.labels
    meta = {"checkpoint": label, "data": str(data), "split": split, "windows": int(len(labels)),
            "strand": s.strand, "fill": s.fill, "precision": str(run.precision)}
    result = evaluate_predictions(labels, probs, source.info.feature_names, source.info.feature_groups, meta)
    if out_dir:
        result.write(out_dir)
        if save_predictions:
            save_predictions_h5(os.path.join(out_dir, "predictions.h5"), probs, labels,
                                source.info.feature_names, source.info.feature_groups, meta, coords)
        if plots:
            from ..plots.accuracy import plot_evaluation  # matplotlib: slow to import, needed only here
            plot_evaluation(result, labels, probs, out_dir, features=plot_features)
    return result


def output_columns(model_features: Sequence[str], data_features: Sequence[str], data: str) -> np.ndarray:
    """For each feature of the dataset, the model output that predicts it, matched by name: a
    dataset that lists the checkpoint's features in another order was scored column by column
    against the wrong labels. Names that match only in part are refused, naming the differences;
    when no name matches (a model of unnamed features, say), columns go by position, with a
    warning."""
    model_features, data_features = list(model_features), list(data_features)
    if model_features == data_features:
        return np.arange(len(data_features))
    if len(set(model_features)) < len(model_features) or len(set(data_features)) < len(data_features):
        # names that repeat (DeepSEA's 919 list repeats 75; an imported checkpoint numbers them
        # name#2 ...) cannot be matched one to one: by position, as the two files list them
        log.warning("feature names of %s repeat or differ from the checkpoint's: model outputs are scored "
                    "against the dataset's columns by position", data)
        return np.arange(len(data_features))
    if sorted(model_features) == sorted(data_features):
        log.warning("%s lists the checkpoint's features in another order: each is scored against the model "
                    "output of its name", data)
        return np.array([model_features.index(f) for f in data_features])
    only_data = [f for f in data_features if f not in model_features]
    only_model = [f for f in model_features if f not in data_features]
    if len(only_data) < len(data_features):
        raise ValueError(f"the features of {data} and of the checkpoint match only in part: the dataset's "
                         f"{_few(only_data)} are not the checkpoint's, which has {_few(only_model)} instead; "
                         "outputs are matched to labels by name: rebuild the dataset with the checkpoint's "
                         "feature names")
    log.warning("no feature name of %s is the checkpoint's (%s ... vs %s ...): model outputs are scored against "
                "the dataset's columns by position", data, data_features[0], model_features[0])
    return np.arange(len(data_features))


def _few(names: Sequence[str], shown: int = 5) -> str:
    return ", ".join(map(repr, names[:shown])) + (f" and {len(names) - shown} more" if len(names) > shown else "")


class _SplitSink:
    def __init__(self, n: int, n_features: int):
        self.probs = np.empty((n, n_features), np.float32)
        self.labels = np.empty((n, n_features), np.uint8)

    def write(self, meta, out) -> None:
        lo, y = meta
        self.probs[lo:lo + len(y)] = out["probs"]
        self.labels[lo:lo + len(y)] = y


COORDINATES_NOTE = ("0-based, end-exclusive (BED-like) genome coordinates of each row: the model's input "
                    "window (window_start may be < 0 or window_end past the chromosome's end: N-padded) and "
                    "the labelled bin at its centre; row i is row i of the dataset's split")


def split_coordinates(source) -> Optional[Dict]:
    """Per-row ``chrom``, ``window_start``/``window_end`` and ``bin_start``/``bin_end`` of a
    dnaseq HDF5 split (as the dataset stores them: the window start, the bin centred in it);
    None for sources without coordinates (DeepSEA ``.mat`` bundles)."""
    if not hasattr(source, "coordinates"):
        return None
    chroms, starts, _ = source.coordinates()
    starts = np.asarray(starts, dtype=np.int64)
    window = int(source.info.attrs.get("window_size", source.info.seq_len))
    coords = {"chrom": chroms, "window_start": starts, "window_end": starts + window}
    bin_size = source.info.attrs.get("bin_size")
    if bin_size is not None:
        flank = (window - int(bin_size)) // 2
        coords["bin_start"] = starts + flank
        coords["bin_end"] = starts + flank + int(bin_size)
    return coords


def save_predictions_h5(path: str, probs: np.ndarray, labels: np.ndarray, names, groups, meta: Dict,
                        coordinates: Optional[Dict] = None) -> None:
    """``probabilities`` and ``labels`` (N, F), and with ``coordinates``
    (:func:`split_coordinates`) the rows' ``chrom`` (UTF-8), ``window_start``, ``window_end``,
    ``bin_start`` and ``bin_end`` (int64); attribute ``coordinates`` says what they are, or
    that the source has none."""
    with h5py.File(path, "w") as h5:
        h5.create_dataset("probabilities", data=probs, compression="gzip", chunks=True)
        h5.create_dataset("labels", data=labels, compression="gzip", chunks=True)
        if coordinates is not None:
            if len(coordinates["chrom"]) != len(probs):
                raise ValueError(f"{len(coordinates['chrom'])} coordinates for {len(probs)} predictions")
            h5.create_dataset("chrom", data=np.asarray(coordinates["chrom"], dtype=object),
                              dtype=h5py.string_dtype(), compression="gzip", chunks=True)
            for key in ("window_start", "window_end", "bin_start", "bin_end"):
                if key in coordinates:
                    h5.create_dataset(key, data=np.asarray(coordinates[key], dtype=np.int64),
                                      compression="gzip", chunks=True)
            h5.attrs["coordinates"] = COORDINATES_NOTE
        else:
            h5.attrs["coordinates"] = (f"none: {meta.get('data', 'the data')} stores no genome coordinates "
                                       f"(a DeepSEA .mat bundle holds sequences and labels only); row i is "
                                       f"row i of its {meta.get('split', '')} split")
        h5.attrs["features"] = json.dumps(list(names))
        h5.attrs["groups"] = json.dumps(list(groups))
        h5.attrs["meta"] = json.dumps(meta)


@api
def load_evaluation(path: str) -> Evaluation:
    """Read an evaluation back from its output folder or ``metrics.json``."""
    file = os.path.join(path, "metrics.json") if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise FileNotFoundError(f"no evaluation results at {path} (expected metrics.json)")
    what = "an evaluation (a folder written by dnaseq evaluate, or its metrics.json)"
    kind = sniff(file)
    if kind.name != "text":
        raise ValueError(not_a(file, what, kind, "compare takes evaluations, or checkpoints with --data"))
    try:
        with open(file, encoding="utf-8") as fh:
            d = json.load(fh)
        features, summary = d["features"], d["summary"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{file}: not {what} ({type(exc).__name__}: {exc})") from None
    table = pd.DataFrame(features)
    for col in METRICS:
        table[col] = table[col].astype(float)
    table["note"] = table["note"].fillna("")
    return Evaluation(table, pd.DataFrame(summary), d.get("meta", {}))
