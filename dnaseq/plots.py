"""Every figure dnaseq draws (matplotlib, Agg backend); no other module imports plotting."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
        ax_pr.plot(rec, prec, color=line.get_color(), label=f"{name} ({average_precision_score(y, p):.3f})")
        # a random ranking's precision is the positive rate: the line to beat
        ax_pr.axhline(y.mean(), color=line.get_color(), ls=":", lw=0.8)
    ax_roc.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "upper right")
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


def plot_comparison(merged, label_a: str, label_b: str, path: str) -> str:
    """Scatter of per-feature ROC AUC and PR AUC, A against B, with the diagonal."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, metric, label in zip(axes, ("roc_auc", "pr_auc"), ("ROC AUC", "PR AUC")):
        a, b = merged[f"{metric}_a"], merged[f"{metric}_b"]
        ok = a.notna() & b.notna()
        for g in dict.fromkeys(merged.group):
            sel = ok & (merged.group == g)
            ax.scatter(b[sel], a[sel], s=12, alpha=0.7, label=g)
        lo = float(min(a[ok].min(), b[ok].min())) if ok.any() else 0.0
        ax.plot([lo, 1], [lo, 1], "k--", lw=0.8)
        ax.set(xlabel=f"{label_b} {label}", ylabel=f"{label_a} {label}",
               title=f"{label}: {label_a} better on {(a[ok] > b[ok]).mean():.0%} of features")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _position_axis(ax, n: int, positions: Sequence[int], genome_start: Optional[int], chrom: str = "") -> None:
    ticks = np.linspace(0, n - 1, min(10, n)).astype(int)
    if genome_start is None:
        ax.set_xticks(ticks, [str(positions[t]) for t in ticks])
        ax.set_xlabel("position in sequence (0-based)")
    else:
        ax.set_xticks(ticks, [f"{genome_start + positions[t] + 1:,}" for t in ticks])
        ax.set_xlabel(f"{chrom} position (1-based)")


def plot_ism_heatmap(effects: np.ndarray, codes: np.ndarray, positions: Sequence[int], feature: str,
                     path: str, title: str = "", genome_start: Optional[int] = None, chrom: str = "") -> str:
    """Position x base heatmap of ISM effects (4, P) for one feature; reference bases boxed."""
    e = np.asarray(effects)
    lim = float(np.nanmax(np.abs(e))) or 1.0
    fig, ax = plt.subplots(figsize=(min(24, 2 + 0.12 * e.shape[1]), 2.4))
    im = ax.imshow(e, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(4), list("ACGT"))
    ref = np.asarray(codes)[np.asarray(positions)]
    known = ref < 4
    ax.scatter(np.nonzero(known)[0], ref[known], marker="s", s=6, facecolors="none", edgecolors="k", lw=0.4)
    _position_axis(ax, e.shape[1], positions, genome_start, chrom)
    ax.set(title=title or f"ISM effect on {feature} (alt - ref)")
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_logo(heights: np.ndarray, codes: np.ndarray, positions: Sequence[int], feature: str, path: str,
              genome_start: Optional[int] = None, chrom: str = "") -> str:
    """Importance logo: the reference base at each position, scaled by its importance
    (negative heights drawn below the axis)."""
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    colors = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839", "N": "#888888"}
    h = np.asarray(heights, dtype=float)
    ref = np.asarray(codes)[np.asarray(positions)]
    fig, ax = plt.subplots(figsize=(min(24, 2 + 0.12 * len(h)), 2.4))
    for x, (height, code) in enumerate(zip(h, ref)):
        letter = "ACGTN"[int(code)]
        if not np.isfinite(height) or height == 0:
            continue
        tp = TextPath((0, 0), letter, size=1, prop={"family": "DejaVu Sans", "weight": "bold"})
        bb = tp.get_extents()
        sx, sy = 0.9 / bb.width, abs(height) / bb.height
        trans = Affine2D().translate(-bb.x0, -bb.y0).scale(sx, sy).translate(x - 0.45, min(0.0, height))
        ax.add_patch(PathPatch(trans.transform_path(tp), color=colors[letter], lw=0))
    lim = float(np.nanmax(np.abs(h))) if np.isfinite(h).any() else 1.0
    ax.set_xlim(-1, len(h))
    ax.set_ylim(-lim * 1.05 if (h < 0).any() else 0, lim * 1.05 or 1)
    ax.axhline(0, color="k", lw=0.5)
    _position_axis(ax, len(h), positions, genome_start, chrom)
    ax.set(ylabel="importance", title=f"ISM importance of the reference base for {feature}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
