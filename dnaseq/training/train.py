"""``dnaseq train``: Lightning's own CLI (LightningCLI / jsonargparse) over :class:`SequenceModel`
and :class:`DNADataModule`.

Every Trainer option (devices, accelerator, precision such as ``bf16-mixed``, strategy such as
``ddp``, max_epochs, accumulate_grad_batches, callbacks, loggers) comes from the YAML config or
the command line. Sizes the model needs from the data (features, their names and groups,
window length) are linked from the data module, so configs never repeat them.

Always present, and configurable under their own keys: ``checkpoint`` (best by validation mean
ROC AUC as ``best.ckpt``, plus ``last.ckpt``) and ``early_stopping``. Each run writes into its own
folder (:mod:`dnaseq.training.runs`); ``save_every_n_steps: N`` also rewrites ``last.ckpt`` every N
steps, and a run killed at any point continues exactly with ``--ckpt_path last``
(:mod:`dnaseq.training.resume`).
"""
from __future__ import annotations

import io
import logging
import os
import re
import shlex
import shutil
import sys
import warnings
from contextlib import redirect_stderr
from typing import List, Optional

import torch
from jsonargparse import DefaultHelpFormatter
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from ..data.datamodule import DNADataModule
from ..models import ModelArgumentError, describe_models, is_language_model
from ..outputs import ensure_writable_dir
from .config import ConfigError, check_config_args, config_paths, explain_config_error, typed_word
from .console import EpochSummary, LogInterval, bars_wanted, quiet_fit_warnings
from .logs import default_loggers
from .data_checks import check_train_split
from .resume import ExactResume, LastEveryEpoch, step_checkpoint
from .runs import RUN_DIR_ENV, resolve_run_dir, run_name
from .task import SequenceModel, check_compatible


class _ParsedOnly(Exception):
    """Raised by :func:`parse_config` to stop before anything is instantiated."""


_UNSET_HELP = {
    "trainer.enable_progress_bar": "progress bars; unset (null): bars when stdout and stderr are terminals, "
                                   "otherwise one line per epoch (epoch, losses, valid_auroc, seconds)",
    "trainer.log_every_n_steps": "how often to log within an epoch; unset (null): every 50 steps, or fewer "
                                 "when an epoch has fewer batches",
}


MAPPING_OPTIONS = ("model.arch_args", "model.scheduler_args")  # free-form {name: value} options
LM_GRADIENT_CLIP = 1.0  # a language model's gradient norm clip when trainer.gradient_clip_val is unset


#: Trainer options where a whole number counts batches and a fraction a share (Lightning's rule for
#: Python values); jsonargparse reads the word '1' as 1.0 (all batches), so a word of digits is kept whole
BATCH_LIMITS = ("trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.limit_test_batches",
                "trainer.limit_predict_batches", "trainer.val_check_interval")


def whole_number_options(args: List[str]) -> dict:
    """``{key: int}`` for the :data:`BATCH_LIMITS` given on the command line as a word of digits."""
    out = {}
    for i, arg in enumerate(args):
        key, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if key in BATCH_LIMITS and not sep and i + 1 < len(args):
            value = args[i + 1]
        if key in BATCH_LIMITS and value.strip().isdigit():
            out[key] = int(value)
    return out


