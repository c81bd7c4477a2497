"""``dnaseq tune``: hyperparameter search (Optuna) over a ``dnaseq train`` config.

The search space is a YAML file: a mapping from dotted config keys, spelt as on the
``dnaseq train`` command line, to how each value is drawn::

    model.lr: {type: float, low: 3.0e-4, high: 1.0e-2, log: true}
    model.arch_args.rnn_hidden: {type: int, low: 16, high: 64, step: 16}
    model.arch_args.conv_filters: {type: categorical, choices: [[64], [128], [64, 64]]}
    model.arch_args.rnn_type: [lstm, gru]     # a bare list is short for {type: categorical, choices: ...}

- ``float``: ``low`` and ``high``; optionally ``log: true`` (drawn on a log scale; ``low`` > 0)
  or ``step`` (a grid from ``low``).
- ``int``: ``low`` and ``high``, both included; optionally ``step`` or ``log: true``.
- ``categorical``: ``choices``, any YAML values: numbers, words, lists (layer sizes), mappings.

Numbers such as ``1e-4`` count as numbers (YAML 1.1 would read them as words). Keys below an
option reach into options that hold a mapping (``model.arch_args.X``, ``model.scheduler_args.X``).
Everything is checked before any training, and a problem is one line naming the file and the key:
keys against the options ``dnaseq train`` accepts, ``model.arch_args`` keys against the model's
own hyperparameters, and every bound and choice by parsing it into the config. The splits
(``data.*_split``) cannot be searched: the test split is never read.

Each trial is a ``dnaseq train`` run: :func:`dnaseq.training.train.build_cli` with ``--config C`` and one
``--key value`` per override and drawn value, trained by :func:`dnaseq.training.train.fit` in a run folder
of its own, ``OUT/runs/<config name>/version_<N>`` (:mod:`dnaseq.training.runs`). Its value is
the best validation score over its epochs (what its ``best.ckpt`` holds): the mean ROC AUC
``valid_auroc`` that the checkpoint callback monitors, or with ``metric="auprc"`` the mean PR AUC
``valid_auprc`` (average precision, as :mod:`dnaseq.apply.evaluate` computes it), or with
``metric="prlift"`` the mean over features of log2(PR AUC / positive fraction), ``valid_prlift``,
in which a rare feature weighs as much as a common one (both logged by :class:`ValidPRAUC`;
checkpoint and early stopping then monitor the chosen one). Every validation is reported
to Optuna, whose median pruner stops trials that fall behind the others at the same epoch.

Pruning is :class:`PruneOnReport`, a few lines here, because optuna-integration's
``PyTorchLightningPruningCallback`` subclasses the Callback of the unified ``lightning`` package
(``lightning.pytorch``), which the ``pytorch_lightning`` Trainer that dnaseq uses refuses.

The sampler is TPE seeded with ``seed``, and every trial trains with the config's
``seed_everything``, so a search repeats. Trials run without progress bar or model summary
(``overrides`` may turn them back on), one at a time on one device. Written to ``out`` after every trial, so a stopped
search keeps what it ran:

- ``trials.tsv``: one row per trial: number, state, value, each parameter, duration_s, epochs,
  run_dir, note (why a trial failed or was pruned);
- ``best_config.yaml``: the base config with the best trial's values, for
  ``dnaseq train --config``; the ``overrides`` (search-time budgets such as a shorter
  ``trainer.max_epochs``) are not in it;
- ``trials.png``: the value of each trial and the best so far.
"""
from __future__ import annotations

import copy
import io
import math
import os
from contextlib import redirect_stderr
from typing import Any, List, Mapping, NamedTuple, Optional, Sequence

import numpy as np
import optuna
import pandas as pd
import yaml
from pytorch_lightning.callbacks import Callback

from .._lazy import api
from ..outputs import ensure_writable_dir
from .config import SECTIONS, ConfigError, explain_config_error, load_config
from .metrics import roc_and_pr_auc
from .search_space import (
    Param,
    SearchSpaceError,  # noqa: F401  (raised through tune(): part of its API)
    check_base,
    check_key,
    check_space,
    format_value,
    numbers,
    option_args,
    parse_args,
    read_search_space,
    searched_archs,
    set_path,
)
from .train import build_cli, fit

