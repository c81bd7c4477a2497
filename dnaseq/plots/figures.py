"""matplotlib with its Agg backend (``plt`` for every figure module here), and the figures of
design, search, the variant classifier, e-values and language models. Accuracy figures are in
:mod:`dnaseq.plots.accuracy`, figures along a sequence in :mod:`dnaseq.plots.positions`, logos in
:mod:`dnaseq.plots.logos`; no module outside ``plots`` imports matplotlib."""
from __future__ import annotations

import os
import textwrap
from typing import Dict, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

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
    # start-up: scikit-learn only for the figures that need its curves
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        line, = ax_roc.plot(fpr, tpr, lw=2 if name == "classifier" else 1.2,
                            label=f"{name} ({roc_auc_score(y, s):.3f})")
        ax_pr.plot(rec, prec, color=line.get_color(), lw=line.get_linewidth(), drawstyle="steps-post",
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
