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

Each trial is a ``dnaseq train`` run: :func:`dnaseq.train.build_cli` with ``--config C`` and one
``--key value`` per override and drawn value, trained by :func:`dnaseq.train.fit` in a run folder
of its own, ``OUT/runs/<config name>/version_<N>`` (:mod:`dnaseq.training.runs`). Its value is
the best validation score over its epochs (what its ``best.ckpt`` holds): the mean ROC AUC
``valid_auroc`` that the checkpoint callback monitors, or with ``metric="auprc"`` the mean PR AUC
``valid_auprc`` (average precision, as :mod:`dnaseq.evaluate` computes it, logged by
:class:`ValidPRAUC`; checkpoint and early stopping then monitor it). Every validation is reported
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
import difflib
import inspect
import io
import math
import os
import re
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import optuna
import pandas as pd
import torch
import yaml
from pytorch_lightning.callbacks import Callback

from .evaluate import roc_and_pr_auc
from .models import MODELS
from .outputs import ensure_writable_dir
from .train import SECTIONS, ConfigError, build_cli, check_config, explain_config_error, fit, load_config, parse_config

METRICS = {"auroc": "valid_auroc", "auprc": "valid_auprc"}
METRIC_NAMES = {"valid_auroc": "validation mean ROC AUC", "valid_auprc": "validation mean PR AUC"}
KINDS = ("float", "int", "categorical")
_FIELDS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
           "categorical": {"type", "choices"}}
MAPPING_OPTIONS = ("model.arch_args", "model.scheduler_args")
# trials are many: their output is the trial table, not a progress bar each
QUIET = {"trainer.enable_progress_bar": False, "trainer.enable_model_summary": False}
TABLE, BEST, PLOT = "trials.tsv", "best_config.yaml", "trials.png"
_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 1e-4: a word to YAML 1.1


class SearchSpaceError(ValueError):
    """A search space that cannot be used; the message names the file and the key."""


class TuneResult(NamedTuple):
    table: pd.DataFrame
    best_config: str


# -- the search space ----------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched key and how its value is drawn."""
    key: str
    kind: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    choices: Tuple = ()
    labels: Tuple = field(default=(), compare=False)  # what Optuna stores for each choice

    def suggest(self, trial):
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return self.decode(trial.suggest_categorical(self.key, list(self.labels)))

    def decode(self, stored):
        """The config value of what Optuna stored (a choice's label for lists and mappings)."""
        return self.choices[self.labels.index(stored)] if self.kind == "categorical" else stored

    def candidates(self) -> list:
        """Values checked against the config before the search: the bounds, or every choice."""
        if self.kind == "categorical":
            return list(self.choices)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]


