"""Compare two evaluations feature by feature (DanQ vs DeepSEA style)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Dict, Optional

import pandas as pd

from .._lazy import api
from ..outputs import ensure_writable_dir, write_json
from ..training.runs import BEST, LAST, checkpoint_in
from .evaluate import Evaluation, evaluate, load_evaluation

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    merged: pd.DataFrame  # feature, group, roc_auc_a, roc_auc_b, pr_auc_a, pr_auc_b
    stats: Dict
    label_a: str
    label_b: str

    def format(self) -> str:
        lines = [f"A = {self.label_a}", f"B = {self.label_b}"]
        for metric, s in self.stats.items():
            lines.append(f"{metric}: A better on {s['a_better']} of {s['compared']} features "
                         f"({s['a_better_share']:.0%}); mean A-B {s['mean_diff']:+.4f}, "
                         f"median A-B {s['median_diff']:+.4f}")
        return "\n".join(lines)


def _is_checkpoint(item: str) -> bool:
    """A checkpoint file, or a run folder of ``dnaseq train`` (it holds best.ckpt / last.ckpt)."""
    item = str(item)
    if item.endswith(".ckpt"):
        return True
    return os.path.isdir(item) and not os.path.exists(os.path.join(item, "metrics.json")) and any(
        os.path.exists(os.path.join(item, name)) for name in (BEST, LAST))


def _label(item: str) -> str:
    """How an input is named in the report: a checkpoint by its run folder and file
    (``version_0/best.ckpt``), an evaluation folder by its name."""
    path = os.path.normpath(str(item))
    if _is_checkpoint(path):
        folder, name = os.path.split(checkpoint_in(path) if os.path.isdir(path) else path)
        return f"{os.path.basename(folder)}/{name}" if folder else name
    return os.path.basename(path)


def _as_evaluation(item, data: Optional[str], split: str, **kw) -> Evaluation:
    if isinstance(item, Evaluation):  # already loaded (evaluate()'s result)
        return item
    if _is_checkpoint(item):
        if not data:
            raise ValueError(f"{item} is a checkpoint: pass --data to evaluate it")
        return evaluate(item, data, split=split, plots=False, **kw)
    return load_evaluation(item)


def _warn_other_windows(a: Dict, b: Dict) -> None:
    """Two evaluations on other data or another split compare the windows as much as the models:
    say so (a comparison of models needs the same windows)."""
    def same(key: str, x, y) -> bool:
        return os.path.realpath(str(x)) == os.path.realpath(str(y)) if key == "data" else x == y

    differ = [k for k in ("data", "split") if a.get(k) is not None and b.get(k) is not None
              and not same(k, a[k], b[k])]
    if differ:
        log.warning("the two evaluations are on different %s (%s): their differences mix the models with the "
                    "windows; evaluate both on the same data and split to compare models", " and ".join(differ),
                    "; ".join(f"{k}: {a[k]} vs {b[k]}" for k in differ))


def compare_evaluations(a: Evaluation, b: Evaluation, label_a: str = "A", label_b: str = "B") -> Comparison:
    """Per-feature differences; refuses evaluations whose feature names differ."""
    fa, fb = list(a.table.feature), list(b.table.feature)
    if fa != fb:
        only_a = sorted(set(fa) - set(fb))[:5]
        only_b = sorted(set(fb) - set(fa))[:5]
        detail = (f"only in A: {only_a}, only in B: {only_b}" if (only_a or only_b)
                  else "same names in a different order")
        raise ValueError(f"cannot compare: the two results have different features "
                         f"({len(fa)} vs {len(fb)}; {detail})")
    _warn_other_windows(a.meta, b.meta)
    merged = pd.DataFrame({"feature": fa, "group": list(a.table.group),
                           "roc_auc_a": a.table.roc_auc.values, "roc_auc_b": b.table.roc_auc.values,
                           "pr_auc_a": a.table.pr_auc.values, "pr_auc_b": b.table.pr_auc.values})
    stats = {}
    for metric in ("roc_auc", "pr_auc"):
        x, y = merged[f"{metric}_a"], merged[f"{metric}_b"]
        ok = x.notna() & y.notna()
        d = (x - y)[ok]
        stats[metric] = {"compared": int(ok.sum()), "a_better": int((d > 0).sum()),
                         "a_better_share": float((d > 0).mean()) if ok.any() else float("nan"),
                         "mean_diff": float(d.mean()) if ok.any() else float("nan"),
                         "median_diff": float(d.median()) if ok.any() else float("nan")}
    return Comparison(merged, stats, label_a, label_b)


@api
def compare(a: str, b: str, out_dir: Optional[str] = None, data: Optional[str] = None,
            split: str = "test", **evaluate_kwargs) -> Comparison:
    """Compare two evaluation folders (or two checkpoints on ``data``, or two loaded :class:`Evaluation`
    results, named A and B); write TSV, JSON, PNG.

    ``out_dir`` is created (or refused with one line naming it) before anything is evaluated."""
    if out_dir:
        ensure_writable_dir(out_dir)
    ev_a = _as_evaluation(a, data, split, **evaluate_kwargs)
    ev_b = _as_evaluation(b, data, split, **evaluate_kwargs)
    la, lb = (_label(x) if not isinstance(x, Evaluation) else name for x, name in ((a, "A"), (b, "B")))
    if la == lb and not isinstance(a, Evaluation):  # e.g. two runs' best.ckpt: name them by their paths
        la, lb = os.path.normpath(str(a)), os.path.normpath(str(b))
    result = compare_evaluations(ev_a, ev_b, la, lb)
    if out_dir:
        result.merged.to_csv(os.path.join(out_dir, "comparison.tsv"), sep="\t", index=False, float_format="%.6g")
        write_json(os.path.join(out_dir, "comparison.json"),
                   {"a": a if isinstance(a, str) else la, "b": b if isinstance(b, str) else lb, "stats": result.stats},
                   indent=1)
        from ..plots.accuracy import plot_comparison  # matplotlib: slow to import, needed only here
        plot_comparison(result.merged, result.label_a, result.label_b, os.path.join(out_dir, "comparison.png"))
    return result
