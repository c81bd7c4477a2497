"""Tables and files of a design run: the designs, the trajectory, the objective per step.

* ``PREFIX.designed.fa``: the best design per start and strategy; the header is
  ``>NAME|STRATEGY objective=... start=... edits=N changes=POS:A>G,... chain=C step=S``
  (0-based positions in the window);
* ``PREFIX.trajectory.tsv``: every visited state, one row per (sequence, strategy, chain, step):
  the edit made at that step (``position``, ``before`` -> ``after``; step 0 is the start, with
  position -1), ``parent`` (the beam member / chain it came from), ``n_edits`` (positions that
  differ from the start), ``objective``, ``gain``, ``temperature`` (sampling) and the
  probability of every feature (one column each); it reads with ``pandas.read_csv(path, sep="\\t")``;
* ``PREFIX.objective.png``: the mean over sequences of the best objective at each step, one line
  per strategy (:func:`dnaseq.plots.figures.plot_design_objective`).
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import pandas as pd

from ..plots.figures import plot_design_objective
from ..sequence.encoding import decode
from .objective import Objective
from .search import SearchResult
from .sources import Starts

_LETTERS = np.array(list("ACGTN"))


def trajectory_table(starts: Starts, results: Dict[str, List[SearchResult]], features: List[str]) -> pd.DataFrame:
    """Every visited state of every strategy (module docstring)."""
    parts = []
    for strategy, per_start in results.items():
        for i, res in enumerate(per_start):  # one search result per start (origin 0 in each)
            t = res.trajectory
            df = pd.DataFrame({
                "sequence": starts.names[i], "strategy": strategy,
                "chain": t["chain"], "parent": t["parent"], "step": t["step"], "position": t["position"],
                "before": _letters(t["before"]), "after": _letters(t["after"]), "n_edits": t["n_edits"],
                "objective": t["objective"], "gain": t["gain"], "temperature": t["temperature"]})
            parts.append(pd.concat([df, pd.DataFrame(res.probs, columns=features)], axis=1))
    return pd.concat(parts, ignore_index=True)


def _letters(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    return np.where(codes >= 0, _LETTERS[np.clip(codes, 0, 4)], "")


def designed_table(starts: Starts, results: Dict[str, List[SearchResult]], objective: Objective,
                   features: List[str]) -> pd.DataFrame:
    """The best design per start and strategy, with its changes, objective and sequence."""
    rows = []
    for strategy, per_start in results.items():
        for i, res in enumerate(per_start):
            start = starts.codes[i]
            best = res.best_codes[0]
            start_obj = res.trajectory["objective"][res.trajectory["step"] == 0].max()
            row = {"sequence": starts.names[i], "strategy": strategy, "window": starts.window_label(i),
                   "chain": int(res.best_chain[0]), "step": int(res.best_step[0]),
                   "n_edits": int((best != start).sum()), "changes": changes(start, best),
                   "start_objective": float(start_obj), "objective": float(res.best_objective[0]),
                   "gain": float(res.best_objective[0] - start_obj), "seconds": res.seconds}
            row.update({f: float(p) for f, p in zip(features, res.best_probs[0])})
            row["designed_sequence"] = decode(best)
            rows.append(row)
    return pd.DataFrame(rows)


def changes(start: np.ndarray, designed: np.ndarray) -> str:
    """``"12:A>G,40:C>T"``: where ``designed`` differs from ``start`` (0-based positions)."""
    diff = np.nonzero(start != designed)[0]
    return ",".join(f"{p}:{_LETTERS[start[p]]}>{_LETTERS[designed[p]]}" for p in diff)


def step_table(trajectory: pd.DataFrame) -> pd.DataFrame:
    """The best objective (over beam members / chains) per sequence, strategy and step."""
    return trajectory.groupby(["strategy", "sequence", "step"], sort=False, as_index=False)["objective"].max()


def write_fasta(table: pd.DataFrame, path: str, width: int = 60) -> str:
    """The designs of ``designed_table`` as FASTA (header: module docstring)."""
    with open(path, "w") as fh:
        for r in table.itertuples(index=False):
            fh.write(f">{r.sequence}|{r.strategy} objective={r.objective:.6g} start={r.start_objective:.6g} "
                     f"edits={r.n_edits} changes={r.changes or '-'} chain={r.chain} step={r.step}"
                     + (f" window={r.window}" if r.window else "") + "\n")
            seq = r.designed_sequence
            fh.writelines(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
    return path


def write_outputs(result, out: str, plot: bool = True) -> List[str]:
    """Write ``out.designed.fa``, ``out.trajectory.tsv`` and (``plot``) ``out.objective.png``."""
    paths = [write_fasta(result.designed, f"{out}.designed.fa")]
    result.trajectory.to_csv(f"{out}.trajectory.tsv", sep="\t", index=False, float_format="%.9g")
    paths.append(f"{out}.trajectory.tsv")
    if plot:
        paths.append(plot_design_objective(step_table(result.trajectory), f"{out}.objective.png",
                                           result.objective.describe()))
    return paths