METRICS = {"auroc": "valid_auroc", "auprc": "valid_auprc", "prlift": "valid_prlift"}
METRIC_NAMES = {"valid_auroc": "validation mean ROC AUC", "valid_auprc": "validation mean PR AUC",
                "valid_prlift": "validation mean log2 PR AUC lift"}
# trials are many: their output is the trial table, not a progress bar each
QUIET = {"trainer.enable_progress_bar": False, "trainer.enable_model_summary": False}
TABLE, BEST, PLOT = "trials.tsv", "best_config.yaml", "trials.png"


class TuneResult(NamedTuple):
    table: pd.DataFrame
    best_config: str


def trial_args(config: str, base, values: Mapping[str, Any], runs_dir: str, monitor: str) -> List[str]:
    """The ``dnaseq train`` arguments of one trial: its own run folder under ``runs_dir``."""
    args = ["--config", config] + option_args({**QUIET, **values}, base)
    args += ["--trainer.default_root_dir", runs_dir, "--checkpoint.dirpath", "null"]
    if monitor != METRICS["auroc"]:
        args += ["--checkpoint.monitor", monitor, "--early_stopping.monitor", monitor]
    return args


# -- callbacks -----------------------------------------------------------------------------
def _pr_aucs(labels: np.ndarray, probs: np.ndarray) -> tuple:
    """(average precision, positive fraction) of each feature with both classes."""
    both = [j for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
    return (np.array([roc_and_pr_auc(labels[:, j], probs[:, j])[1] for j in both]),
            labels[:, both].mean(axis=0))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def mean_pr_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean average precision over the features with both classes (NaN when none has)."""
    return _mean(_pr_aucs(labels, probs)[0])


def mean_pr_lift(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean over the features with both classes of log2(average precision / positive fraction):
    how many doublings above a random ranking each feature's PR AUC is. Unlike the mean PR AUC,
    which the common features dominate, a rare feature counts as much as a common one."""
    ap, prevalence = _pr_aucs(labels, probs)
    return _mean(np.log2(ap / prevalence))


class ValidPRAUC(Callback):
    """Log ``valid_auprc`` (the validation mean PR AUC) and ``valid_prlift`` (:func:`mean_pr_lift`)
    from predictions in the strand mode the model validates with (one device: predictions are not
    gathered across ranks)."""

    def __init__(self):
        self._probs: List[np.ndarray] = []
        self._labels: List[np.ndarray] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._probs, self._labels = [], []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking:
            return
        _, y = batch
        self._probs.append(outputs["probs"].float().cpu().numpy())  # validation_step's own forward pass
        self._labels.append(y.cpu().numpy())

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self._labels:
            return
        # one average precision per feature serves both scores
        ap, prevalence = _pr_aucs(np.concatenate(self._labels), np.concatenate(self._probs))
        pl_module.log(METRICS["auprc"], _mean(ap))
        pl_module.log(METRICS["prlift"], _mean(np.log2(ap / prevalence)))


class PruneOnReport(Callback):
    """Report ``monitor`` to the Optuna trial after each validation, and stop the trial
    (:class:`optuna.TrialPruned`) when the pruner says so. ``values`` keeps what was reported."""

    def __init__(self, trial, monitor: str):
        self.trial, self.monitor = trial, monitor
        self.values: List[float] = []
        self.validations = 0

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        step, self.validations = self.validations, self.validations + 1
        self.trial.set_user_attr("epochs", self.validations)
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        self.values.append(float(value))
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after {self.validations} validation(s) "
                                     f"({self.monitor} {float(value):.4f})")


# -- the search ----------------------------------------------------------------------------
def _build(args: List[str]):
    """:func:`dnaseq.training.train.build_cli`, with jsonargparse's complaint as one :class:`ConfigError` line."""
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            cli = build_cli(args)
    except SystemExit:
        raise ConfigError(explain_config_error(captured.getvalue())) from None
    return cli


