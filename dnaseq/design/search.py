"""Search over single-base edits: greedy, beam search and temperature sampling.

Each step scores every allowed edit of every current sequence at once
(:meth:`dnaseq.design.scoring.EditScorer.score`, exact) and the objective's *gain* of an edit is
its objective minus that of the sequence it edits. Then:

* :func:`greedy` applies, to each sequence, the edit with the largest gain (the first such edit
  in (position, base) order on a tie), whether or not the gain is positive;
* :func:`beam` keeps, for each start, the ``width`` best *distinct* sequences among all edits of
  the current beam (identical sequences reached through different orders of the same edits
  count once), so width 1 is greedy;
* :func:`sample` runs ``chains`` independent chains per start, each drawing its next edit from
  ``softmax(gain / T)``; ``T = 0`` is greedy, and with ``final_temperature`` T is annealed
  geometrically (linearly when either end is 0) from ``temperature`` to it over the steps.
  Chain c of start i draws from ``numpy.random.default_rng([seed, start_ids[i], c])``, so a run
  is reproducible and does not depend on which other starts share its batch.

Every search runs ``steps`` steps (default: the edit budget) or until no edit is allowed, and
records every state it visits (:class:`SearchResult`); the design it returns for a start is the
best state seen at any step by any beam member or chain (the start itself included).
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .constraints import Rules
from .objective import Objective
from .scoring import Candidates, EditScorer

STRATEGIES = ("greedy", "beam", "sample")


@dataclass
class States:
    """Current sequences (B, L), the start each descends from, chain/beam rank, objective, probabilities."""
    codes: np.ndarray
    origin: np.ndarray
    chain: np.ndarray
    objective: np.ndarray
    probs: np.ndarray


@dataclass
class SearchResult:
    """Every visited state (``trajectory`` columns and ``probs`` (R, F), one row per state and
    step) and the best state per start (``best_*``, N rows)."""
    strategy: str
    trajectory: Dict[str, np.ndarray]
    probs: np.ndarray
    best_codes: np.ndarray
    best_objective: np.ndarray
    best_probs: np.ndarray
    best_step: np.ndarray
    best_chain: np.ndarray
    seconds: float

    def step_objective(self) -> np.ndarray:
        """(N, steps + 1): per start, the best objective over chains / beam members at each
        step; NaN after a search stopped early."""
        t = self.trajectory
        n, steps = len(self.best_objective), int(t["step"].max()) + 1
        out = np.full((n, steps), -np.inf)
        np.maximum.at(out, (t["origin"], t["step"]), t["objective"])
        out[np.isneginf(out)] = np.nan
        return out


class _Recorder:
    """Collects trajectory rows and the best state per start."""

    def __init__(self, strategy: str, rules: Rules, first: States):
        self.strategy, self.rules, self.rows, self.t0 = strategy, rules, [], time.perf_counter()
        n = rules.n
        self.best = dict(codes=rules.start.copy(), objective=np.full(n, -np.inf),
                         probs=np.zeros((n, first.probs.shape[1]), np.float32),
                         step=np.zeros(n, np.int64), chain=np.zeros(n, np.int64))
        none = np.full(len(first.origin), -1)
        self.add(0, first, none, none, none, none, np.zeros(len(none)), np.nan)

    def add(self, step: int, st: States, parent, pos, before, after, gain, temperature: float) -> None:
        self.rows.append(dict(origin=st.origin, chain=st.chain, parent=parent, step=np.full(len(st.origin), step),
                              position=pos, before=before, after=after,
                              n_edits=self.rules.n_edits(st.codes, st.origin), objective=st.objective, gain=gain,
                              temperature=np.full(len(st.origin), temperature), probs=st.probs))
        b = self.best
        for i, o in enumerate(st.origin):
            if st.objective[i] > b["objective"][o]:
                b["codes"][o], b["objective"][o], b["probs"][o] = st.codes[i], st.objective[i], st.probs[i]
                b["step"][o], b["chain"][o] = step, st.chain[i]

    def result(self) -> SearchResult:
        cols = {k: np.concatenate([r[k] for r in self.rows]) for k in self.rows[0] if k != "probs"}
        probs = np.concatenate([r["probs"] for r in self.rows])
        b = self.best
        return SearchResult(self.strategy, cols, probs, b["codes"], b["objective"], b["probs"], b["step"], b["chain"],
                            time.perf_counter() - self.t0)


def _initial(scorer: EditScorer, objective: Objective, rules: Rules, copies: int) -> States:
    origin = np.repeat(np.arange(rules.n), copies)
    probs = scorer.predict(rules.start).numpy()[origin]
    return States(rules.start[origin].copy(), origin, np.tile(np.arange(copies), rules.n), objective(probs), probs)


def _expand(scorer: EditScorer, objective: Objective, rules: Rules, st: States):
    """Every allowed edit of the current states, its objective and its gain."""
    cand = scorer.score(st.codes, rules.allowed(st.codes, st.origin))
    values = objective(cand.probs)
    gains = values - objective(cand.ref)[cand.row]
    return cand, values, gains


def _apply(st: States, cand: Candidates, picks: np.ndarray, values: np.ndarray, chain: np.ndarray) -> States:
    rows = cand.row[picks]
    codes = st.codes[rows].copy()
    codes[np.arange(len(picks)), cand.pos[picks]] = cand.base[picks]
    return States(codes, st.origin[rows], chain, values[picks], cand.probs[picks].numpy())


def _record_step(rec: _Recorder, t: int, old: States, new: States, cand: Candidates, picks, gains, T=np.nan):
    rows = cand.row[picks]
    rec.add(t, new, old.chain[rows], cand.pos[picks], old.codes[rows, cand.pos[picks]], cand.base[picks],
            gains[picks], T)


def _segments(cand: Candidates, n_rows: int) -> np.ndarray:
    """Bounds (n_rows + 1,) of each row's candidates (candidates are ordered by row)."""
    return np.searchsorted(cand.row, np.arange(n_rows + 1), side="left")


