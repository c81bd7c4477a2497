"""Sequence design from Python and ``dnaseq design``: start sequences in, designs, trajectories
and a plot out.

:func:`design` runs the chosen strategies (:mod:`dnaseq.design.search`) on every start
sequence through the one inference path (:func:`dnaseq.inference.engine.run`; one start per
work unit, so starts are dealt to devices and the output does not depend on their number). The
strand mode and N fill come from the checkpoint; the caller's model is left as found.
:func:`run_design` adds the inputs (regions, FASTA, random) and writes ``PREFIX.designed.fa``,
``PREFIX.trajectory.tsv`` and ``PREFIX.objective.png`` (:mod:`dnaseq.design.report`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from ..inference import engine
from ..inference.predictor import settings
from ..models.state import n_outputs
from ..outputs import prepare_output_prefix
from ..sequence.encoding import N_CODE, encode
from ..settings import RunOptions
from ..training.checkpoint import as_model
from .constraints import Constraints
from .motifs import MotifSet
from .objective import Objective
from .report import designed_table, trajectory_table, write_outputs
from .scoring import EditScorer
from .search import STRATEGIES, SearchResult, run_search
from .sources import Starts, fasta_starts, protected_mask, random_starts, region_starts


@dataclass
class DesignResult:
    """Designs (``designed``: one row per start and strategy, with the sequence), every visited
    state (``trajectory``), seconds per start and strategy, and what produced them."""
    starts: Starts
    objective: Objective
    features: List[str]
    strand: str
    designed: pd.DataFrame
    trajectory: pd.DataFrame
    seconds: pd.DataFrame
    results: Dict[str, List[SearchResult]] = field(repr=False, default_factory=dict)
    paths: List[str] = field(default_factory=list)


def design(model, sequences, objective: Union[str, Mapping[str, float], Objective],
           strategies: Sequence[str] = STRATEGIES, constraints: Optional[Constraints] = None,
           protected: Optional[np.ndarray] = None, names: Optional[Sequence[str]] = None, width: int = 4,
           temperature: float = 0.1, final_temperature: Optional[float] = None, chains: int = 8, seed: int = 0,
           steps: Optional[int] = None, space: str = "prob", strand: Optional[str] = None,
           batch_size: Optional[int] = None, fast: bool = True, run: Optional[RunOptions] = None) -> Optional[DesignResult]:
    """Design edits of ``sequences`` (uint8 codes (N, L), strings, or a :class:`Starts`) that raise
    ``objective`` (e.g. ``"+BEAF_Kc -BEAF_Mbn2"``) under ``constraints`` with each of ``strategies``.

    ``protected`` (L,) or (N, L) bool marks bases that may not change. ``width`` is the beam width;
    ``temperature``, ``final_temperature``, ``chains`` and ``seed`` drive sampling; ``steps``
    defaults to the edit budget. Returns None on ranks other than 0 of a multi-process run.
    """
    starts = _as_starts(sequences, names)
    s = settings(model, strand)
    L = getattr(model, "seq_len", None) or s.seq_len
    if L is not None and starts.codes.shape[1] != L:
        raise ValueError(f"sequences have {starts.codes.shape[1]} bp but the model takes {L} bp")
    features = list(getattr(model, "feature_names", None) or [f"feature_{j}" for j in range(n_outputs(s.net, starts.codes.shape[1]))])
    obj = Objective.parse(objective, features, space)
    unknown = [x for x in strategies if x not in STRATEGIES]
    if unknown or not strategies:
        raise ValueError(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    constraints = constraints or Constraints()
    mask = np.zeros(starts.codes.shape, bool) if protected is None else np.broadcast_to(protected, starts.codes.shape)
    options = dict(width=width, temperature=temperature, final_temperature=final_temperature, chains=chains,
                   seed=seed, steps=steps)
    run = RunOptions.for_command("design", run, batch_size=batch_size)
    n = len(starts.names)

    def produce():
        for i in range(n):
            yield {"codes": torch.from_numpy(starts.codes[i:i + 1].copy()),
                   "protected": torch.from_numpy(np.array(mask[i:i + 1], dtype=bool)),
                   "index": torch.tensor([i]), "meta": i}

    run.say(f"designing {n:,} sequence(s) with {', '.join(strategies)}, up to {constraints.max_edits} edits each")
    step = _design_step(s.strand, s.fill, run.batch_size, fast, obj, constraints, list(strategies), options)
    info = engine.run(s.net, produce, step, lambda: _Sink(n, list(strategies)), run, total=n)
    if not info.is_main:
        return None
    results = info.sink.results
    return DesignResult(starts, obj, features, s.strand, designed_table(starts, results, obj, features),
                        trajectory_table(starts, results, features), _seconds(starts, results), results)


def _as_starts(sequences, names: Optional[Sequence[str]]) -> Starts:
    if isinstance(sequences, Starts):
        return sequences
    if isinstance(sequences, str):
        sequences = [sequences]
    if isinstance(sequences, (list, tuple)) and sequences and isinstance(sequences[0], str):
        codes = np.stack([encode(x) for x in sequences])
    else:
        codes = np.atleast_2d(np.asarray(sequences, np.uint8))
    n = len(codes)
    names = list(names) if names is not None else [f"seq_{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} sequences")
    return Starts(names, codes, [None] * n, [None] * n)


def _design_step(strand: str, fill: float, batch_size: int, fast: bool, obj: Objective, constraints: Constraints,
                 strategies: List[str], options: dict):
    """A step: one start sequence -> every strategy's search result, flattened to tensors."""

    def step(net, unit):
        codes = unit["codes"].cpu().numpy().astype(np.uint8)
        rules = constraints.bind(codes, unit["protected"].cpu().numpy())
        scorer = EditScorer(net, strand, fill, batch_size, fast)
        out = {}
        for name in strategies:
            res = run_search(name, scorer, obj, rules, start_ids=unit["index"].cpu().numpy(), **options)
            out.update(_flatten(name, res))
        return out

    return step


