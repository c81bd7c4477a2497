"""Accuracy figures: ROC / PR curves per feature, the AUC distribution, and two evaluations
compared feature by feature (labels placed so none hides another)."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.text import Text

from .figures import plt


def default_features(table) -> List[str]:
    """Best, median and worst feature by ROC AUC (scored features only)."""
    scored = table.dropna(subset=["roc_auc"]).sort_values("roc_auc")
    if scored.empty:
        return []
    picks = [scored.iloc[-1].feature, scored.iloc[len(scored) // 2].feature, scored.iloc[0].feature]
    return list(dict.fromkeys(picks))


def plot_curves(labels: np.ndarray, probs: np.ndarray, names: Sequence[str], features: Sequence[str],
                path: str) -> str:
    """ROC and PR curves for ``features`` side by side."""
    # start-up: scikit-learn only for the figures that need its curves
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    index = {n: i for i, n in enumerate(names)}
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name in features:
        j = index[name]
        y, p = labels[:, j], probs[:, j]
        if not 0 < y.sum() < len(y):
            continue
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        line, = ax_roc.plot(fpr, tpr, label=f"{name} ({roc_auc_score(y, p):.3f})")
        # steps, as average precision sums them (a straight line between points overstates precision)
        ax_pr.plot(rec, prec, color=line.get_color(), drawstyle="steps-post",
                   label=f"{name} ({average_precision_score(y, p):.3f})")
        # a random ranking's precision is the positive rate: the line to beat, named in the legend
        ax_pr.axhline(y.mean(), color=line.get_color(), ls=":", lw=0.8,
                      label=f"random ranking, {name} ({y.mean():.3f})")
    ax_roc.plot([0, 1], [0, 1], "k--", lw=0.8, label="random ranking (0.500)")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (AUC)")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall (average precision)", xlim=(0, 1),
              ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):  # below the axes: a legend never hides a curve
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1,
                      frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_auc_distribution(table, path: str) -> str:
    """Per-group distribution (box + points) of per-feature ROC AUC and PR AUC."""
    groups = list(dict.fromkeys(table.group))
    fig, axes = plt.subplots(1, 2, figsize=(max(9, 2 + 1.5 * len(groups)), 4.5))
    for ax, metric, label in zip(axes, ("roc_auc", "pr_auc"), ("ROC AUC", "PR AUC")):
        data = [table[(table.group == g)][metric].dropna().values for g in groups]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), groups)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=10, alpha=0.6)
        ax.set(ylabel=label, title=f"per-feature {label} by group")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_evaluation(result, labels, probs, out_dir: str, features: Optional[Sequence[str]] = None) -> Dict[str, str]:
    names = list(result.table.feature)
    features = list(features) if features else default_features(result.table)
    unknown = [f for f in features if f not in names]
    if unknown:
        raise ValueError(f"features {unknown} are not in the dataset")
    return {"curves": plot_curves(labels, probs, names, features, os.path.join(out_dir, "curves.png")),
            "distribution": plot_auc_distribution(result.table, os.path.join(out_dir, "auc_by_group.png"))}


def comparison_labels(merged, metric: str, all_up_to: int = 30, top: int = 10) -> List[int]:
    """Rows of ``merged`` to label on the ``metric`` scatter: every compared feature when there
    are at most ``all_up_to``, else the ``top`` with the largest |A - B| (largest first)."""
    a, b = merged[f"{metric}_a"].to_numpy(float), merged[f"{metric}_b"].to_numpy(float)
    ok = np.nonzero(~np.isnan(a) & ~np.isnan(b))[0]
    order = ok[np.argsort(-np.abs(a[ok] - b[ok]), kind="stable")]
    return [int(i) for i in (order if len(ok) <= all_up_to else order[:top])]


def _label_offsets() -> List[Tuple[float, float]]:
    """Label offsets (points), nearest first: up-right of the point, then rings around it."""
    out = [(4.0, 3.0)]
    for radius in (9, 16, 25, 36, 50):
        for angle in (30, -30, 150, -150, 90, -90, 0, 180, 60, -60, 120, -120):
            out.append((radius * np.cos(np.radians(angle)), radius * np.sin(np.radians(angle)) - 3))
    return out


_LABEL_OFFSETS = _label_offsets()


def _spread_labels(fig, ax, texts) -> None:
    """Move each annotation (in priority order) to the nearest offset where it overlaps no label
    placed before it and stays inside the axes; one that fits nowhere goes where it overlaps
    least, drawn fainter."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = []

    def extent(t):  # the text alone (an Annotation's extent includes its leader line)
        t.update_positions(renderer)
        return Text.get_window_extent(t, renderer)

    def overlap(box) -> float:
        area = 0.0
        for other in placed:
            w = min(box.x1, other.x1) - max(box.x0, other.x0)
            h = min(box.y1, other.y1) - max(box.y0, other.y0)
            area += max(w, 0) * max(h, 0)
        return area

    for t in texts:
        best = None
        for dx, dy in _LABEL_OFFSETS:
            t.xyann = (dx, dy)
            t.set_ha("left" if dx >= 0 else "right")
            box = extent(t)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            cost = overlap(box) + (0.0 if inside else 1e-3 * box.width * box.height)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy), box)
            if cost == 0:
                break
        cost, (dx, dy), box = best
        t.xyann = (dx, dy)
        t.set_ha("left" if dx >= 0 else "right")
        if cost >= 1.0:
            t.set_alpha(0.45)
        placed.append(box)