def greedy(scorer: EditScorer, objective: Objective, rules: Rules, steps: Optional[int] = None) -> SearchResult:
    """At each step apply, to each start's sequence, the allowed edit with the largest gain."""
    st = _initial(scorer, objective, rules, 1)
    rec = _Recorder("greedy", rules, st)
    for t in range(1, (steps or rules.max_edits) + 1):
        cand, values, gains = _expand(scorer, objective, rules, st)
        bounds = _segments(cand, len(st.origin))
        picks = np.array([a + int(np.argmax(values[a:b])) for a, b in zip(bounds[:-1], bounds[1:]) if b > a], np.int64)
        if not len(picks):
            break
        new = _apply(st, cand, picks, values, st.chain[cand.row[picks]])
        _record_step(rec, t, st, new, cand, picks, gains)
        st = _merge(st, new, cand.row[picks])
    return rec.result()


def _merge(st: States, new: States, rows: np.ndarray) -> States:
    """``st`` with rows ``rows`` replaced by ``new`` (rows with no allowed edit stay as they are)."""
    out = States(st.codes.copy(), st.origin.copy(), st.chain.copy(), st.objective.copy(), st.probs.copy())
    out.codes[rows], out.objective[rows], out.probs[rows] = new.codes, new.objective, new.probs
    return out


def beam(scorer: EditScorer, objective: Objective, rules: Rules, width: int = 4,
         steps: Optional[int] = None) -> SearchResult:
    """Beam search: keep the ``width`` best distinct sequences per start at every step."""
    if width < 1:
        raise ValueError(f"beam width must be at least 1, got {width}")
    st = _initial(scorer, objective, rules, 1)
    rec = _Recorder("beam", rules, st)
    for t in range(1, (steps or rules.max_edits) + 1):
        cand, values, gains = _expand(scorer, objective, rules, st)
        picks, ranks = _beam_select(st, cand, values, width)
        if not len(picks):
            break
        new = _apply(st, cand, picks, values, ranks)
        _record_step(rec, t, st, new, cand, picks, gains)
        st = new
    return rec.result()