def numbers(value):
    """``value`` with YAML 1.2 numbers that YAML 1.1 read as words (``1e-4``) made numbers."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    return value


def _label(choice):
    """How Optuna stores a choice: itself when a scalar, else its one-line YAML."""
    return choice if choice is None or isinstance(choice, (bool, int, float, str)) else format_value(choice)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bound(spec: dict, name: str, kind: str, where: str):
    if name not in spec:
        raise SearchSpaceError(f"{where}: {kind} needs '{name}'")
    value = spec[name]
    if not _is_number(value) or (kind == "int" and float(value) != int(value)):
        raise SearchSpaceError(f"{where}: '{name}' must be {'a whole number' if kind == 'int' else 'a number'}, "
                               f"not {value!r}")
    return value


def parse_param(key: str, spec, source: str) -> Param:
    """A :class:`Param` from one entry of a search file, or :class:`SearchSpaceError`."""
    where = f"{source}: {key}"
    if isinstance(spec, list):
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict):
        raise SearchSpaceError(f"{where}: expected a mapping such as {{type: float, low: 0.0001, high: 0.01}} "
                               f"or a list of choices, not {spec!r}")
    spec = numbers(spec)
    kind = spec.get("type")
    if kind not in KINDS:
        near = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise SearchSpaceError(f"{where}: " + ("needs a 'type'" if kind is None else f"unknown type {kind!r}{hint}")
                               + f" (choose from {', '.join(KINDS)})")
    extra = sorted(set(spec) - _FIELDS[kind])
    if extra:
        raise SearchSpaceError(f"{where}: {kind} takes no {extra[0]!r} (it takes {', '.join(sorted(_FIELDS[kind]))})")
    if kind == "categorical":
        return _categorical(key, spec, where)
    low, high = _bound(spec, "low", kind, where), _bound(spec, "high", kind, where)
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{where}: 'log' must be true or false, not {log!r}")
    if low > high:
        raise SearchSpaceError(f"{where}: 'low' ({low}) is above 'high' ({high})")
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: a log scale needs 'low' > 0 (got {low})")
    if step is not None:
        step = _bound(spec, "step", kind, where)
        if step <= 0 or log:
            raise SearchSpaceError(f"{where}: " + ("'step' must be above 0" if step <= 0 else
                                                   "'step' and 'log: true' do not go together"))
    return Param(key, kind, low, high, log, step)


def _categorical(key: str, spec: dict, where: str) -> Param:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise SearchSpaceError(f"{where}: categorical needs 'choices', a non-empty list (got {choices!r})")
    labels = tuple(_label(c) for c in choices)
    if len(set(map(repr, labels))) != len(labels):
        raise SearchSpaceError(f"{where}: 'choices' repeats a value")
    return Param(key, "categorical", choices=tuple(choices), labels=labels)


def read_search_space(path: str) -> List[Param]:
    """The parameters of search file ``path`` (shape and types only; see :func:`check_space`)."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"search space file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise SearchSpaceError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except UnicodeDecodeError:
        raise SearchSpaceError(f"{path}: not a YAML text file") from None
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(f"{path}: expected a mapping of config keys to ranges, e.g. "
                               f"'model.lr: {{type: float, low: 0.0001, high: 0.01, log: true}}'")
    return [parse_param(str(key), spec, path) for key, spec in raw.items()]


# -- checks against the config -------------------------------------------------------------
def split_key(key: str) -> Tuple[str, List[str]]:
    """(option, the parts below it): ``model.arch_args.rnn_hidden`` -> (``model.arch_args``, [``rnn_hidden``])."""
    parts = key.split(".")
    n = 2 if parts[0] in SECTIONS else 1
    return ".".join(parts[:n]), parts[n:]


def get(cfg, option: str):
    """The value of ``section.option`` in a parsed config, with mappings as plain dicts."""
    value = cfg.get(option) if cfg is not None else None
    return value.as_dict() if hasattr(value, "as_dict") else value


def _arch_params(arch: str) -> Optional[List[str]]:
    """The hyperparameters model ``arch`` takes (None: any, or an unknown model)."""
    cls = MODELS.get(str(arch).lower())
    if cls is None:
        return None
    params = inspect.signature(cls).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return None
    return [p for p in params if p not in ("seq_len", "n_features")]


def check_key(key: str, base, source: str, archs: Sequence[str], searched: bool = True) -> None:
    """Refuse a key ``dnaseq train`` would not accept, or a searched one that names a split."""
    parts = key.split(".")
    if not all(parts):
        raise SearchSpaceError(f"{source}: {key!r} is not a dotted config key such as 'model.lr'")
    if parts[0] in SECTIONS and len(parts) == 1:
        raise SearchSpaceError(f"{source}: {key!r} is a section: name an option in it, such as 'model.lr'")
    try:
        check_config({parts[0]: {parts[1]: None}} if parts[0] in SECTIONS else {parts[0]: None}, source=source)
    except ConfigError as exc:
        raise SearchSpaceError(str(exc)) from None
    option, below = split_key(key)
    if searched and re.fullmatch(r"data\.\w+_split", option):
        raise SearchSpaceError(f"{source}: {key!r} cannot be set by a search: trials train on the train split, "
                               f"are scored on the validation split, and never read the test split")
    if not below:
        return
    if option not in MAPPING_OPTIONS and not isinstance(get(base, option), dict):
        raise SearchSpaceError(f"{source}: {key!r}: {option!r} takes one value, not keys below it")
    if option == "model.arch_args":
        for arch in archs:
            valid = _arch_params(arch)
            if valid is not None and below[0] not in valid:
                near = difflib.get_close_matches(below[0], valid, n=1)
                hint = f"; did you mean 'model.arch_args.{near[0]}'?" if near else ""
                raise SearchSpaceError(f"{source}: model {arch!r} has no hyperparameter {below[0]!r} ({key!r}){hint}")