def _objective(config: str, space: Sequence[Param], base, overrides: Mapping[str, Any], runs_dir: str, monitor: str):
    def objective(trial) -> float:
        values = {p.key: p.suggest(trial) for p in space}
        try:
            cli = _build(trial_args(config, base, {**overrides, **values}, runs_dir, monitor))
            trial.set_user_attr("run_dir", cli.run_dir)
            reporter = PruneOnReport(trial, monitor)
            cli.trainer.callbacks.extend(([] if monitor == METRICS["auroc"] else [ValidPRAUC()]) + [reporter])
            fit(cli)
        except optuna.TrialPruned as exc:
            trial.set_user_attr("note", str(exc))
            raise
        except (ValueError, RuntimeError, OSError) as exc:
            trial.set_user_attr("note", " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
            raise
        if not reporter.values:
            trial.set_user_attr("note", f"no finite {monitor} in any validation")
            raise ValueError(f"no finite {monitor}: no validated feature had both classes")
        return max(reporter.values)
    return objective


def make_study(seed: int = 0, prune: bool = True, pruner=None) -> "optuna.Study":
    """A study maximising the score: seeded TPE sampler, median pruner (from the second
    validation on, once 5 trials have finished) unless ``prune`` is false or ``pruner`` given."""
    if pruner is None:
        pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1) if prune
                  else optuna.pruners.NopPruner())
    return optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)


def check_search(config: str, search: str, overrides: Optional[Mapping[str, Any]] = None):
    """Everything checked before a search trains: the config, the search file and the
    overrides. Returns (the parameters, the parsed config); raises one line naming file and key."""
    config, search = str(config), str(search)
    overrides = {str(k): numbers(v) for k, v in (overrides or {}).items()}
    load_config(config)
    space = read_search_space(search)
    base = parse_args(["--config", config], config)
    for key in overrides:
        check_key(key, base, "overrides", searched_archs(space, base), searched=False)
    resolved = parse_args(["--config", config] + option_args(overrides, base), "overrides")
    check_base(resolved, config)
    check_space(space, config, base, overrides, search)
    return space, base


