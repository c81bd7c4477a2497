"""ISM of a genome region or of FASTA sequences, saved to HDF5 with plots (``dnaseq ism``)."""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

import h5py
import numpy as np
import torch

from .._lazy import api
from ..outputs import completed, ensure_writable_dir, prepare_output_file
from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome
from ..sequence.windows import fasta_input, region_input
from ..settings import RunOptions
from ..training.checkpoint import as_model
from .ism import importance, ism_effects, ism_with_reference

log = logging.getLogger(__name__)


@dataclass
class IsmResult:
    names: List[str]
    codes: np.ndarray  # (N, L)
    positions: np.ndarray  # (P,) 0-based within each window
    reference: torch.Tensor  # (N, F)
    predictions: torch.Tensor  # (N, 4, P, F)
    features: List[str]
    window_starts: List[Optional[int]]


LOGO_WIDTH = 100  # bp a logo shows by default: the strongest stretch of a longer region


def check_outputs(out: str, plot_dir: Optional[str] = None) -> None:
    """Refuse (one ValueError naming the path) an ``out`` HDF5 file or ``plot_dir`` that cannot
    be written, before any prediction; creates their folders."""
    prepare_output_file(out, "ism.h5")
    if plot_dir:
        ensure_writable_dir(plot_dir, "--plot-dir")


@api
def run_ism(checkpoint, out: str, reference: Optional[str] = None, region: Optional[str] = None,
            fasta: Optional[str] = None, feature: Optional[str] = None, plot_dir: Optional[str] = None,
            strand: Optional[str] = None, batch_size: Optional[int] = None, device: Optional[str] = None,
            progress: Optional[bool] = None, run: Optional[RunOptions] = None,
            logo_width: Optional[int] = LOGO_WIDTH) -> Optional[IsmResult]:
    """ISM of a region (``reference`` + ``region``) or of every sequence in ``fasta``; writes
    ``out`` (HDF5) and, for ``feature`` (default: the first), a heatmap and a logo per sequence.
    ``strand``: ``as-trained`` (default), ``forward`` or ``both``. ``logo_width``: a longer
    sequence's logo shows only its strongest ``logo_width`` bp (largest total |effect|; the
    heatmap shows everything and outlines that span); None or 0 draws the whole logo. ``out``
    and ``plot_dir`` are checked before any prediction. Returns None on ranks other than 0 of
    a multi-process run."""

    model, label = as_model(checkpoint)
    L = model.seq_len
    if (region is None) == (fasta is None):
        raise ValueError("give either --region (with --reference) or --fasta")
    features = model.feature_names
    if feature is not None and feature not in features:
        raise ValueError(f"feature {feature!r} is not predicted by this model; it predicts {features[:10]}"
                         + (" ..." if len(features) > 10 else ""))
    check_outputs(out, plot_dir)
    if region is not None:
        if not reference:
            raise ValueError("--region needs --reference")
        with Genome(reference) as g:
            names, codes, positions, starts = region_input(g, region, L)
    else:
        names, codes, positions, starts = fasta_input(fasta, L)
    for name, c in zip(names, codes):
        n_share = float((c[positions] == N_CODE).mean()) if len(positions) else 0.0
        if n_share > 0.5:
            log.warning("%s is %.0f%% N: its ISM effects will be near zero and say little; choose a region "
                        "with sequence", name, 100 * n_share)
    run = RunOptions.for_command("ism", run, batch_size=batch_size, device=device, progress=progress,
                                 default_progress=True)
    preds, ref = ism_with_reference(model, codes, strand=strand, positions=positions, run=run)
    if preds is None:
        return None
    strand_mode = model.strand_mode(strand)
    result = IsmResult(names, codes, positions, ref, preds, features, starts)
    write_ism(out, result, {"checkpoint": label, "reference": reference or "", "region": region or "",
                            "fasta": fasta or "", "strand": strand_mode, "fill": model.fill})
    if plot_dir:
        plot_ism(result, feature or features[0], plot_dir, logo_width=logo_width)
    return result


def write_ism(path: str, r: IsmResult, meta: dict) -> None:
    with completed(path) as partial, h5py.File(partial, "w") as h5:
        h5.create_dataset("ism", data=r.predictions.numpy(), compression="gzip")
        h5.create_dataset("reference", data=r.reference.numpy())
        h5.create_dataset("codes", data=r.codes)
        h5.create_dataset("positions", data=r.positions)
        h5.attrs["names"] = json.dumps(r.names)
        h5.attrs["features"] = json.dumps(r.features)
        h5.attrs["window_starts"] = json.dumps(r.window_starts)
        h5.attrs["layout"] = "ism[n, base (A,C,G,T), position, feature] = probability with that base there"
        h5.attrs["meta"] = json.dumps(meta)


def logo_span(effects: np.ndarray, ref_codes: Optional[np.ndarray] = None,
              width: Optional[int] = LOGO_WIDTH) -> Tuple[int, int]:
    """``(lo, hi)`` columns of the strongest ``width`` positions of ISM effects (4, P): the
    stretch with the largest total |effect| (everything when P <= width). ``ref_codes`` (P,),
    the bases at those positions: N positions count 0 (a logo draws no letter there)."""
    from ..plots.positions import strongest_span  # matplotlib: slow to import, needed only for figures
    strength = np.nansum(np.abs(np.asarray(effects, dtype=float)), axis=0)
    if ref_codes is not None:
        strength = np.where(np.asarray(ref_codes) < N_CODE, strength, 0.0)
    return strongest_span(strength, width)


def plot_ism(r: IsmResult, feature: str, plot_dir: str, logo_width: Optional[int] = LOGO_WIDTH) -> List[str]:
    """Per sequence: a heatmap of every position, and a logo of the strongest ``logo_width``
    bp (:func:`logo_span`; None or 0: all positions)."""
    from ..plots.positions import plot_ism_heatmap  # matplotlib: slow to import, needed only for figures
    from ..plots.logos import plot_logo  # matplotlib: slow to import, needed only for figures
    ensure_writable_dir(plot_dir)
    j = r.features.index(feature)
    effects = ism_effects(r.predictions, r.reference)[..., j]  # (N, 4, P)
    paths = []
    for n, name in enumerate(r.names):
        safe = re.sub(r"[^\w.-]+", "_", name)
        start, chrom = r.window_starts[n], name.split(":")[0]
        span = logo_span(effects[n].numpy(), r.codes[n][r.positions], logo_width)
        paths.append(plot_ism_heatmap(effects[n].numpy(), r.codes[n], list(r.positions), feature,
                                      os.path.join(plot_dir, f"{safe}.{feature}.heatmap.png"),
                                      genome_start=start, chrom=chrom, mark=span))
        heights = importance(effects[n], r.codes[n], r.positions)
        paths.append(plot_logo(heights, r.codes[n], list(r.positions), feature,
                               os.path.join(plot_dir, f"{safe}.{feature}.logo.png"), genome_start=start,
                               chrom=chrom, span=span))
    return paths
