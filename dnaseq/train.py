"""``dnaseq train``: Lightning's own CLI (LightningCLI / jsonargparse) over :class:`SequenceModel`
and :class:`DNADataModule`.

Every Trainer option (devices, accelerator, precision such as ``bf16-mixed``, strategy such as
``ddp``, max_epochs, accumulate_grad_batches, callbacks, loggers) comes from the YAML config or
the command line. Sizes the model needs from the data (features, their names and groups,
window length) are linked from the data module, so configs never repeat them.

Always present, and configurable under their own keys: ``checkpoint`` (best by validation mean
ROC AUC plus ``last.ckpt``) and ``early_stopping``.
"""
from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from typing import List, Optional

from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI

from .datamodule import DNADataModule
from .task import SequenceModel


class DnaseqCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.monitor": "valid_auroc", "checkpoint.mode": "max",
                             "checkpoint.save_last": True, "checkpoint.save_top_k": 1,
                             "checkpoint.filename": "best-{epoch}-{valid_auroc:.4f}"})
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({"early_stopping.monitor": "valid_auroc", "early_stopping.mode": "max",
                             "early_stopping.patience": 5})
        # dnaseq runs fit itself (run=False), so the resume path is its own top-level option
        parser.add_argument("--ckpt_path", default=None,
                            help="checkpoint to resume from: a path, or 'last' / 'best'")
        for attr in ("n_features", "seq_len", "feature_names", "feature_groups"):
            parser.link_arguments(f"data.{attr}", f"model.{attr}", apply_on="instantiate")
        # the N fill used in training travels in the checkpoint, so inference uses the same
        parser.link_arguments("data.fill", "model.fill")


def _default_trainer() -> dict:
    loggers = [{"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs"}}]
    try:
        import tensorboard  # noqa: F401
        loggers.append({"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                        "init_args": {"save_dir": "runs"}})
    except ImportError:
        pass
    return {"logger": loggers, "use_distributed_sampler": False}


def build_cli(args: Optional[List[str]] = None) -> DnaseqCLI:
    """Parse CLI-style arguments and instantiate model, data and trainer (no training yet)."""
    return DnaseqCLI(SequenceModel, DNADataModule, args=list(args or []), run=False,
                     trainer_defaults=_default_trainer(), save_config_kwargs={"overwrite": True},
                     auto_configure_optimizers=False)


def fit(cli: DnaseqCLI) -> DnaseqCLI:
    """Train what :func:`build_cli` set up, resuming from ``--ckpt_path`` when given."""
    _check_resume_compatible(cli)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=cli.config.get("ckpt_path"))
    return cli


def run_training(args: Optional[List[str]] = None) -> DnaseqCLI:
    """Train from CLI-style arguments (``--config X.yaml``, overrides, ``--ckpt_path last``)."""
    return fit(build_cli(args))


SECTIONS = ("trainer", "model", "data", "checkpoint", "early_stopping")


class ConfigError(ValueError):
    """A config for ``dnaseq train`` that cannot be used; the message names the file and the key."""


def valid_keys() -> List[str]:
    """Every ``section.option`` key a config may hold."""
    return list(_valid_keys())


@functools.lru_cache(maxsize=1)
def _valid_keys() -> tuple:
    import inspect

    from pytorch_lightning import Trainer

    sections = {"trainer": Trainer, "model": SequenceModel, "data": DNADataModule,
                "checkpoint": ModelCheckpoint, "early_stopping": EarlyStopping}
    keys = ["seed_everything", "ckpt_path", "config"]
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
    import yaml

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


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``dnaseq train``; errors become one clear line instead of a usage dump."""
    import io
    import warnings
    from contextlib import redirect_stderr

    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
    if any(a in ("-h", "--help") for a in argv):
        build_cli(argv)  # prints the help and exits
        return 0
    try:
        check_config_args(argv)
    except ConfigError as exc:
        print(f"dnaseq train: error: {exc}", file=sys.stderr)
        return 2
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            cli = build_cli(argv)
    except SystemExit as exc:
        if exc.code:
            print(f"dnaseq train: error: {explain_config_error(captured.getvalue())}", file=sys.stderr)
            return 2
        sys.stderr.write(captured.getvalue())
        return 0
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:  # TypeError: jsonargparse on odd input
        sys.stderr.write(_without_usage(captured.getvalue()))
        print(f"dnaseq train: error: {_root_cause(exc)}", file=sys.stderr)
        return 1
    sys.stderr.write(captured.getvalue())
    try:
        fit(cli)
    except (FileNotFoundError, ValueError) as exc:
        print(f"dnaseq train: error: {_root_cause(exc)}", file=sys.stderr)
        return 1
    best = cli.trainer.checkpoint_callback.best_model_path if cli.trainer.checkpoint_callback else ""
    if best:
        print(f"best checkpoint: {best}")
    return 0


def _check_resume_compatible(cli) -> None:
    """Refuse, with both numbers, to resume a checkpoint on data of another shape."""
    import os

    import torch

    ckpt = cli.config.get("ckpt_path")
    if not ckpt:
        return
    if ckpt in ("last", "best") and cli.trainer.checkpoint_callback is not None:
        ckpt = os.path.join(cli.trainer.checkpoint_callback.dirpath or "", "last.ckpt")
    if not os.path.exists(ckpt):
        if cli.config.get("ckpt_path") == "last":
            return  # Lightning starts from scratch with a warning
        raise FileNotFoundError(f"checkpoint to resume from not found: {ckpt}")
    from .task import check_compatible

    hp = torch.load(ckpt, map_location="cpu", weights_only=False).get("hyper_parameters", {})
    dm = cli.datamodule
    check_compatible(hp.get("n_features", dm.n_features), hp.get("seq_len", dm.seq_len), dm.n_features,
                     dm.seq_len, model_label=f"checkpoint {ckpt}", data_label=f"the dataset {dm.data}")


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None and isinstance(exc.__cause__, (FileNotFoundError, ValueError, KeyError)):
        exc = exc.__cause__
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


def _without_usage(text: str) -> str:
    return "" if "usage:" in text else text