def _beam_select(st: States, cand: Candidates, values: np.ndarray, width: int):
    """Candidates to keep (best first within each start, distinct sequences) and their ranks."""
    origin = st.origin[cand.row]
    order = np.lexsort((np.arange(len(values)), -values, origin))
    taken: Dict[int, int] = defaultdict(int)
    seen: Dict[int, set] = defaultdict(set)
    picks, ranks = [], []
    for i in order:
        o = int(origin[i])
        if taken[o] >= width:
            continue
        child = st.codes[cand.row[i]].copy()
        child[cand.pos[i]] = cand.base[i]
        key = child.tobytes()
        if key in seen[o]:
            continue
        seen[o].add(key)
        picks.append(i)
        ranks.append(taken[o])
        taken[o] += 1
    return np.array(picks, np.int64), np.array(ranks, np.int64)


def temperatures(temperature: float, steps: int, final: Optional[float] = None) -> List[float]:
    """The temperature of each step: constant, or annealed from ``temperature`` to ``final``
    (geometrically when both are positive, else linearly)."""
    if temperature < 0 or (final is not None and final < 0):
        raise ValueError("temperatures must be >= 0")
    if final is None or steps == 1:
        return [float(temperature)] * steps
    f = np.linspace(0.0, 1.0, steps)
    if temperature > 0 and final > 0:
        return list(temperature * (final / temperature) ** f)
    return list(temperature + (final - temperature) * f)


def sample(scorer: EditScorer, objective: Objective, rules: Rules, temperature: float = 0.1, chains: int = 8,
           seed: int = 0, final_temperature: Optional[float] = None, steps: Optional[int] = None,
           start_ids: Optional[Sequence[int]] = None) -> SearchResult:
    """Temperature sampling: ``chains`` chains per start draw each edit from softmax(gain / T)."""
    if chains < 1:
        raise ValueError(f"chains must be at least 1, got {chains}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    ids = np.arange(rules.n) if start_ids is None else np.asarray(start_ids, np.int64)
    st = _initial(scorer, objective, rules, chains)
    rngs = [np.random.default_rng([seed, int(ids[o]), int(c)]) for o, c in zip(st.origin, st.chain)]
    rec = _Recorder("sample", rules, st)
    n_steps = steps or rules.max_edits
    for t, T in enumerate(temperatures(temperature, n_steps, final_temperature), start=1):
        cand, values, gains = _expand(scorer, objective, rules, st)
        bounds = _segments(cand, len(st.origin))
        picks = [a + _draw(gains[a:b], T, rngs[r]) for r, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])) if b > a]
        if not picks:
            break
        picks = np.array(picks, np.int64)
        new = _apply(st, cand, picks, values, st.chain[cand.row[picks]])
        _record_step(rec, t, st, new, cand, picks, gains, T)
        st = _merge(st, new, cand.row[picks])
    return rec.result()


def _draw(gains: np.ndarray, T: float, rng: np.random.Generator) -> int:
    """An index drawn from softmax(gains / T); the first largest gain when T is 0."""
    if T == 0:
        return int(np.argmax(gains))
    z = (gains - gains.max()) / T
    p = np.exp(z)
    return int(rng.choice(len(p), p=p / p.sum()))


def run_search(strategy: str, scorer: EditScorer, objective: Objective, rules: Rules, **options) -> SearchResult:
    """Run one of :data:`STRATEGIES` with its options (``width``; ``temperature``, ``chains``,
    ``seed``, ``final_temperature``, ``start_ids``; ``steps``); options for other strategies are ignored."""
    steps = options.get("steps")
    if strategy == "greedy":
        return greedy(scorer, objective, rules, steps)
    if strategy == "beam":
        return beam(scorer, objective, rules, options.get("width", 4), steps)
    if strategy == "sample":
        keys = ("temperature", "chains", "seed", "final_temperature", "start_ids")
        return sample(scorer, objective, rules, steps=steps, **{k: options[k] for k in keys if k in options})
    raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