def draw_comparison(merged, label_a: str, label_b: str, all_up_to: int = 30, top: int = 10):
    """The comparison figure of :func:`plot_comparison` (the caller saves and closes it). Feature
    names are drawn beside their points (:func:`comparison_labels`), small, each moved until it
    overlaps no other label, with a thin line to its point."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    labels = []
    for ax, metric, label in zip(axes, ("roc_auc", "pr_auc"), ("ROC AUC", "PR AUC")):
        a, b = merged[f"{metric}_a"], merged[f"{metric}_b"]
        ok = a.notna() & b.notna()
        for g in dict.fromkeys(merged.group):
            sel = ok & (merged.group == g)
            ax.scatter(b[sel], a[sel], s=12, alpha=0.7, label=g)
        lo = float(min(a[ok].min(), b[ok].min())) if ok.any() else 0.0
        ax.plot([lo, 1], [lo, 1], "k--", lw=0.8)
        rows = comparison_labels(merged, metric, all_up_to, top)
        which = "" if len(rows) == int(ok.sum()) else f"\nlabelled: the {len(rows)} with the largest |A-B|"
        if which:  # ring the labelled points among the many
            ax.scatter(b.iloc[rows], a.iloc[rows], s=34, facecolors="none", edgecolors="k", lw=0.6)
        ax.set_xlabel(f"{label_b} {label}")
        ax.set_ylabel(f"{label_a} {label}")
        ax.set_title(f"{label}: {label_a} better on {(a[ok] > b[ok]).mean():.0%} of features{which}", fontsize=9)
        ax.legend(fontsize=8)
        labels.append([ax.annotate(str(merged.feature.iloc[i]), (float(b.iloc[i]), float(a.iloc[i])),
                                   xytext=_LABEL_OFFSETS[0], textcoords="offset points", fontsize=6, color="0.15",
                                   va="bottom", arrowprops=dict(arrowstyle="-", lw=0.3, color="0.55",
                                                                shrinkA=0, shrinkB=2))
                       for i in rows])
    fig.tight_layout()
    for ax, texts in zip(axes, labels):
        _spread_labels(fig, ax, texts)
    return fig


def plot_comparison(merged, label_a: str, label_b: str, path: str, all_up_to: int = 30, top: int = 10) -> str:
    """Scatter of per-feature ROC AUC and PR AUC, A against B, with the diagonal; every feature
    labelled when there are at most ``all_up_to``, else the ``top`` most different ones."""
    fig = draw_comparison(merged, label_a, label_b, all_up_to, top)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
