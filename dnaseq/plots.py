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


_BASE_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


def _logo(matrix: np.ndarray, ax, index: Optional[Sequence[int]] = None) -> None:
    """Draw a (4, P) matrix (rows A, C, G, T) as a sequence logo with logomaker; negative
    values are drawn below the axis."""
    import logomaker  # optional: needed only for logos
    import pandas as pd

    m = np.nan_to_num(np.asarray(matrix, dtype=float))
    df = pd.DataFrame(m.T, columns=list("ACGT"), index=np.arange(m.shape[1]) if index is None else list(index))
    logomaker.Logo(df, ax=ax, color_scheme=_BASE_COLORS, font_name="DejaVu Sans", show_spines=False,
                   baseline_width=0.5 if (m < 0).any() else 0.0)


def _information_matrix(pfm: np.ndarray) -> np.ndarray:
    """Probabilities (4, W) -> letter heights in bits (each column scaled to its information)."""
    p = np.clip(np.asarray(pfm, dtype=float), 0, None)
    p = p / np.where(p.sum(axis=0, keepdims=True) > 0, p.sum(axis=0, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = 2 + np.where(p > 0, p * np.log2(p), 0).sum(axis=0)
    return p * ic[None, :]


def plot_logo(heights: np.ndarray, codes: np.ndarray, positions: Sequence[int], feature: str, path: str,
              genome_start: Optional[int] = None, chrom: str = "") -> str:
    """Importance logo: the reference base at each position, scaled by its importance
    (negative heights drawn below the axis)."""
    return plot_contribution_logo(heights, codes, positions, path, genome_start=genome_start, chrom=chrom,
                                  title=f"ISM importance of the reference base for {feature}", ylabel="importance")


def plot_contribution_logo(values: np.ndarray, codes: np.ndarray, positions: Sequence[int], path: str,
                           title: str = "", genome_start: Optional[int] = None, chrom: str = "",
                           ylabel: str = "attribution") -> str:
    """Logo track: each position's own base (``codes[positions]``) scaled by ``values`` (P,),
    with genome coordinates when ``genome_start`` is given."""
    h = np.nan_to_num(np.asarray(values, dtype=float))
    ref = np.asarray(codes)[np.asarray(positions)]
    matrix = np.zeros((4, len(h)))
    known = ref < 4
    matrix[ref[known].astype(int), np.nonzero(known)[0]] = h[known]
    fig, ax = plt.subplots(figsize=(min(24, 2 + 0.12 * len(h)), 2.4))
    _logo(matrix, ax)
    lim = float(np.abs(h).max()) or 1.0
    ax.set_xlim(-1, len(h))
    ax.set_ylim(-lim * 1.05 if (h < 0).any() else 0, lim * 1.05)
    ax.axhline(0, color="k", lw=0.5)
    _position_axis(ax, len(h), positions, genome_start, chrom)
    ax.set(ylabel=ylabel, title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _draw_filter_match(panel: Dict, ax_top, ax_bottom) -> None:
    """A filter's logo (bits) on ``ax_top``; its best match, in the matched orientation and
    shifted by the offset, on ``ax_bottom``."""
    pfm = np.asarray(panel["pfm"])
    _logo(_information_matrix(pfm), ax_top)
    ax_top.set_ylim(0, 2)
    ax_top.set_title(panel["title"], fontsize=8, loc="left", color="k" if panel.get("significant") else "0.35")
    lo, hi = -0.5, pfm.shape[1] - 0.5
    match = panel.get("match")
    if match is not None:
        m = np.asarray(match)
        if panel.get("orientation") == "-":
            m = m[::-1, ::-1]
        offset = int(panel.get("offset") or 0)
        index = np.arange(m.shape[1]) - offset  # target column t lines up with filter column t - offset
        _logo(_information_matrix(m), ax_bottom, index=index)
        lo, hi = min(lo, index[0] - 0.5), max(hi, index[-1] + 0.5)
        ax_bottom.set_title(panel.get("match_title", ""), fontsize=8, loc="left")
    ax_bottom.set_ylim(0, 2)
    for ax in (ax_top, ax_bottom):
        ax.set_xlim(lo, hi)
        ax.set_xticks([])
        ax.set_yticks([0, 1, 2])
        ax.tick_params(labelsize=6)
    if match is None:
        ax_bottom.set_axis_off()


def plot_filter_match(panel: Dict, path: str) -> str:
    """One filter beside its best database match (keys: title, pfm, match, match_title,
    offset, orientation, significant); logos in bits."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(4, 0.35 * len(np.asarray(panel["pfm"])[0]) + 1.5), 3.2))
    _draw_filter_match(panel, top, bottom)
    top.set_ylabel("bits", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_filter_overview(images: Sequence[str], path: str, columns: int = 4) -> str:
    """One page of the per-filter logo PNGs (:func:`plot_filter_match`), in the order given."""
    pictures = [plt.imread(image) for image in images]
    rows = max(1, -(-len(pictures) // columns))
    aspect = max((p.shape[1] / p.shape[0] for p in pictures), default=2.0)  # width / height
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 4.0 / aspect * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, picture in zip(axes.flat, pictures):
        ax.imshow(picture, interpolation="antialiased")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1, wspace=0.02, hspace=0.02)
    fig.savefig(path, dpi=100 if rows <= 20 else 60)  # DanQ's 320 filters: 80 rows
    plt.close(fig)
    return path


def plot_influence_heatmap(influence, path: str) -> str:
    """Filters x features heatmap of filter influence (a DataFrame: rows filters, columns
    features); filters ordered by their largest absolute influence."""
    vals = influence.to_numpy(dtype=float)
    order = np.argsort(-np.abs(vals).max(axis=1), kind="stable")
    vals = vals[order]
    lim = float(np.abs(vals).max()) or 1.0
    fig, ax = plt.subplots(figsize=(2.5 + 0.45 * vals.shape[1], 1.5 + 0.16 * vals.shape[0]))
    im = ax.imshow(vals, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xticks(range(vals.shape[1]), list(influence.columns), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(vals.shape[0]), [influence.index[i] for i in order], fontsize=6)
    ax.set_title("filter influence: mean change in probability when the filter is set to its mean", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_design_objective(steps, path: str, objective: str = "objective") -> str:
    """Sequence design: the objective per step (number of edits made) for each strategy.

    ``steps`` is a table with columns strategy, sequence, step and objective (the best over beam
    members / chains at that step). Thick lines: the mean over sequences; thin lines: each
    sequence (up to 20 of them)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for strategy, part in steps.groupby("strategy", sort=False):
        mean = part.groupby("step")["objective"].mean()
        line, = ax.plot(mean.index, mean.values, marker="o", lw=2, label=f"{strategy} (mean)")
        if part.sequence.nunique() <= 20:
            for _, one in part.groupby("sequence", sort=False):
                ax.plot(one.step, one.objective, color=line.get_color(), lw=0.6, alpha=0.35)
    ax.set(xlabel="step (edits made)", ylabel="objective", title=f"design: {objective}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
