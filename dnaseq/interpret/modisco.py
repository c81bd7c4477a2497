"""Motif discovery from attributions with TF-MoDISco (modisco-lite), matched like the filters.

TF-MoDISco (Shrikumar et al. 2018) cuts high-attribution stretches (seqlets) out of many
sequences, clusters them and aggregates each cluster into a pattern. It needs *hypothetical*
contributions, one value per base at every position: here the gradient of the feature's
probability centred per position (``saliency`` minus its mean over the four bases,
Majdandzic et al. 2023), or ISM's (already centred). Each pattern's sequence matrix is then
matched to the database with :func:`dnaseq.interpret.motif_match.tomtom`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from ..sequence.motifs import Motif, consensus, information_content, write_meme
from ..sequence.onehot import one_hot
from ..settings import RunOptions
from .attributions import attribute
from .motif_match import TomtomResult, tomtom

log = logging.getLogger("dnaseq")

HYPOTHETICAL_METHODS = ("saliency", "ism")


@dataclass
class Patterns:
    """Patterns found in one feature's attributions (positive patterns first), or in several
    features' (:func:`merge_patterns`: ``feature`` lists them, ``sources`` names each pattern's)."""
    feature: str
    motifs: List[Motif]  # pattern sequence matrices (4, W)
    seqlets: List[int]
    sign: List[str]  # "+" raises the prediction, "-" lowers it
    matches: Optional[TomtomResult]
    sources: Optional[List[str]] = None  # the feature of each pattern; None: all are ``feature``'s

    def table(self) -> pd.DataFrame:
        sources = self.sources or [self.feature] * len(self.motifs)
        rows = [{"pattern": m.id, "feature": f, "sign": s, "seqlets": n, "width": m.width,
                 "information_content": float(information_content(m.pfm).sum()), "consensus": consensus(m.pfm)}
                for m, f, n, s in zip(self.motifs, sources, self.seqlets, self.sign)]
        table = pd.DataFrame(rows)
        if self.matches is not None and rows:
            table = pd.concat([table, self.matches.best().drop(columns=["query"])], axis=1)
        return table

    def write(self, out_dir: str) -> List[str]:
        tsv = os.path.join(out_dir, "patterns.tsv")
        self.table().to_csv(tsv, sep="\t", index=False, float_format="%.6g")
        return [tsv, write_meme(os.path.join(out_dir, "patterns.meme"), self.motifs)]


def hypothetical_contributions(model, codes: np.ndarray, feature, method: str = "saliency",
                               strand: Optional[str] = None, run: Optional[RunOptions] = None) -> np.ndarray:
    """(N, 4, L) per-position-centred attributions (see module docstring)."""
    if method not in HYPOTHETICAL_METHODS:
        raise ValueError(f"modisco needs hypothetical contributions: method must be one of {HYPOTHETICAL_METHODS}")
    a = attribute(model, codes, feature, method=method, strand=strand, run=run)
    return a - a.mean(axis=1, keepdims=True)


def discover_patterns(model, codes: np.ndarray, feature, motif_db: Optional[Sequence[Motif]] = None,
                      method: str = "saliency", strand: Optional[str] = None, window: Optional[int] = 400,
                      max_seqlets: int = 2000, trim_ic: float = 0.3, run: Optional[RunOptions] = None,
                      **modisco_args) -> Patterns:
    """Run modisco-lite on the attributions of ``codes`` (N, L) (e.g. a feature's positive
    windows) for ``feature`` and match the patterns to ``motif_db``.

    ``window`` keeps the central ``window`` bp of each window for modisco (None: all);
    further keyword arguments go to ``modiscolite.tfmodisco.TFMoDISco``.
    """
    # modisco-lite is optional: imported only when patterns are asked for
    from modiscolite.tfmodisco import TFMoDISco

    codes = np.asarray(codes, dtype=np.uint8)
    hyp = hypothetical_contributions(model, codes, feature, method, strand, run)
    x = one_hot(codes, fill=0.0).numpy()
    if window is not None and window < codes.shape[1]:
        lo = (codes.shape[1] - window) // 2
        hyp, x = hyp[:, :, lo:lo + window], x[:, :, lo:lo + window]
    name = feature if isinstance(feature, str) else str(feature)
    try:
        pos, neg = TFMoDISco(one_hot=np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32),
                             hypothetical_contribs=np.ascontiguousarray(hyp.transpose(0, 2, 1), dtype=np.float32),
                             max_seqlets_per_metacluster=max_seqlets, **modisco_args)
    except ValueError as exc:  # too little signal for its null model (e.g. all-zero seqlet weights)
        log.warning(f"TF-MoDISco found no patterns for {name} on {len(codes)} windows ({exc}); the filter "
                    "motifs are reported without them")
        return Patterns(name, [], [], [], None)
    motifs, seqlets, signs = [], [], []
    for sign, found in (("+", pos), ("-", neg)):
        for k, pattern in enumerate(found or []):
            pid = f"{'pos' if sign == '+' else 'neg'}_pattern{k}"
            pfm = np.asarray(pattern.sequence, dtype=np.float64).T
            motifs.append(Motif(pid, pid, pfm / pfm.sum(axis=0, keepdims=True), len(pattern.seqlets)))
            seqlets.append(len(pattern.seqlets))
            signs.append(sign)
    return Patterns(name, motifs, seqlets, signs, _matches(motifs, motif_db, trim_ic))


def merge_patterns(found: Sequence[Patterns], motif_db: Optional[Sequence[Motif]] = None,
                   trim_ic: float = 0.3) -> Patterns:
    """The patterns of several features as one set, each pattern's ID prefixed by its feature
    (``CTCF_Kc.pos_pattern0``), matched to ``motif_db`` together (q-values are per pattern, over
    its comparisons with the database, so they are those of matching each feature alone)."""
    if len(found) == 1 and (motif_db is None or found[0].matches is not None):
        return found[0]
    motifs, seqlets, signs, sources = [], [], [], []
    for p in found:
        for m, n, sign in zip(p.motifs, p.seqlets, p.sign):
            pid = f"{p.feature}.{m.id}" if len(found) > 1 else m.id
            motifs.append(Motif(pid, pid, m.pfm, m.nsites))
            seqlets.append(n)
            signs.append(sign)
            sources.append(p.feature)
    return Patterns(",".join(p.feature for p in found), motifs, seqlets, signs,
                    _matches(motifs, motif_db, trim_ic), sources)


def _matches(motifs: Sequence[Motif], motif_db: Optional[Sequence[Motif]], trim_ic: float) -> Optional[TomtomResult]:
    """TOMTOM of the patterns against ``motif_db``, or None without a database or patterns."""
    if motif_db is None or not motifs:
        return None
    return tomtom([m.pfm for m in motifs], motif_db, names=[m.id for m in motifs], trim_ic=trim_ic)
