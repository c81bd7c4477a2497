"""Sequence logos (logomaker on matplotlib's Agg backend): importance and attribution tracks along
a sequence, and first-layer filters beside their best database match (:mod:`dnaseq.interpret`).
Every other figure is in :mod:`dnaseq.plots.figures` and its siblings."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .figures import plt
from .positions import MIN_WIDTH, position_axis, wrapped

_BASE_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


def _logo(matrix: np.ndarray, ax, index: Optional[Sequence[int]] = None) -> None:
    """Draw a (4, P) matrix (rows A, C, G, T) as a sequence logo with logomaker; negative
    values are drawn below the axis."""
    import logomaker  # optional: needed only for logos
    import pandas as pd  # logomaker's input; start-up cost as above

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
              genome_start: Optional[int] = None, chrom: str = "", span: Optional[Tuple[int, int]] = None) -> str:
    """Importance logo: the reference base at each position, scaled by its importance
    (negative heights drawn below the axis); ``span`` ``(lo, hi)`` zooms on columns lo..hi-1."""
    return plot_contribution_logo(heights, codes, positions, path, genome_start=genome_start, chrom=chrom,
                                  title=f"ISM importance of the reference base for {feature}", ylabel="importance",
                                  span=span)


LOGO_ROW = 100  # bases per row of a logo track: each letter stays readable


def _span_text(positions: Sequence[int], lo: int, hi: int, genome_start: Optional[int], chrom: str) -> str:
    pos = np.asarray(positions)
    if genome_start is None:
        return f"positions {pos[lo]}-{pos[hi - 1]} (0-based) of {pos[0]}-{pos[-1]}"
    return (f"{chrom}:{genome_start + pos[lo] + 1:,}-{genome_start + pos[hi - 1] + 1:,}, the strongest "
            f"{hi - lo} bp of {chrom}:{genome_start + pos[0] + 1:,}-{genome_start + pos[-1] + 1:,}")


def draw_contribution_logo(values: np.ndarray, codes: np.ndarray, positions: Sequence[int], title: str = "",
                           genome_start: Optional[int] = None, chrom: str = "", ylabel: str = "attribution",
                           span: Optional[Tuple[int, int]] = None):
    """The figure of :func:`plot_contribution_logo` (the caller saves and closes it)."""
    h = np.nan_to_num(np.asarray(values, dtype=float))
    positions = list(positions)
    lo, hi = span if span is not None else (0, len(h))
    lo, hi = max(0, int(lo)), min(len(h), int(hi))
    zoomed = (lo, hi) != (0, len(h))
    if zoomed:
        title = f"{title}\n{_span_text(positions, lo, hi, genome_start, chrom)}" if title else \
            _span_text(positions, lo, hi, genome_start, chrom)
    h, shown = h[lo:hi], positions[lo:hi]
    ref = np.asarray(codes)[np.asarray(shown, dtype=np.int64)]
    matrix = np.zeros((4, len(h)))
    known = ref < 4
    matrix[ref[known].astype(int), np.nonzero(known)[0]] = h[known]
    n_rows = max(1, -(-len(h) // LOGO_ROW))
    width = max(MIN_WIDTH, 2 + 0.12 * min(len(h), LOGO_ROW))
    fig, axes = plt.subplots(n_rows, 1, figsize=(width, 0.5 + 0.2 * zoomed + 1.9 * n_rows), squeeze=False)
    lim = float(np.abs(h).max()) if len(h) else 0.0
    lim = lim or 1.0
    for r, ax in enumerate(axes[:, 0]):  # a long track is stacked rows on one scale, not one strip
        a, b = r * LOGO_ROW, min(len(h), (r + 1) * LOGO_ROW)
        _logo(matrix[:, a:b], ax)
        ax.set_xlim(-1, LOGO_ROW if n_rows > 1 else len(h))
        ax.set_ylim(-lim * 1.05 if (h < 0).any() else 0, lim * 1.05)
        ax.axhline(0, color="k", lw=0.5)
        position_axis(ax, b - a, shown[a:b], genome_start, chrom)
        ax.set_ylabel(ylabel)
        if r < n_rows - 1:
            ax.set_xlabel("")
    axes[0, 0].set_title(wrapped(title, width - 1.0, 10 if zoomed else 12), **({"fontsize": 10} if zoomed else {}))
    fig.tight_layout()
    return fig


def plot_contribution_logo(values: np.ndarray, codes: np.ndarray, positions: Sequence[int], path: str,
                           title: str = "", genome_start: Optional[int] = None, chrom: str = "",
                           ylabel: str = "attribution", span: Optional[Tuple[int, int]] = None) -> str:
    """Logo track: each position's own base (``codes[positions]``) scaled by ``values`` (P,),
    with round-number ticks in genome coordinates when ``genome_start`` is given. ``span``
    ``(lo, hi)`` draws columns lo..hi-1 only (e.g. :func:`strongest_span`), named in the title."""
    fig = draw_contribution_logo(values, codes, positions, title, genome_start, chrom, ylabel, span)
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


def plot_filter_overview(panels: Sequence[Dict], path: str, columns: int = 4, limit: int = 64) -> str:
    """One page of filter logos (the panels of :func:`plot_filter_match`, in the order given), drawn
    at their own size so every title stays readable (8 pt at 100%); past ``limit`` panels only the
    first ``limit`` are drawn and the heading says so (each filter keeps its own PNG)."""
    shown = list(panels)[:limit]
    rows = max(1, -(-len(shown) // columns))
    height = 2.4 * rows + 0.6
    fig = plt.figure(figsize=(3.4 * columns, height))
    outer = fig.add_gridspec(rows, columns, hspace=0.35, wspace=0.25, left=0.03, right=0.99,
                             top=1 - 0.6 / height, bottom=0.1 / height)
    for k, panel in enumerate(shown):
        pair = outer[divmod(k, columns)].subgridspec(2, 1, hspace=0.45)
        _draw_filter_match(panel, fig.add_subplot(pair[0]), fig.add_subplot(pair[1]))
    more = f" (the first {len(shown)} of {len(panels)}; every filter has its own logo in logos/)" \
        if len(panels) > len(shown) else ""
    fig.suptitle(f"first-layer filters (top, bits) and their best database match (below){more}",
                 fontsize=10, y=1 - 0.15 / height, va="top")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