def _archs(space: Sequence[Param], cfg) -> List[str]:
    for p in space:
        if p.key == "model.arch":
            return [str(c) for c in p.choices] if p.kind == "categorical" else []
    return [str(get(cfg, "model.arch"))]


def parse_args(args: List[str], source: str):
    """:func:`dnaseq.train.parse_config` of ``args``, a bad value one :class:`ConfigError` line."""
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            return parse_config(args)
    except SystemExit:
        raise ConfigError(f"{source}: {explain_config_error(captured.getvalue())}") from None


def check_space(space: Sequence[Param], config: str, base, overrides: Mapping[str, Any], source: str) -> None:
    """Every key of ``space`` is one ``dnaseq train`` takes, and every bound and choice parses."""
    archs = _archs(space, base)
    seen = set()
    for p in space:
        check_key(p.key, base, source, archs)
        if p.key in seen:
            raise SearchSpaceError(f"{source}: {p.key!r} is given twice")
        seen.add(p.key)
    for i in range(max(len(p.candidates()) for p in space)):
        values = {p.key: p.candidates()[i % len(p.candidates())] for p in space}
        parse_args(["--config", config] + option_args({**overrides, **values}, base), source)


def _devices(cfg) -> int:
    """How many devices per node the trainer section asks for (1 for ``auto`` and the like)."""
    devices = get(cfg, "trainer.devices")
    if isinstance(devices, (list, tuple)):
        return len(devices)
    text = str(devices).strip().rstrip(",")
    return len(text.split(",")) if "," in text else (int(text) if text.lstrip("-").isdigit() else 1)


def _check_base(cfg, config: str) -> None:
    """The config as the trials would run it: never scored on the test split, not resuming, on
    one device (a trial reports to Optuna from this process)."""
    if get(cfg, "data.val_split") == get(cfg, "data.test_split"):
        raise ConfigError(f"{config}: the validation split is the test split ({get(cfg, 'data.val_split')!r}); "
                          f"a search must not look at the test split")
    if cfg.get("ckpt_path"):
        raise ConfigError(f"{config}: ckpt_path is set: every trial starts afresh (remove it)")
    if _devices(cfg) != 1 or int(get(cfg, "trainer.num_nodes") or 1) > 1:
        raise ConfigError(f"{config}: trials run one at a time on one device; set trainer.devices=1 and "
                          f"trainer.num_nodes=1 (--set trainer.devices=1)")
    data = str(get(cfg, "data.data") or "")
    if data and "://" not in data and not os.path.exists(data):
        raise FileNotFoundError(f"dataset not found: {data} (data.data of {config})")


# -- building a trial's command line -------------------------------------------------------
def format_value(value) -> str:
    """``value`` as a ``--key value`` argument: words as they are, anything else as one-line YAML
    (floats keep their dot, ``1.0e-05``, so YAML reads them back as numbers)."""
    if isinstance(value, str):
        return value
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False).strip()
    return text[:-3].strip() if text.endswith("\n...") or text.endswith("...") else text


