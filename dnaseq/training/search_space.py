"""The search space of ``dnaseq tune``: reading the YAML file (format in :mod:`dnaseq.training.tune`),
checking every key, bound and choice against what ``dnaseq train`` accepts before any trial
runs, and turning drawn values into ``dnaseq train`` arguments."""
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
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..models import MODELS
from .config import EXPONENT as _EXPONENT
from .config import SECTIONS, ConfigError, check_config, explain_config_error
from .train import parse_config

KINDS = ("float", "int", "categorical")
_FIELDS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
           "categorical": {"type", "choices"}}
MAPPING_OPTIONS = ("model.arch_args", "model.scheduler_args")


class SearchSpaceError(ValueError):
    """A search space that cannot be used; the message names the file and the key."""


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


def searched_archs(space: Sequence[Param], cfg) -> List[str]:
    for p in space:
        if p.key == "model.arch":
            return [str(c) for c in p.choices] if p.kind == "categorical" else []
    return [str(get(cfg, "model.arch"))]


def parse_args(args: List[str], source: str):
    """:func:`dnaseq.training.train.parse_config` of ``args``, a bad value one :class:`ConfigError` line."""
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            return parse_config(args)
    except SystemExit:
        raise ConfigError(f"{source}: {explain_config_error(captured.getvalue())}") from None


def check_space(space: Sequence[Param], config: str, base, overrides: Mapping[str, Any], source: str) -> None:
    """Every key of ``space`` is one ``dnaseq train`` takes, and every bound and choice parses."""
    archs = searched_archs(space, base)
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


def check_base(cfg, config: str) -> None:
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


def set_path(target: dict, parts: Sequence[str], value, key: str) -> None:
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
        set_path(current, below, value, key)
        merged[option] = current
    args: List[str] = []
    for option, value in merged.items():
        args += [f"--{option}", format_value(value)]
    return args
