"""Every figure dnaseq draws (matplotlib, Agg backend) but sequence logos (:mod:`dnaseq.plots.logos`);
no other module imports plotting."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

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
    from matplotlib.text import Text

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


def strongest_span(strength: np.ndarray, width: Optional[int] = 100) -> Tuple[int, int]:
    """``(lo, hi)``: the ``width`` consecutive entries of ``strength`` (P,) with the largest
    total |value| (NaN counts 0; the first such stretch on ties); ``(0, P)`` when P <= width
    or ``width`` is None / 0."""
    v = np.nan_to_num(np.abs(np.asarray(strength, dtype=float)))
    if not width or width <= 0 or len(v) <= width:
        return 0, len(v)
    sums = np.concatenate([[0.0], np.cumsum(v)])
    totals = sums[width:] - sums[:-width]  # totals[i] = v[i:i + width].sum()
    lo = int(np.argmax(totals >= totals.max() * (1 - 1e-9)))
    return lo, lo + int(width)


def position_axis(ax, n: int, positions: Sequence[int], genome_start: Optional[int], chrom: str = "",
                   max_ticks: int = 10) -> None:
    """Ticks at round numbers (..., 20,100, 20,200, ...) of the coordinate each column shows:
    1-based genome positions with ``genome_start``, else 0-based positions in the sequence.
    Column ``i`` is drawn at x = i."""
    from matplotlib.ticker import MaxNLocator

    coord = np.asarray(positions, dtype=np.int64)[:n] + ((genome_start + 1) if genome_start is not None else 0)
    if n == 0:
        ticks, labels = [], []
    elif n == 1 or np.all(np.diff(coord) == 1):  # contiguous: the round values of a linear axis
        locator = MaxNLocator(nbins=max_ticks, steps=[1, 2, 2.5, 5, 10], integer=True, min_n_ticks=2)
        values = [int(round(v)) for v in locator.tick_values(coord[0], coord[-1]) if coord[0] <= v <= coord[-1]]
        ticks = [v - int(coord[0]) for v in values]
        labels = [f"{v:,}" for v in values]
    else:  # scattered positions: the columns whose coordinates end in the most zeros
        zeros = np.array([len(str(abs(c))) - len(str(abs(c)).rstrip("0")) if c else 12 for c in coord])
        ticks = sorted(int(k) for k in np.argsort(-zeros, kind="stable")[:max_ticks])
        labels = [f"{coord[t]:,}" for t in ticks]
    ax.set_xticks(ticks, labels)
    ax.set_xlabel("position in sequence (0-based)" if genome_start is None else f"{chrom} position (1-based)")


ISM_ROW = 250  # columns per row of an ISM heatmap: a long region is drawn as stacked rows, not one strip


def draw_ism_heatmap(effects: np.ndarray, codes: np.ndarray, positions: Sequence[int], feature: str,
                     title: str = "", genome_start: Optional[int] = None, chrom: str = "",
                     mark: Optional[Tuple[int, int]] = None):
    """The figure of :func:`plot_ism_heatmap` (the caller saves and closes it): up to ``ISM_ROW``
    columns per row, rows stacked (a 1000 bp region is four readable rows, not a 24 x 2.4 inch strip),
    one colour scale for all."""
    from matplotlib.patches import Rectangle

    e = np.asarray(effects)
    lim = float(np.nanmax(np.abs(e))) if e.size else 0.0
    lim = lim or 1.0
    P = e.shape[1]
    n_rows = max(1, -(-P // ISM_ROW))
    width = min(13.0, 2.5 + 0.045 * min(P, ISM_ROW)) if n_rows == 1 else 13.0
    fig, axes = plt.subplots(n_rows, 1, figsize=(width, 0.9 + 1.55 * n_rows), squeeze=False)
    axes = axes[:, 0]
    ref = np.asarray(codes)[np.asarray(positions)]
    positions = list(positions)
    marked = mark is not None and (mark[1] - mark[0]) < P
    for r, ax in enumerate(axes):
        lo, hi = r * ISM_ROW, min(P, (r + 1) * ISM_ROW)
        im = ax.imshow(e[:, lo:hi], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                       extent=(-0.5, hi - lo - 0.5, 3.5, -0.5))
        ax.set_xlim(-0.5, ISM_ROW - 0.5 if n_rows > 1 else hi - lo - 0.5)  # every row on the same scale
        ax.set_yticks(range(4), list("ACGT"))
        part = ref[lo:hi]
        known = part < 4
        ax.scatter(np.nonzero(known)[0], part[known], marker="s", s=6, facecolors="none", edgecolors="k", lw=0.4)
        if marked and mark[0] < hi and mark[1] > lo:
            a, b = max(mark[0], lo) - lo, min(mark[1], hi) - lo
            ax.add_patch(Rectangle((a - 0.5, -0.5), b - a, 4, fill=False, ls="--", lw=0.8, edgecolor="k"))
        position_axis(ax, hi - lo, positions[lo:hi], genome_start, chrom, max_ticks=6)
        if r < n_rows - 1:
            ax.set_xlabel("")
    axes[0].set_title(title or f"ISM effect on {feature} (alt - ref)"
                      + ("; dashed: the span of the logo" if marked else ""))
    fig.tight_layout(rect=(0, 0, 1 - 1.0 / width, 1))  # the colour bar and its labels in the last inch
    fig.colorbar(im, cax=fig.add_axes((1 - 0.85 / width, 0.12, 0.12 / width, 0.76)))
    return fig


def plot_ism_heatmap(effects: np.ndarray, codes: np.ndarray, positions: Sequence[int], feature: str,
                     path: str, title: str = "", genome_start: Optional[int] = None, chrom: str = "",
                     mark: Optional[Tuple[int, int]] = None) -> str:
    """Position x base heatmap of ISM effects (4, P) for one feature; reference bases boxed,
    round-number position ticks; ``mark`` ``(lo, hi)`` (columns) outlines a span (the logo's)."""
    fig = draw_ism_heatmap(effects, codes, positions, feature, title, genome_start, chrom, mark)
    fig.savefig(path, dpi=120)
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
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    styles = [("o", "-", 2.6), ("s", "--", 2.0), ("^", "-.", 1.6), ("D", ":", 1.4)]
    for i, (strategy, part) in enumerate(steps.groupby("strategy", sort=False)):
        mean = part.groupby("step")["objective"].mean()
        # each strategy its own marker, dash and width, later ones thinner and on top: lines that
        # coincide (greedy and beam often do) stay visible
        marker, dash, width = styles[i % len(styles)]
        line, = ax.plot(mean.index, mean.values, marker=marker, ls=dash, lw=width, markersize=4 + width,
                        markerfacecolor="none", zorder=3 + i, label=f"{strategy} (mean)")
        if part.sequence.nunique() <= 20:
            for _, one in part.groupby("sequence", sort=False):
                ax.plot(one.step, one.objective, color=line.get_color(), lw=0.6, alpha=0.35)
    ax.set(xlabel="step (edits made)", ylabel="objective", title=f"design: {objective}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside: hides no line
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_search(numbers: Sequence[int], values: Sequence[float], pruned_numbers: Sequence[int],
                pruned_values: Sequence[float], ylabel: str, path: str) -> str:
    """A hyperparameter search: each complete trial's value, pruned trials at their best reported
    value, and the best so far (``dnaseq tune``'s trials.png)."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(list(numbers), list(values), "o", label="complete")
    if len(pruned_numbers):
        ax.plot(list(pruned_numbers), list(pruned_values), "x", color="grey", label="pruned (best reported)")
    if len(numbers):
        ax.step(list(numbers), np.maximum.accumulate(list(values)), where="post", color="black", lw=1,
                label="best so far")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # outside: hides no trial
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_classifier_curves(y: np.ndarray, scores: Dict[str, np.ndarray], path: str, title: str = "") -> str:
    """ROC and PR curves of several scorers of the same labelled variants, side by side; the PR
    panel's dotted line is the positive rate (a random ranking), named in the legend."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        line, = ax_roc.plot(fpr, tpr, lw=2 if name == "classifier" else 1.2,
                            label=f"{name} ({roc_auc_score(y, s):.3f})")
        ax_pr.plot(rec, prec, color=line.get_color(), lw=line.get_linewidth(),
                   label=f"{name} ({average_precision_score(y, s):.3f})")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", label="random (0.500)")
    rate = float(np.mean(y))
    ax_pr.axhline(rate, ls=":", color="grey", label=f"random ({rate:.3f})")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (AUC)")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall (average precision)", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")  # where no curve runs
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_evalue_heatmap(evalues: np.ndarray, rows: Sequence[str], features: Sequence[str], path: str,
                        title: str = "") -> str:
    """Per-variant e-value profile across features: -log10 e-value of each row (variant) and
    feature, rows in the order given (e.g. the top variants by combined e-value)."""
    import textwrap

    m, F = evalues.shape
    strength = -np.log10(np.clip(evalues, 1e-300, 1.0))
    label_in = 0.065 * max((len(r) for r in rows), default=0)  # inches the row labels take at 8 pt
    width = min(max(6.0, 2.5 + 0.35 * F + label_in), 24)
    fig, ax = plt.subplots(figsize=(width, min(2.2 + 0.28 * m, 30)))
    im = ax.imshow(strength, aspect="auto", cmap="magma_r", vmin=0, interpolation="nearest")
    ax.set_xticks(range(F))
    ax.set_xticklabels(features, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(m))
    ax.set_yticklabels(rows, fontsize=8)
    ax.set_xlabel("chromatin feature")
    cb = fig.colorbar(im, ax=ax, fraction=0.04)
    cb.set_label("-log10 e-value")
    if title:
        ax.set_title("\n".join(textwrap.wrap(title, int(width * 11))), fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_ngram_bits(table, path: str) -> str:
    """Bits per base of k-th order Markov models against k (``dnaseq lm-baseline``): held-out and
    training (in-sample) curves, the best held-out k marked, and 2 bits (a uniform guess) as the
    ceiling."""
    k = np.asarray(table["k"])
    held = np.asarray(table["held_out_bits_per_base"], dtype=float)
    train = np.asarray(table["train_bits_per_base"], dtype=float)
    best = int(np.nanargmin(held))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(k, held, "o-", label="held-out")
    ax.plot(k, train, "s--", color="grey", label="train (in-sample)")
    ax.plot([k[best]], [held[best]], "*", color="crimson", markersize=16, zorder=3,
            label=f"best: k = {k[best]}, {held[best]:.4f} bits/base")
    ax.axhline(2.0, ls=":", color="black", lw=0.8, label="uniform (2 bits)")
    ax.set(xlabel="order k (context length, bases)", ylabel="bits per base", xticks=k,
           title="k-th order Markov baselines")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_lm_evaluation(table, meta: Dict, path: str) -> str:
    """Held-out bits per base of a language model per region class (one row each, "all" first),
    beside the n-gram baseline on the same bases when there is one, and 2 bits (a uniform guess)."""
    classes = list(table["class"])
    y = np.arange(len(classes))[::-1]
    pseudo = " (pseudo: both sides)" if meta.get("pseudo") else ""
    fig, ax = plt.subplots(figsize=(7, 1.6 + 0.45 * len(classes)))
    ax.plot(table["bits_per_base"], y, "o", markersize=9, label=f"language model ({meta.get('direction')}){pseudo}")
    if "ngram_bits_per_base" in table:
        ax.plot(table["ngram_bits_per_base"], y, "s", markersize=8, mfc="none", color="grey",
                label=f"n-gram baseline (k = {meta.get('baseline_k')})")
    ax.axvline(2.0, ls=":", color="black", lw=0.8, label="uniform (2 bits)")
    ax.set_yticks(y, [f"{c}  ({n:,} bp)" for c, n in zip(classes, table["bases"])])
    ax.set(xlabel="held-out bits per base (lower is better)",
           title=f"{', '.join(meta.get('chromosomes', []))}: bits per base by region class")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.3 / max(len(classes), 1)), ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