def _set_path(target: dict, parts: Sequence[str], value, key: str) -> None:
    for part in parts[:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {key!r}: {part!r} holds {nxt!r}, not a mapping")
        target = nxt
    target[parts[-1]] = value


def option_args(values: Mapping[str, Any], base) -> List[str]:
    """``--option value`` pairs for dotted ``values``. A key below an option (``model.arch_args.X``)
    is merged into that option's value in the parsed config ``base`` and the whole mapping passed:
    jsonargparse reads a lone ``--model.arch_args.X 0.1`` as the word '0.1'."""
    merged: Dict[str, Any] = {}
    for key, value in values.items():
        option, below = split_key(key)
        if not below:
            merged[option] = value
            continue
        current = merged.get(option)
        if not isinstance(current, dict):
            current = copy.deepcopy(get(base, option) or {})
        _set_path(current, below, value, key)
        merged[option] = current
    args: List[str] = []
    for option, value in merged.items():
        args += [f"--{option}", format_value(value)]
    return args


def trial_args(config: str, base, values: Mapping[str, Any], runs_dir: str, monitor: str) -> List[str]:
    """The ``dnaseq train`` arguments of one trial: its own run folder under ``runs_dir``."""
    args = ["--config", config] + option_args({**QUIET, **values}, base)
    args += ["--trainer.default_root_dir", runs_dir, "--checkpoint.dirpath", "null"]
    if monitor != METRICS["auroc"]:
        args += ["--checkpoint.monitor", monitor, "--early_stopping.monitor", monitor]
    return args


# -- callbacks -----------------------------------------------------------------------------
def mean_pr_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean average precision over the features with both classes (NaN when none has)."""
    both = [j for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
    return float(np.mean([roc_and_pr_auc(labels[:, j], probs[:, j])[1] for j in both])) if both else float("nan")


class ValidPRAUC(Callback):
    """Log ``valid_auprc``, the validation mean PR AUC, from predictions in the strand mode the
    model validates with (one device: predictions are not gathered across ranks)."""

    def __init__(self):
        self._probs: List[np.ndarray] = []
        self._labels: List[np.ndarray] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._probs, self._labels = [], []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking:
            return
        x, y = batch
        with torch.no_grad():
            self._probs.append(pl_module.predict_proba(x).float().cpu().numpy())
        self._labels.append(y.cpu().numpy())

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self._labels:
            return
        pl_module.log(METRICS["auprc"], mean_pr_auc(np.concatenate(self._labels), np.concatenate(self._probs)))


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
    """:func:`dnaseq.train.build_cli`, with jsonargparse's complaint as one :class:`ConfigError` line."""
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
            cli.trainer.callbacks.extend(([ValidPRAUC()] if monitor == METRICS["auprc"] else []) + [reporter])
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
        check_key(key, base, "overrides", _archs(space, base), searched=False)
    resolved = parse_args(["--config", config] + option_args(overrides, base), "overrides")
    _check_base(resolved, config)
    check_space(space, config, base, overrides, search)
    return space, base


def tune(config: str, search: str, trials: int, out: str, metric: str = "auroc", seed: int = 0,
         timeout: Optional[float] = None, overrides: Optional[Mapping[str, Any]] = None, prune: bool = True,
         pruner=None) -> TuneResult:
    """Search ``search`` (a YAML file, see the module docstring) over the train config ``config``
    with ``trials`` trials (fewer if ``timeout`` seconds pass first) scored on the validation split
    by ``metric`` (``auroc`` or ``auprc``). ``overrides``: dotted keys set in every trial, not in
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
        _set_path(cfg, parts, value, key)
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
    import matplotlib  # imported on use: slow, and only this figure needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4))
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    pruned = [t for t in study.trials if t.state.name == "PRUNED" and t.intermediate_values]
    ax.plot([t.number for t in done], [t.value for t in done], "o", label="complete")
    if pruned:
        ax.plot([t.number for t in pruned], [max(t.intermediate_values.values()) for t in pruned], "x",
                color="grey", label="pruned (best reported)")
    if done:
        ax.step([t.number for t in done], np.maximum.accumulate([t.value for t in done]), where="post",
                color="black", lw=1, label="best so far")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(METRIC_NAMES.get(monitor, monitor))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