class DnaseqCLI(LightningCLI):
    parse_only = False
    progress_bars: Optional[bool] = None  # what trainer.enable_progress_bar: null means; None: ask the terminal
    whole_numbers: dict = {}  # BATCH_LIMITS given as whole numbers (whole_number_options)

    def before_instantiate_classes(self) -> None:
        for key, value in self.whole_numbers.items():
            self.config[key] = value
        for key in MAPPING_OPTIONS:
            mapping = self.config.get(key)
            if isinstance(mapping, dict):
                self.config[key] = {name: typed_word(v) for name, v in mapping.items()}
        if is_language_model(self.config.get("model.arch") or ""):
            for section in ("checkpoint", "early_stopping"):  # a language model is judged by bits per base
                if self.config.get(f"{section}.monitor") == "valid_auroc":
                    self.config[f"{section}.monitor"], self.config[f"{section}.mode"] = "valid_bpb", "min"
            if self.config.get("trainer.gradient_clip_val") is None:  # recurrences: clipped unless the config says
                self.config["trainer.gradient_clip_val"] = LM_GRADIENT_CLIP
        if self.parse_only:
            raise _ParsedOnly(self.config)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.monitor": "valid_auroc", "checkpoint.mode": "max",
                             "checkpoint.save_last": True, "checkpoint.save_top_k": 1,
                             "checkpoint.filename": "best", "checkpoint.enable_version_counter": False})
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({"early_stopping.monitor": "valid_auroc", "early_stopping.mode": "max",
                             "early_stopping.patience": 5})
        # dnaseq runs fit itself (run=False), so the resume path is its own top-level option
        parser.add_argument("--ckpt_path", default=None,
                            help="resume from: 'last' (the newest run of this config), a run folder, or a .ckpt file")
        parser.add_argument("--save_every_n_steps", type=int, default=0,
                            help="also rewrite last.ckpt every N training steps (0: at epoch ends only)")
        for attr in ("n_features", "seq_len", "feature_names", "feature_groups"):
            parser.link_arguments(f"data.{attr}", f"model.{attr}", apply_on="instantiate")
        # the N fill used in training travels in the checkpoint, so inference uses the same
        parser.link_arguments("data.fill", "model.fill")
        for action in parser._actions:  # what dnaseq does when these are left unset
            if action.dest in _UNSET_HELP:
                action.help = _UNSET_HELP[action.dest]

    def _instantiate_trainer(self, config: dict, callbacks: list):
        """Put the run in its folder (see :mod:`dnaseq.training.runs`) unless the config names
        other places, and add the exact-resume and step-checkpoint callbacks."""
        check_train_split(self.datamodule)  # before the trainer prints anything
        for key, value in self.whole_numbers.items():  # jsonargparse made them floats again when instantiating
            config[key.split(".", 1)[1]] = value
        root = config.get("default_root_dir") or "runs"
        _writable_folder(str(root), "--trainer.default_root_dir")
        ckpt_path = self.config.get("ckpt_path")
        names = [str(c) for c in (self.config.get("config") or [])]
        self.run_dir, self.resume_from = resolve_run_dir(str(root), run_name(names), ckpt_path)
        folder, version = os.path.split(self.run_dir)
        if config.get("logger") in (None, True):
            config["logger"] = default_loggers(os.path.dirname(folder), os.path.basename(folder), version)
        config["default_root_dir"] = self.run_dir
        checkpoint = self.config_init.get("checkpoint")
        self.own_checkpoint_folder = checkpoint is not None and checkpoint.dirpath is None
        if self.own_checkpoint_folder:
            checkpoint.dirpath = self.run_dir
        elif checkpoint is not None:
            _writable_folder(str(checkpoint.dirpath), "--checkpoint.dirpath")
        extra = [ExactResume()]
        last_dir = checkpoint.dirpath if checkpoint is not None else self.run_dir
        if checkpoint is None or checkpoint.save_last:
            extra.append(LastEveryEpoch(last_dir))
        if config.get("log_every_n_steps") is None:
            extra.append(LogInterval())
        if config.get("enable_progress_bar") is None:  # not set: bars on a terminal, else a line per epoch
            config["enable_progress_bar"] = bars_wanted() if self.progress_bars is None else self.progress_bars
            if not config["enable_progress_bar"]:
                extra.append(EpochSummary())
        every = int(self.config.get("save_every_n_steps") or 0)
        if every:
            extra.append(step_checkpoint(last_dir, every))
        return super()._instantiate_trainer(config, list(callbacks) + extra)


def _writable_folder(path: str, option: str) -> None:
    """Create ``path`` or stop, before anything is built, with one line naming it and the option."""
    if "://" not in path:  # remote (s3://...): left to Lightning's filesystem layer
        ensure_writable_dir(path, option)


class _HelpFormatter(DefaultHelpFormatter):
    """``train --help`` states each default once: Lightning's docstrings say "Default: ``x``."
    and jsonargparse adds "(type: ..., default: x)"; the docstring's copy is dropped."""

    def _get_help_string(self, action) -> str:
        text = super()._get_help_string(action)
        if "default: " in text:
            text = re.sub(r"\s*\bDefault:\s*(``[^`]*``|[^\s`]+?)\.(?=\s|$)", "", text)
        return text


def _default_trainer() -> dict:
    return {"use_distributed_sampler": False}


def build_cli(args: Optional[List[str]] = None, progress_bars: Optional[bool] = None) -> DnaseqCLI:
    """Parse CLI-style arguments and instantiate model, data and trainer (no training yet).
    ``progress_bars``: what an unset ``trainer.enable_progress_bar`` means (None: bars when
    stdout and stderr are terminals, see :mod:`dnaseq.training.console`)."""
    cls = type("DnaseqCLI", (DnaseqCLI,), {"progress_bars": progress_bars,
                                           "whole_numbers": whole_number_options(list(args or []))})
    return cls(SequenceModel, DNADataModule, args=list(args or []), run=False,
                     trainer_defaults=_default_trainer(), save_config_kwargs={"overwrite": True},
                     auto_configure_optimizers=False,
               parser_kwargs={"formatter_class": _HelpFormatter, "allow_abbrev": False})