@api
def tune(config: str, search: str, trials: int, out: str, metric: str = "auroc", seed: int = 0,
         timeout: Optional[float] = None, overrides: Optional[Mapping[str, Any]] = None, prune: bool = True,
         pruner=None) -> TuneResult:
    """Search ``search`` (a YAML file, see the module docstring) over the train config ``config``
    with ``trials`` trials (fewer if ``timeout`` seconds pass first) scored on the validation split
    by ``metric`` (``auroc``, ``auprc`` or ``prlift``). ``overrides``: dotted keys set in every trial, not in
    the best config (``{"trainer.max_epochs": 2}``). Writes trials.tsv, best_config.yaml and
    trials.png into ``out``; returns (trial table, path of best_config.yaml)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    if int(trials) < 1:
        raise ValueError(f"trials must be at least 1, not {trials}")
    config, search, out = str(config), str(search), str(out)
    overrides = {str(k): numbers(v) for k, v in (overrides or {}).items()}
    space, base = check_search(config, search, overrides)
    ensure_writable_dir(out)
    monitor = METRICS[metric]
    study = make_study(seed, prune, pruner)
    writer = _Writer(config, search, out, space, monitor, seed, overrides)
    study.optimize(_objective(config, space, base, overrides, os.path.join(out, "runs"), monitor),
                   n_trials=int(trials), timeout=timeout, callbacks=[writer],
                   catch=(ValueError, RuntimeError, OSError))
    table = writer(study, None)
    if not (table.state == "complete").any():
        notes = [n for n in table.note if n]
        raise ValueError(f"no trial of {len(table)} finished" + (f"; the first: {notes[0]}" if notes else ""))
    return TuneResult(table, os.path.join(out, BEST))


# -- outputs -------------------------------------------------------------------------------
def trials_table(study, space: Sequence[Param]) -> pd.DataFrame:
    """One row per trial: number, state, value, each parameter, duration_s, epochs, run_dir, note."""
    rows = []
    for t in study.trials:
        row = {"number": t.number, "state": t.state.name.lower(),
               "value": t.value if t.value is not None else float("nan")}
        for p in space:
            row[p.key] = p.decode(t.params[p.key]) if p.key in t.params else None
        row["duration_s"] = round(t.duration.total_seconds(), 2) if t.duration else float("nan")
        row["epochs"] = t.user_attrs.get("epochs", 0)
        row["run_dir"] = t.user_attrs.get("run_dir", "")
        row["note"] = t.user_attrs.get("note", "")
        rows.append(row)
    return pd.DataFrame(rows, columns=["number", "state", "value", *[p.key for p in space], "duration_s",
                                       "epochs", "run_dir", "note"])


def _load_section(value, config: str) -> dict:
    """A section given as the path of its own YAML file, read (relative to the config's folder)."""
    path = value if os.path.isabs(value) else os.path.join(os.path.dirname(os.path.abspath(config)), value)
    with open(path if os.path.exists(path) else value, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def best_config(config: str, values: Mapping[str, Any]) -> dict:
    """The config file ``config`` as written, with ``values`` (dotted keys) set in it."""
    cfg = copy.deepcopy(load_config(config) or {})
    for key, value in values.items():
        parts = key.split(".")
        if parts[0] in SECTIONS and isinstance(cfg.get(parts[0]), str):
            cfg[parts[0]] = _load_section(cfg[parts[0]], config)
        set_path(cfg, parts, value, key)
    return cfg


class _ConfigDumper(yaml.SafeDumper):
    """Block-style YAML, with lists of plain values on one line (``conv_filters: [64, 64]``)."""


def _represent_list(dumper, value):
    flat = all(v is None or isinstance(v, (bool, int, float, str)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_ConfigDumper.add_representer(list, _represent_list)


def dump_yaml(cfg: dict) -> str:
    """``cfg`` as a config file reads: sections in blocks, in the order given."""
    return yaml.dump(cfg, Dumper=_ConfigDumper, sort_keys=False, default_flow_style=False)


def _header(study, config: str, search: str, monitor: str, seed: int, overrides: Mapping[str, Any],
            path: str) -> str:
    best = study.best_trial
    lines = [f"dnaseq tune: the best of {len(study.trials)} trials (trial {best.number}, "
             f"{monitor} {best.value:.4f} on the validation split)",
             f"config {config}, search {search}, seed {seed}"]
    if overrides:
        lines.append("search-time overrides, not applied here: "
                     + ", ".join(f"{k}={format_value(v)}" for k, v in overrides.items()))
    lines.append(f"train it: dnaseq train --config {path}")
    return "".join(f"# {line}\n" for line in lines)


def plot_trials(study, monitor: str, path: str) -> str:
    """Each trial's value (pruned ones at their best reported value) and the best so far."""
    from ..plots.figures import plot_search  # matplotlib: slow to import, needed only for the figure

    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    pruned = [t for t in study.trials if t.state.name == "PRUNED" and t.intermediate_values]
    return plot_search([t.number for t in done], [t.value for t in done], [t.number for t in pruned],
                       [max(t.intermediate_values.values()) for t in pruned], METRIC_NAMES.get(monitor, monitor), path)


class _Writer:
    """Study callback: rewrite trials.tsv, best_config.yaml and trials.png after every trial."""

    def __init__(self, config, search, out, space, monitor, seed, overrides):
        self.config, self.search, self.out, self.space = config, search, out, space
        self.monitor, self.seed, self.overrides = monitor, seed, overrides

    def __call__(self, study, trial) -> pd.DataFrame:
        table = trials_table(study, self.space)
        table.to_csv(os.path.join(self.out, TABLE), sep="\t", index=False)
        if any(t.state.name == "COMPLETE" for t in study.trials):
            best = study.best_trial
            values = {p.key: p.decode(best.params[p.key]) for p in self.space}
            text = dump_yaml(best_config(self.config, values))
            path = os.path.join(self.out, BEST)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(_header(study, self.config, self.search, self.monitor, self.seed, self.overrides, path)
                         + text)
        plot_trials(study, self.monitor, os.path.join(self.out, PLOT))
        return table
