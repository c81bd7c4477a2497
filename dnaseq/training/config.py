"""Reading and checking ``dnaseq train`` configs before jsonargparse sees them: every key named,
the nearest valid key suggested, the file and line of bad YAML, and jsonargparse's own complaints
turned into one short line (:func:`explain_config_error`). Also the typing of free-form mapping
values given on the command line (:func:`typed_word`).
"""
from __future__ import annotations

import difflib
import functools
import inspect
import os
import re
from typing import List, Optional

import yaml
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from ..data.datamodule import DNADataModule
from .task import SequenceModel

EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 1e-4: a word to YAML 1.1


def typed_word(value):
    """``value`` read as YAML when it is a word that is a number, boolean or list: jsonargparse
    types the keys of a free-form mapping such as ``--model.arch_args.pool_sizes 1`` no further
    than the word '1', which the model would then get."""
    if not isinstance(value, str) or not value.strip():
        return value
    if EXPONENT.fullmatch(value.strip()):
        return float(value)
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return value if isinstance(parsed, str) or parsed is None else parsed


SECTIONS = ("trainer", "model", "data", "checkpoint", "early_stopping")


class ConfigError(ValueError):
    """A config for ``dnaseq train`` that cannot be used; the message names the file and the key."""


def valid_keys() -> List[str]:
    """Every ``section.option`` key a config may hold."""
    return list(_valid_keys())


@functools.lru_cache(maxsize=1)
def _valid_keys() -> tuple:
    sections = {"trainer": Trainer, "model": SequenceModel, "data": DNADataModule,
                "checkpoint": ModelCheckpoint, "early_stopping": EarlyStopping}
    keys = ["seed_everything", "ckpt_path", "config", "save_every_n_steps"]
    for section, cls in sections.items():
        keys += [f"{section}.{p}" for p in inspect.signature(cls.__init__).parameters if p != "self"]
    return tuple(keys)


def _is_valid_key(key: str) -> bool:
    """``key`` is an option, or lies inside one (``model.arch_args.conv_filters``)."""
    keys = _valid_keys()
    parts = key.split(".")
    if parts[0] in SECTIONS:
        return len(parts) == 1 or ".".join(parts[:2]) in keys
    return key in keys


def _nearest_key(key: str) -> Optional[str]:
    keys = _valid_keys()
    if "." not in key:  # a section or a top-level option
        near = difflib.get_close_matches(key, SECTIONS + tuple(k for k in keys if "." not in k), n=1, cutoff=0.6)
        if near:
            return near[0]
    near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not near:  # compare within the key's own section
        section = key.split(".")[0]
        near = difflib.get_close_matches(key, [k for k in keys if k.startswith(section + ".")], n=1, cutoff=0.3)
    return near[0] if near else None


def _unknown_key(key: str) -> str:
    near = _nearest_key(key)
    hint = f"; did you mean {near!r}?" if near and near != key else ""
    return f"unknown configuration key {key!r}{hint} (run `dnaseq train --help` for all options)"


def _kind(value) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), f"a {type(value).__name__}")


def _shorten(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_config(cfg, source: str = "config") -> None:
    """Check the shape and keys of a parsed config (what ``yaml.safe_load`` gave) before
    jsonargparse sees it: a mapping of sections, each a mapping of known options. Raises
    :class:`ConfigError` ``"<source>: <problem naming the key>"``; option values are left to
    jsonargparse (see :func:`explain_config_error`)."""
    if cfg is None:
        raise ConfigError(f"{source}: the config is empty (expected sections such as model:, data:, trainer:)")
    if not isinstance(cfg, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections (model:, data:, trainer:, ...), "
                          f"not {_kind(cfg)}: {_shorten(cfg)}")
    for key, value in cfg.items():
        if not isinstance(key, str):
            raise ConfigError(f"{source}: key {_shorten(key)} is not a name (keys are words such as 'model')")
        if key in SECTIONS:
            if isinstance(value, str):
                continue  # the path of a config file for this section alone
            if value is None:
                raise ConfigError(f"{source}: section {key!r} is empty (give it options, or remove it)")
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: section {key!r} must be a mapping of its options, "
                                  f"not {_kind(value)}: {_shorten(value)}")
            for option in value:
                if not isinstance(option, str):
                    raise ConfigError(f"{source}: key {_shorten(option)} under {key!r} is not a name")
                if not _is_valid_key(f"{key}.{option}"):
                    raise ConfigError(f"{source}: {_unknown_key(f'{key}.{option}')}")
        elif not _is_valid_key(key):
            raise ConfigError(f"{source}: {_unknown_key(key)}")