def parse_config(args: Optional[List[str]] = None):
    """The full config (jsonargparse Namespace) that ``args`` give, without building anything:
    checks a config for another machine (8 GPUs x 2 nodes) on this one."""
    class _Parser(DnaseqCLI):
        parse_only = True
        whole_numbers = whole_number_options(list(args or []))
    try:
        _Parser(SequenceModel, DNADataModule, args=list(args or []), run=False,
                trainer_defaults=_default_trainer(), auto_configure_optimizers=False,
                parser_kwargs={"allow_abbrev": False})
    except _ParsedOnly as parsed:
        return parsed.args[0]
    raise RuntimeError("unreachable: parsing did not stop before instantiation")


def fit(cli: DnaseqCLI) -> DnaseqCLI:
    """Train what :func:`build_cli` set up, resuming from ``--ckpt_path`` when given."""
    _check_resume_compatible(cli)
    before = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = getattr(cli, "run_dir", "") or before or ""  # ranks that Lightning starts during fit inherit the folder
    quiet = bool(getattr(cli, "own_checkpoint_folder", False) or _resume_path(cli))
    try:
        with quiet_fit_warnings(own_checkpoint_folder=quiet):
            cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=_resume_path(cli))
    finally:  # leave the caller's environment as it was: a later run gets a folder of its own
        if before is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = before
    return cli


def _resume_path(cli) -> Optional[str]:
    """The checkpoint the run continues from (resolved from ``--ckpt_path`` with the run folder)."""
    return cli.resume_from if hasattr(cli, "resume_from") else cli.config.get("ckpt_path")


def run_training(args=None) -> DnaseqCLI:
    """Train from CLI-style arguments (``--config X.yaml``, overrides, ``--ckpt_path last``): a
    list (paths and numbers in it are taken as text) or one string split as a shell would. A
    usage error (a misspelt option or key, a config that is not there) is a ValueError naming it,
    never a SystemExit that would end the caller's process."""
    if isinstance(args, (str, os.PathLike)):
        args = shlex.split(os.fspath(args))
    args = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in (args or [])]
    captured = io.StringIO()
    try:
        cli = _checked_cli(args, captured)
    except MisconfigurationException as exc:
        raise ValueError(_in_words(exc)) from exc
    sys.stderr.write(captured.getvalue())
    return fit(cli)


