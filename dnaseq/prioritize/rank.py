"""``dnaseq prioritize rank``: a score-variants output -> one ranked table of variants (and a figure).

Order: by the functional classifier's score (``classifier``, :mod:`dnaseq.prioritize.classifier`)
when one is given, highest first; otherwise by the combined e-value of score-variants
``--background`` (Simes' combination across features, :mod:`dnaseq.apply.calibration`), the
smaller of the ``diff`` and ``logit_diff`` ones, smallest first. Rows that were not scored are
not ranked; they are counted in the message. The table (TSV) keeps the variant columns, the
summary columns of the e-values, the ``rank_by`` score, and ``rank`` (1 = most likely to
matter). The figure is the e-value profile of the ``top`` variants across features
(-log10 e-value; :func:`dnaseq.plots.figures.plot_evalue_heatmap`).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..outputs import prepare_output_prefix
from .classifier import functional_scores, load_classifier, read_scored

SUMMARY_PREFIXES = ("min_evalue_", "min_feature_", "n_below_", "combined_evalue_")


@dataclass
class Ranked:
    path: str
    rows: int
    not_scored: int
    rank_by: str
    plot: Optional[str]
    table: object  # the ranked DataFrame


def rank_variants(scores: str, out: str, classifier: Optional[str] = None, top: int = 30,
                  plot: Optional[str] = None) -> Ranked:
    """Rank the scored rows of ``scores`` (module docstring); writes ``out`` (TSV) and, with
    e-values, ``plot`` (PNG; default ``out`` with ``.png``). Errors in one line: no e-values and
    no classifier, nothing scored."""
    doc = load_classifier(classifier) if classifier else None
    scored = read_scored(scores)
    if not len(scored.table):
        raise ValueError(f"{scores} has no scored variant to rank")
    has_e = "evalue_diff" in scored.scores
    table = scored.table
    keep = [c for c in ("chrom", "pos", "id", "ref", "alt") if c in table.columns]
    keep += [c for c in table.columns if c.startswith(SUMMARY_PREFIXES)]
    ranked = table[keep].copy()
    for c in ranked.columns:
        if c.startswith("n_below_"):  # counts (NaN only on rows that were not scored, which are not ranked)
            ranked[c] = ranked[c].astype(np.int64)
    if doc is not None:
        ranked["functional_score"] = functional_scores(doc, scored)
        rank_by, ascending = "functional_score", False
    elif has_e:
        combined = [c for c in ("combined_evalue_diff", "combined_evalue_logit_diff") if c in table.columns]
        ranked["combined_evalue"] = table[combined].min(axis=1).to_numpy()
        rank_by, ascending = "combined_evalue", True
    else:
        raise ValueError(f"{scores} has no e-values and no classifier was given: score the variants with "
                         f"--background (dnaseq background makes one), or give --classifier")
    order = np.argsort(ranked[rank_by].to_numpy() * (1 if ascending else -1), kind="stable")
    ranked = ranked.iloc[order].reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    figure = (plot or os.path.splitext(out)[0] + ".png") if has_e and top > 0 else None
    for path in [out] + ([figure] if figure else []):  # both places checked before anything is written
        prepare_output_prefix(path)
    ranked.to_csv(out + ".partial", sep="\t", index=False, float_format="%.6g", quoting=csv.QUOTE_MINIMAL)
    os.replace(out + ".partial", out)
    if figure:
        e = np.minimum(scored.scores["evalue_diff"], scored.scores.get("evalue_logit_diff", np.inf))[order][:top]
        labels = [f"{r.chrom}:{r.pos} {r.ref}>{r.alt}" + (f" {r.id}" if r.id not in ("", ".") and str(r.pos) not in r.id
                                                         else "") for r in ranked.head(top).itertuples()]
        from ..plots.figures import plot_evalue_heatmap  # matplotlib costs start-up time: only for the figure
        plot_evalue_heatmap(e, labels, scored.features, figure,
                            title=f"top {len(labels)} of {len(ranked):,} variants by {rank_by.replace('_', ' ')}: "
                                  f"e-value (smaller of |diff|, |logit diff|) per feature")
    return Ranked(out, len(ranked), scored.rows - len(ranked), rank_by, figure, ranked)