def load_config(path: str) -> Optional[dict]:
    """Read and check the config ``path`` as ``--config path`` would (see :func:`check_config`).

    Raises :class:`ConfigError` naming the path when it does not exist, is not UTF-8 text, is not
    YAML, or holds a bad key. ``--config`` also takes a YAML mapping itself rather than a path:
    such a value is checked too. Remote paths (``s3://...``) are left to jsonargparse (None)."""
    path = str(path)
    if "://" in path:
        return None
    if not os.path.exists(path):
        try:
            inline = yaml.safe_load(path)
        except (yaml.YAMLError, RecursionError, ValueError):
            inline = None
        if isinstance(inline, dict):
            check_config(inline, source="--config value")
            return inline
        raise ConfigError(f"config file not found: {path}")
    if os.path.isdir(path):
        raise ConfigError(f"config file {path} is a folder, not a YAML file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML text file (byte {exc.start} is not UTF-8 text)") from exc
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    except (RecursionError, ValueError) as exc:
        raise ConfigError(f"{path}: not a usable YAML file ({type(exc).__name__}: {exc})") from exc
    check_config(cfg, source=path)
    return cfg


def config_paths(argv: List[str]) -> List[str]:
    """The values given to ``-c`` / ``--config`` in ``argv``, in order."""
    out = []
    for i, arg in enumerate(argv):
        if arg in ("-c", "--config") and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--config="):
            out.append(arg[len("--config="):])
    return out


def check_config_args(argv: List[str]) -> None:
    """:func:`load_config` on every ``--config`` of a ``dnaseq train`` command line."""
    for path in config_paths(argv):
        load_config(path)


def explain_config_error(message: str) -> str:
    """A short message for jsonargparse's complaint, naming the key, or the nearest valid key."""
    text = message.strip()
    missing = re.search(r"""Parser key ['"]config['"]:\s*File does not exist:\s*['"]?(.*?)['"]?\s*$""", text, re.M)
    if missing:
        return f"config file not found: {missing.group(1)}"
    if re.search(r"Unexpected config", text):
        return "the config must be a mapping of sections (model:, data:, trainer:, ...)"
    parsing = re.search(r"Problems parsing config:\s*(.*)\n?(.*)", text)
    if parsing:
        return f"the config is not valid YAML: {': '.join(g.strip() for g in parsing.groups() if g.strip())}"
    sub = re.search(r"""Parser key ['"]([\w.\-]+)['"]:\s*Unable to load config ['"]?(.*?)['"]?\s*$""", text, re.M)
    if sub:
        return f"cannot load the config file {sub.group(2)} given for {sub.group(1)!r}"
    group = re.search(r"Group ['\"]([\w.\-]+)['\"] does not accept (?:option|key)s? ['\"]?([\w.\-]+)", text)
    m = (re.search(r"does not accept (?:option|key)s? ['\"]?([\w.\-]+)", text)
         or re.search(r"[Uu]nrecognized arguments: --?([\w.\-]+)", text)
         or re.search(r"Option ['\"]([\w.\-]+)['\"] is not accepted", text)
         or re.search(r"[Kk]ey ['\"]([\w.\-]+)['\"]", text))
    if not m:
        last = re.sub(r"^error:\s*", "", text.splitlines()[-1].strip()) if text else ""
        return last or "invalid configuration"
    key = f"{group.group(1)}.{group.group(2)}" if group else m.group(1)
    if not _is_valid_key(key):
        return _unknown_key(key)
    # a known key with a bad value (or some other problem): say what was given and expected
    given = re.search(r"(?:Given|Got) value:\s*(.*)", text)
    expected = []
    for e in re.findall(r"Expected an? (.+?)(?:\. Got value:.*)?$", text, re.M):
        e = re.sub(r"<class '(?:[\w]+\.)*([\w]+)'>", r"\1", e.strip())
        if e not in expected:
            expected.append(e)
    if given:
        hint = f" (expected {' or '.join(expected)})" if expected else ""
        hint = hint if len(hint) < 300 else hint[:296] + "...)"
        return f"invalid value {given.group(1).strip()!r} for {key!r}{hint}"
    after = text[m.end():].strip(" :\n\"'")
    detail = after.splitlines()[0].strip() if after else ""
    return f"invalid configuration for {key!r}" + (f": {detail}" if detail else "")