def _checked_cli(args: List[str], captured: io.StringIO, progress_bars: Optional[bool] = None) -> DnaseqCLI:
    """:func:`build_cli` after the configs' own checks, with jsonargparse's output kept in
    ``captured``: a missing config is FileNotFoundError, a usage error (a misspelt option or key)
    ConfigError with one line; the API and the command report these their own ways."""
    missing = [path for path in config_paths(args) if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError(f"config file not found: {missing[0]}")
    check_config_args(args)
    try:
        with redirect_stderr(captured):
            return build_cli(args, progress_bars=progress_bars)
    except SystemExit as exc:
        if exc.code:
            raise ConfigError(explain_config_error(captured.getvalue())) from None
        raise


def _no_tips(record) -> bool:
    """Drop Lightning's advertising lines ("Tip: ... litlogger / litmodels")."""
    return "Tip:" not in str(record.msg)


def quiet_lightning_tips() -> None:
    """Keep Lightning's advertising out of a command's output (``train``, ``tune``)."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if _no_tips not in logger.filters:
        logger.addFilter(_no_tips)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``dnaseq train``; errors become one clear line instead of a usage dump."""

    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_lightning_tips()
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
    if "--list-models" in argv:
        print(describe_models())
        return 0
    if any(a in ("-h", "--help") for a in argv):
        try:
            build_cli(argv)  # prints the help and exits
        finally:
            print("\nArchitectures (model.arch) with their arguments and sizes: dnaseq train --list-models "
                  "(or dnaseq models)")
        return 0
    captured = io.StringIO()
    try:
        cli = _checked_cli(argv, captured, progress_bars=bars_wanted())  # bars asked before stderr is captured
    except SystemExit:  # exit status 0 from jsonargparse (--print_config ...): its output is the answer
        sys.stderr.write(captured.getvalue())
        return 0
    except ConfigError as exc:  # a usage error (2); a missing input file is an error (1), as in every command
        print(f"dnaseq train: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:  # TypeError: jsonargparse on odd input
        sys.stderr.write(_without_usage(captured.getvalue()))
        print(f"dnaseq train: error: {_root_cause(exc)}", file=sys.stderr)
        return 2 if _is_usage_error(exc) else 1
    except MisconfigurationException as exc:  # Lightning's: e.g. a GPU asked for on a machine without one
        sys.stderr.write(_without_usage(captured.getvalue()))
        print(f"dnaseq train: error: {_in_words(exc)}", file=sys.stderr)
        return 1
    sys.stderr.write(captured.getvalue())
    try:
        fit(cli)
    except (FileNotFoundError, ValueError) as exc:
        print(f"dnaseq train: error: {_root_cause(exc)}", file=sys.stderr)
        _remove_if_nothing_ran(cli)
        return 1
    except (SystemExit, KeyboardInterrupt):  # Lightning turns Ctrl-C into sys.exit(1)
        if not cli.trainer.interrupted:
            raise
        if cli.trainer.global_rank == 0:
            _say_interrupted(cli, argv)
        return 130
    if cli.trainer.global_rank == 0:
        print(f"run folder: {cli.run_dir}")
        best = cli.trainer.checkpoint_callback.best_model_path if cli.trainer.checkpoint_callback else ""
        if best:
            print(f"best checkpoint: {best}")
        last = getattr(cli.trainer.checkpoint_callback, "last_model_path", "")
        if last:
            print(f"last checkpoint: {last}")
    return 0


#: what a run folder holds before its first step: a failed start leaves nothing else
_SET_UP_ONLY = {"config.yaml", "hparams.yaml"}


def _remove_if_nothing_ran(cli) -> None:
    """A run that failed before it saved anything (an empty split, a wrong option found by the
    data module) leaves no run folder that holds only its config: a later --ckpt_path last or
    a look at runs/ would find a run that never was."""
    folder = getattr(cli, "run_dir", "")
    if not folder or not os.path.isdir(folder) or cli.trainer.global_rank != 0:
        return
    names = set(os.listdir(folder))
    if names <= _SET_UP_ONLY and not getattr(cli, "resume_from", None):
        shutil.rmtree(folder, ignore_errors=True)


def _say_interrupted(cli, argv: List[str]) -> None:
    """After Ctrl-C: where the run stopped, and the command that continues it."""
    last = os.path.join(cli.trainer.checkpoint_callback.dirpath or cli.run_dir, "last.ckpt") \
        if cli.trainer.checkpoint_callback is not None else os.path.join(cli.run_dir, "last.ckpt")
    rest = [a for i, a in enumerate(argv) if a != "--ckpt_path" and (i == 0 or argv[i - 1] != "--ckpt_path")]
    if os.path.exists(last):
        print(f"dnaseq train: interrupted at epoch {cli.trainer.current_epoch}, step {cli.trainer.global_step}; "
              f"the run is saved in {last}. Continue it with:\n  dnaseq train {shlex.join(rest + ['--ckpt_path', last])}",
              file=sys.stderr)
    else:
        print(f"dnaseq train: interrupted before the first step: nothing saved in {cli.run_dir}", file=sys.stderr)


def _check_resume_compatible(cli) -> None:
    """Refuse, with both numbers, to resume a checkpoint on data of another shape."""
    ckpt = _resume_path(cli)
    if not ckpt:
        return
    if ckpt in ("last", "best") and cli.trainer.checkpoint_callback is not None:
        ckpt = os.path.join(cli.trainer.checkpoint_callback.dirpath or "", "last.ckpt")
    if not os.path.exists(ckpt):
        if cli.config.get("ckpt_path") == "last":
            print("dnaseq train: no last.ckpt of an earlier run to resume from: starting a new run",
                  file=sys.stderr)
            cli.resume_from = None
            return
        raise FileNotFoundError(f"checkpoint to resume from not found: {ckpt}")

    hp = torch.load(ckpt, map_location="cpu", weights_only=False).get("hyper_parameters", {})
    dm = cli.datamodule
    check_compatible(hp.get("n_features", dm.n_features), hp.get("seq_len", dm.seq_len), dm.n_features,
                     dm.seq_len, model_label=f"checkpoint {ckpt}", data_label=f"the dataset {dm.data}")


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None and isinstance(exc.__cause__, (FileNotFoundError, ValueError, KeyError)):
        exc = exc.__cause__
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


def _in_words(exc: BaseException) -> str:
    """Lightning's complaint about the trainer settings, with the option to change when it is a
    device that this machine lacks."""
    text = str(exc)
    if "gpu backend" in text.lower() or "cuda" in text.lower() and not torch.cuda.is_available():
        return (f"trainer.accelerator asks for a GPU, but torch {torch.__version__} sees none on this machine: "
                f"use --trainer.accelerator cpu (or auto)")
    return f"trainer settings: {text}"


def _is_usage_error(exc: BaseException) -> bool:
    """A misspelt architecture or hyperparameter in the config, anywhere in the exception's chain."""
    while exc is not None:
        if isinstance(exc, ModelArgumentError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _without_usage(text: str) -> str:
    return "" if "usage:" in text else text