_BEST = ("best_codes", "best_objective", "best_probs", "best_step", "best_chain")


def _flatten(name: str, res: SearchResult) -> Dict[str, torch.Tensor]:
    out = {f"{name}/t/{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in res.trajectory.items()}
    out[f"{name}/probs"] = torch.from_numpy(res.probs)
    out.update({f"{name}/{k}": torch.from_numpy(np.asarray(getattr(res, k))) for k in _BEST})
    out[f"{name}/seconds"] = torch.tensor([res.seconds], dtype=torch.float64)
    return out


class _Sink:
    """Search results per strategy, one per start, rebuilt from the step's flat outputs."""

    def __init__(self, n: int, strategies: List[str]):
        self.results: Dict[str, List[Optional[SearchResult]]] = {s: [None] * n for s in strategies}

    def write(self, i, out) -> None:
        for name, slots in self.results.items():
            t = {k.split("/", 2)[2]: np.asarray(v) for k, v in out.items() if k.startswith(f"{name}/t/")}
            best = {k: np.asarray(out[f"{name}/{k}"]) for k in _BEST}
            slots[i] = SearchResult(name, t, np.asarray(out[f"{name}/probs"]), seconds=float(out[f"{name}/seconds"][0]),
                                    **best)


def _seconds(starts: Starts, results: Dict[str, List[SearchResult]]) -> pd.DataFrame:
    rows = [{"sequence": starts.names[i], "strategy": s, "seconds": r.seconds}
            for s, rs in results.items() for i, r in enumerate(rs)]
    return pd.DataFrame(rows)


def load_starts(length: int, reference: Optional[str] = None, regions: Optional[str] = None,
                fasta: Optional[str] = None, random: Optional[int] = None, seed: int = 0) -> Starts:
    """Start sequences from exactly one of: ``regions`` (BED, with ``reference``), ``fasta``, ``random`` (a count)."""
    if sum(x is not None for x in (regions, fasta, random)) != 1:
        raise ValueError("give exactly one input: --regions (with --reference), --fasta or --random N")
    if regions is not None:
        if not reference:
            raise ValueError("--regions needs --reference")
        return region_starts(reference, regions, length)
    if fasta is not None:
        return fasta_starts(fasta, length)
    return random_starts(int(random), length, seed)


def _warn_mostly_n(starts: Starts) -> None:
    """Warn, naming the region, when a start window is mostly N (like ``dnaseq ism``)."""


    for i, name in enumerate(starts.names):
        share = float((starts.codes[i] == N_CODE).mean())
        if share >= 0.5:
            window = starts.window_label(i)
            where = f"{name} (window {window})" if window and window != name else name
            logging.getLogger(__name__).warning(
                "%s is %.0f%% N: the model sees little sequence there, so its designs say little; choose a "
                "region with sequence", where, 100 * share)


def run_design(checkpoint, out: str, objective: str, reference: Optional[str] = None, regions: Optional[str] = None,
               fasta: Optional[str] = None, random: Optional[int] = None, protect: Optional[str] = None,
               motifs: Optional[str] = None, motif_pvalue: float = 1e-4, max_edits: int = 5, protect_core: int = 0,
               gc_range: Optional[Sequence[float]] = None, plot: bool = True, **options) -> Optional[DesignResult]:
    """Load a checkpoint and inputs, design, and write ``out`` + ``.designed.fa``,
    ``.trajectory.tsv`` and ``.objective.png``; ``options`` go to :func:`design`."""
    prepare_output_prefix(out)
    model, _ = as_model(checkpoint)
    starts = load_starts(model.seq_len, reference, regions, fasta, random, options.get("seed", 0))
    _warn_mostly_n(starts)
    mask = protected_mask(protect, starts) if protect else None
    motif_set = MotifSet.from_file(motifs, motif_pvalue) if motifs else None
    constraints = Constraints(max_edits, protect_core, tuple(gc_range) if gc_range else None, motif_set)
    result = design(model, starts, objective, constraints=constraints, protected=mask, **options)
    if result is not None:
        result.paths = write_outputs(result, out, plot)
    return result
