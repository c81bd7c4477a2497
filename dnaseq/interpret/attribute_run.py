"""``dnaseq attribute``: attributions of genome regions or FASTA sequences -> HDF5 + logo tracks.

Inputs are taken as ``dnaseq ism`` takes them: a region (``chrom:start-end``, 1-based
inclusive, at most the model's length) is predicted from the model-length window centred on
it and attributions are reported for the region's positions; a FASTA sequence must have the
model's length and is reported whole.

HDF5 layout (``out``):

* ``attributions`` (N, 4, P) float32: base (A, C, G, T) x position, see
  :mod:`dnaseq.interpret.attributions`;
* ``contributions`` (N, P) float32: the attribution of each sequence's own base;
* ``codes`` (N, L) uint8: the whole windows; ``positions`` (P,): reported positions (0-based
  in the window); ``probability`` (N,): the feature's predicted probability;
* attributes ``names``, ``chroms``, ``window_starts`` (0-based genome start of each window, or
  null for FASTA input), ``feature``, ``method``, ``strand``, ``meta`` (JSON).
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

import h5py
import numpy as np

from ..inference.predictor import predict_codes
from ..outputs import completed, ensure_writable_dir, prepare_output_file
from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome
from ..sequence.windows import fasta_input, region_input
from ..settings import RunOptions
from ..training.checkpoint import as_model
from .attributions import attribute, contributions

log = logging.getLogger(__name__)
MOSTLY_N = 0.5  # warn from this share of N on


def warn_mostly_n(names: Sequence[str], codes: np.ndarray, positions, what: str) -> List[float]:
    """Log a warning naming each sequence whose ``positions`` are mostly N (their ``what`` says
    little); returns every sequence's N share."""

    shares = []
    for name, c in zip(names, codes):
        share = float((np.asarray(c)[positions] == N_CODE).mean()) if len(positions) else 0.0
        shares.append(share)
        if share >= MOSTLY_N:
            log.warning("%s is %.0f%% N: its %s will be near zero and say little; choose a region with sequence",
                        name, 100 * share, what)
    return shares


@dataclass
class AttributionResult:
    names: List[str]
    codes: np.ndarray  # (N, L)
    positions: np.ndarray  # (P,)
    attributions: np.ndarray  # (N, 4, P)
    probability: np.ndarray  # (N,)
    feature: str
    method: str
    strand: str
    window_starts: List[Optional[int]]
    chroms: List[str]

    @property
    def contributions(self) -> np.ndarray:
        return contributions(self.attributions, self.codes, self.positions)


def _inputs(model, reference: Optional[str], regions: Optional[Sequence[str]], fasta: Optional[str]):
    if bool(regions) == bool(fasta):
        raise ValueError("give either --region (with --reference) or --fasta")
    if fasta:
        names, codes, positions, starts = fasta_input(fasta, model.seq_len)
        return names, codes, positions, starts, [""] * len(names)
    if not reference:
        raise ValueError("--region needs --reference")
    names, codes, starts, pos_list = [], [], [], []
    with Genome(reference) as g:
        for region in regions:
            n, c, p, s = region_input(g, region, model.seq_len)
            names += n
            codes.append(c)
            starts += s
            pos_list.append(p)
    if len({len(p) for p in pos_list}) != 1 or len({tuple(p) for p in pos_list}) != 1:
        raise ValueError("regions of one run must have the same length (they share one positions axis); "
                         "run them separately")
    return names, np.concatenate(codes), pos_list[0], starts, [n.split(":")[0] for n in names]


def run_attribute(checkpoint, out: str, reference: Optional[str] = None, regions: Optional[Sequence[str]] = None,
                  fasta: Optional[str] = None, feature: Optional[str] = None, method: str = "input-x-gradient",
                  plot_dir: Optional[str] = None, strand: Optional[str] = None, steps: int = 50,
                  shuffles: int = 20, seed: int = 0, output: str = "probability",
                  run: Optional[RunOptions] = None) -> Optional[AttributionResult]:
    """Attributions of ``feature`` (default: the first) for regions or FASTA sequences; writes
    ``out`` (HDF5, see module docstring) and, with ``plot_dir``, one logo track per sequence.
    Returns None on ranks other than 0 of a multi-process run."""

    prepare_output_file(out, "attr.h5")  # checked before any work: one line naming the path
    if plot_dir:
        ensure_writable_dir(plot_dir, "--plot-dir")
    model, label = as_model(checkpoint)
    feature = feature or model.feature_names[0]
    names, codes, positions, starts, chroms = _inputs(model, reference, regions, fasta)
    warn_mostly_n(names, codes, positions, "attributions")
    run = RunOptions.for_command("attribute", run)
    attrs = attribute(model, codes, feature, method=method, strand=strand, positions=positions, steps=steps,
                      shuffles=shuffles, seed=seed, output=output, run=run)
    probs = predict_codes(model, codes, strand=strand, options=run)
    if attrs is None or probs is None:
        return None
    j = model.feature_names.index(feature)
    result = AttributionResult(names, codes, np.asarray(positions), attrs, probs[:, j], feature, method,
                               model.strand_mode(strand), starts, chroms)
    write_attributions(out, result, {"checkpoint": label, "reference": reference or "", "fasta": fasta or "",
                                     "steps": steps, "shuffles": shuffles, "seed": seed, "fill": model.fill,
                                     "output": output})
    if plot_dir:
        plot_attributions(result, plot_dir)
    return result


def write_attributions(path: str, r: AttributionResult, meta: dict) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with completed(path) as partial, h5py.File(partial, "w") as h5:
        h5.create_dataset("attributions", data=r.attributions.astype(np.float32), compression="gzip")
        h5.create_dataset("contributions", data=r.contributions, compression="gzip")
        h5.create_dataset("codes", data=r.codes)
        h5.create_dataset("positions", data=r.positions)
        h5.create_dataset("probability", data=np.asarray(r.probability, dtype=np.float32))
        h5.attrs["names"] = json.dumps(r.names)
        h5.attrs["chroms"] = json.dumps(r.chroms)
        h5.attrs["window_starts"] = json.dumps(r.window_starts)
        h5.attrs["feature"], h5.attrs["method"], h5.attrs["strand"] = r.feature, r.method, r.strand
        h5.attrs["layout"] = ("attributions[n, base (A,C,G,T), position]; contributions[n, position] = the "
                              "attribution of the sequence's own base; positions are 0-based in the window")
        h5.attrs["meta"] = json.dumps(meta)
    return path


def plot_attributions(r: AttributionResult, plot_dir: str) -> List[str]:
    """One logo track per sequence: each position's own base, scaled by its contribution."""

    from ..plots.logos import plot_contribution_logo  # matplotlib: slow to import, needed only for figures
    os.makedirs(plot_dir, exist_ok=True)
    contrib = r.contributions
    paths = []
    for n, name in enumerate(r.names):
        safe = re.sub(r"[^\w.-]+", "_", name)
        path = os.path.join(plot_dir, f"{safe}.{r.feature}.{r.method}.png")
        title = f"{r.method} attribution of {r.feature} (p = {r.probability[n]:.3f}, strand {r.strand})"
        paths.append(plot_contribution_logo(contrib[n], r.codes[n], list(r.positions), path, title=title,
                                            genome_start=r.window_starts[n], chrom=r.chroms[n]))
    return paths
