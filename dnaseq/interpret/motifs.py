"""``dnaseq motifs``: what the first layer learned, matched to a motif database, with influence.

:func:`filter_motifs` puts the pieces together: windows of a dataset split (or given codes) ->
first-layer PFMs (:mod:`.filters`) -> TOMTOM against a MEME/JASPAR database (:mod:`.motif_match`)
-> each filter's influence per feature (:mod:`.influence`). :func:`write_motif_report` writes
the files (listed in its docstring) and the figures (:mod:`dnaseq.plots`).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..data.dataset import open_split
from ..outputs import write_json
from ..sequence.motifs import Motif, consensus, information_content, read_motifs, write_meme
from ..settings import RunOptions
from ..training.checkpoint import as_model
from .filters import FilterPFMs, filter_pfms
from .influence import filter_influence
from .motif_match import TomtomResult, tomtom

MotifDB = Union[str, Sequence[Motif], None]


@dataclass
class FilterMotifsResult:
    table: pd.DataFrame  # one row per filter (see filter_table)
    pfms: FilterPFMs
    matches: Optional[TomtomResult]  # filters x database motifs
    influence: Optional[pd.DataFrame]  # filters x features
    meta: Dict = field(default_factory=dict)
    patterns: Optional[object] = None  # modisco.Patterns, when asked for

    def significant(self, q: float = 0.05) -> pd.DataFrame:
        """Filters whose best database match has a q-value below ``q``, best first."""
        t = self.table
        return t[t.q_value < q].sort_values("q_value", kind="stable").reset_index(drop=True)


def load_windows(data: str, split: str = "test", max_windows: Optional[int] = None, seed: int = 0):
    """(codes (N, L), labels (N, F), feature names) of a dataset split; ``max_windows`` takes a
    seeded random subset (in dataset order)."""

    src = open_split(data, split)
    idx = np.arange(len(src))
    if max_windows is not None and max_windows < len(idx):
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_windows, replace=False))
    codes, labels = src.read(idx)
    features = list(src.info.feature_names)
    src.close()
    return codes, labels, features


def _database(motif_db: MotifDB) -> Optional[List[Motif]]:
    if motif_db is None:
        return None
    return read_motifs(motif_db) if isinstance(motif_db, (str, os.PathLike)) else list(motif_db)


def filter_table(pfms: FilterPFMs, matches: Optional[TomtomResult], influence: Optional[pd.DataFrame]) -> pd.DataFrame:
    """One row per filter: sites, activations, information content (bits, whole filter),
    consensus, best database match (id, name, p, q, offset, overlap, orientation, compared
    columns) and influence (mean |influence| over features and the feature it moves most)."""
    rows = []
    for i in range(pfms.n_filters):
        pfm = pfms.pfm(i)
        rows.append({"filter": f"filter{i}", "sites": int(pfms.sites[i]),
                     "max_activation": float(pfms.max_activation[i]),
                     "mean_activation": float(pfms.mean_activation[i]),
                     "information_content": float(information_content(pfm).sum()) if pfm is not None else np.nan,
                     "consensus": consensus(pfm) if pfm is not None else ""})
    table = pd.DataFrame(rows)
    if matches is not None:
        best = matches.best().drop(columns=["query"])
        table = pd.concat([table, best], axis=1)
    if influence is not None:
        vals = influence.to_numpy()
        table["influence"] = np.abs(vals).mean(axis=1)
        table["top_feature"] = [influence.columns[j] for j in np.abs(vals).argmax(axis=1)]
    return table


def filter_motifs(model, data: Union[str, np.ndarray], split: str = "test", motif_db: MotifDB = None,
                  threshold: float = 0.5, strand: Optional[str] = None, max_windows: Optional[int] = None,
                  influence_windows: Optional[int] = 1000, trim_ic: float = 0.3, seed: int = 0,
                  run: Optional[RunOptions] = None) -> FilterMotifsResult:
    """First-layer filter motifs of ``model`` over a dataset split (or uint8 codes (N, L)).

    Args:
        model: a checkpoint path or a loaded model.
        motif_db: MEME/JASPAR file or a list of :class:`Motif`; None skips matching.
        threshold: a site is where a filter's activation exceeds this fraction of its maximum.
        max_windows: use a seeded random subset of the split's windows (default all).
        influence_windows: windows (a seeded subset of those used) for the influence; 0 or
            None skips it. Each costs one pass of the model per filter after the first layer.
        trim_ic: flanking filter columns under this many bits are left out of the TOMTOM
            comparison.
        run: how the model runs (one device: see :func:`single_process`).
    """

    model, label = as_model(model)
    db = _database(motif_db)  # read first: a wrong file stops before the passes over the windows
    started = time.time()
    if isinstance(data, (str, os.PathLike)):
        codes, _, features = load_windows(str(data), split, max_windows, seed)
    else:
        codes = np.asarray(data, dtype=np.uint8)
        features = list(getattr(model, "feature_names", None) or [])
    seq_len = getattr(model, "seq_len", None)
    if seq_len and codes.shape[1] != seq_len:
        raise ValueError(f"the model takes {seq_len} bp windows but the data has {codes.shape[1]} bp")
    run = RunOptions.for_command("motifs", run)
    single_process(run)
    timing = {}
    run.say(f"first-layer filter activations over {len(codes):,} windows ({split})")
    pfms = filter_pfms(model, codes, threshold=threshold, strand=strand, run=run)
    timing["pfm_seconds"] = round(time.time() - started, 1)
    influence = None
    if influence_windows:
        rng = np.random.default_rng(seed + 1)
        sub = codes if influence_windows >= len(codes) else codes[np.sort(rng.choice(len(codes), influence_windows,
                                                                                      replace=False))]
        run.say(f"influence of {pfms.n_filters} filters on {len(sub):,} windows")
        values = filter_influence(model, sub, pfms.mean_activation, strand=strand, run=run)
        if values is not None:
            outputs = list(getattr(model, "feature_names", None) or [])  # the columns are the model's outputs
            names = next((n for n in (outputs, features) if len(n) == values.shape[1]),
                         [f"feature{j}" for j in range(values.shape[1])])
            influence = pd.DataFrame(values, index=[f"filter{i}" for i in range(len(values))], columns=names)
    timing["influence_seconds"] = round(time.time() - started - timing["pfm_seconds"], 1)
    matches = None
    if db is not None:
        t0 = time.time()
        queries = [pfms.pfm(i) for i in range(pfms.n_filters)]
        run.say(f"TOMTOM: {pfms.n_filters} filters against {len(db):,} motifs")
        matches = tomtom(queries, db, names=[f"filter{i}" for i in range(pfms.n_filters)], trim_ic=trim_ic)
        timing["tomtom_seconds"] = round(time.time() - t0, 1)
    meta = {"checkpoint": label, "data": str(data) if isinstance(data, (str, os.PathLike)) else "<codes>",
            "split": split, "windows": int(len(codes)), "threshold": threshold, "strand": pfms.strand,
            "influence_windows": int(min(influence_windows or 0, len(codes))), "trim_ic": trim_ic,
            "motif_db": str(motif_db) if isinstance(motif_db, (str, os.PathLike)) else
            (f"{len(db)} motifs" if db else ""), "database_motifs": len(db) if db else 0,
            "filter_width": int(pfms.counts.shape[2]), "seconds": round(time.time() - started, 1), **timing}
    return FilterMotifsResult(filter_table(pfms, matches, influence), pfms, matches, influence, meta)


def single_process(run: RunOptions) -> None:
    """``dnaseq motifs`` runs on one device: its passes feed each other (maxima -> thresholds)."""
    devices = run.devices
    one = devices == 1 or (isinstance(devices, (list, tuple)) and len(devices) == 1)
    if not one or run.num_nodes != 1:
        raise ValueError("filter motifs run on one device (--devices 1, one node); the windows of a test "
                         "split take minutes on one GPU")


def write_motif_report(result: FilterMotifsResult, out_dir: str, logos: bool = True,
                       q_threshold: float = 0.05) -> List[str]:
    """Write into ``out_dir``:

    * ``filters.meme``: every filter with sites, as a MEME motif file;
    * ``filter_motifs.tsv``: :func:`filter_table`;
    * ``tomtom_matches.tsv``: every filter-motif pair with q < ``q_threshold``;
    * ``filter_influence.tsv`` and ``influence_heatmap.png``: filters x features;
    * ``logos/filterN.png`` (the filter beside its best match) and ``filters_overview.png``;
    * ``patterns.tsv`` / ``patterns.meme`` when modisco patterns were found;
    * ``summary.json``: the settings and counts.
    Returns the paths written.
    """

    from ..plots import positions as plots  # matplotlib: slow to import, needed only for figures
    os.makedirs(out_dir, exist_ok=True)
    paths = [write_meme(os.path.join(out_dir, "filters.meme"), result.pfms.motifs())]
    path = os.path.join(out_dir, "filter_motifs.tsv")
    result.table.to_csv(path, sep="\t", index=False, float_format="%.6g")
    paths.append(path)
    if result.matches is not None:
        paths.append(_write_matches(result.matches, os.path.join(out_dir, "tomtom_matches.tsv"), q_threshold))
    if result.influence is not None:
        path = os.path.join(out_dir, "filter_influence.tsv")
        result.influence.to_csv(path, sep="\t", float_format="%.6g", index_label="filter")
        paths += [path, plots.plot_influence_heatmap(result.influence, os.path.join(out_dir, "influence_heatmap.png"))]
    if logos:
        paths += _write_logos(result, out_dir, q_threshold)
    if result.patterns is not None:
        paths += result.patterns.write(out_dir)
    path = os.path.join(out_dir, "summary.json")
    summary = {**result.meta, "filters": int(result.pfms.n_filters),
               "filters_with_sites": int((result.pfms.sites > 0).sum()),
               "filters_matched": int((result.table.get("q_value", pd.Series(dtype=float)) < q_threshold).sum()),
               "q_threshold": q_threshold}
    write_json(path, summary, indent=2)
    return paths + [path]


def _write_matches(matches: TomtomResult, path: str, q_threshold: float) -> str:
    rows = []
    for i, j in zip(*np.nonzero(np.nan_to_num(matches.q, nan=1.0) < q_threshold)):
        rows.append({"query": matches.queries[i], "query_start": matches.spans[i][0],
                     "query_end": matches.spans[i][1], **matches._pair(int(i), int(j))})
    cols = ["query", "query_start", "query_end", "match_id", "match_name", "p_value", "q_value", "offset",
            "overlap", "orientation"]
    table = pd.DataFrame(rows, columns=cols).sort_values(["query", "p_value"], kind="stable")
    table.to_csv(path, sep="\t", index=False, float_format="%.6g")
    return path


def _write_logos(result: FilterMotifsResult, out_dir: str, q_threshold: float) -> List[str]:

    from ..plots.logos import (  # matplotlib: slow to import, needed only for figures
        plot_filter_match,
        plot_filter_overview,
    )
    os.makedirs(os.path.join(out_dir, "logos"), exist_ok=True)
    db = {m.id: m for m in result.matches.targets} if result.matches is not None else {}
    panels, paths = [], []
    for row in result.table.itertuples():
        i = int(row.filter[len("filter"):])
        pfm = result.pfms.pfm(i)
        if pfm is None:
            continue
        match = db.get(getattr(row, "match_id", ""), None)
        title = f"{row.filter} ({row.sites:,} sites)"
        subtitle = ""
        if match is not None:
            subtitle = f"{match.id} {match.name}  q={row.q_value:.2g} ({row.orientation})"
        panel = {"title": title, "pfm": pfm, "match": match.pfm if match is not None else None,
                 "match_title": subtitle, "offset": getattr(row, "offset", 0),
                 "orientation": getattr(row, "orientation", "+"),
                 "significant": bool(match is not None and row.q_value < q_threshold)}
        panels.append(panel)
        paths.append(plot_filter_match(panel, os.path.join(out_dir, "logos", f"{row.filter}.png")))
    if paths:  # significant matches first, then by filter number
        order = sorted(range(len(paths)), key=lambda k: not panels[k]["significant"])
        overview = os.path.join(out_dir, "filters_overview.png")
        paths.append(plot_filter_overview([panels[k] for k in order], overview))
    return paths
