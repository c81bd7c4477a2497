"""Figures along a sequence: ISM heatmaps (long regions as stacked rows), filter influence, the
position axis shared with the logos, and the span of a region worth drawing."""
from __future__ import annotations

import textwrap
from typing import Optional, Sequence, Tuple

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from .figures import plt


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
    coord = np.asarray(positions, dtype=np.int64)[:n] + ((genome_start + 1) if genome_start is not None else 0)
    if n:  # no more labels than the axis has room for side by side (about 0.09 in a character)
        inches = ax.get_position().width * ax.figure.get_figwidth()
        chars = max(len(f"{int(c):,}") for c in (coord.min(), coord.max()))
        max_ticks = max(2, min(max_ticks, int(inches / (0.09 * chars + 0.3))))
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


MIN_WIDTH = 6.0  # inches: a short region's figure still holds its title and a few position labels


def wrapped(title: str, inches: float, fontsize: float = 12.0) -> str:
    """``title`` broken into lines that fit ``inches`` at ``fontsize`` (a character is about
    half the font size wide); its own line breaks are kept."""
    chars = max(20, int(inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False, break_long_words=False)
                     for line in title.split("\n"))


ISM_ROW = 250  # columns per row of an ISM heatmap: a long region is drawn as stacked rows, not one strip


def draw_ism_heatmap(effects: np.ndarray, codes: np.ndarray, positions: Sequence[int], feature: str,
                     title: str = "", genome_start: Optional[int] = None, chrom: str = "",
                     mark: Optional[Tuple[int, int]] = None):
    """The figure of :func:`plot_ism_heatmap` (the caller saves and closes it): up to ``ISM_ROW``
    columns per row, rows stacked (a 1000 bp region is four readable rows, not a 24 x 2.4 inch strip),
    one colour scale for all."""
    e = np.asarray(effects)
    lim = float(np.nanmax(np.abs(e))) if e.size else 0.0
    lim = lim or 1.0
    P = e.shape[1]
    n_rows = max(1, -(-P // ISM_ROW))
    width = min(13.0, max(MIN_WIDTH, 2.5 + 0.045 * min(P, ISM_ROW))) if n_rows == 1 else 13.0
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
    axes[0].set_title(wrapped(title or f"ISM effect on {feature} (alt - ref)"
                              + ("; dashed: the span of the logo" if marked else ""), width - 1.0))
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
