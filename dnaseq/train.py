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


def valid_keys() -> List[str]:
    """Every ``section.option`` key a config may hold."""
    import inspect

    from pytorch_lightning import Trainer

    sections = {"trainer": Trainer, "model": SequenceModel, "data": DNADataModule,
                "checkpoint": ModelCheckpoint, "early_stopping": EarlyStopping}
    keys = ["seed_everything", "ckpt_path", "config", "weights_only"]
    for section, cls in sections.items():
        keys += [f"{section}.{p}" for p in inspect.signature(cls.__init__).parameters if p != "self"]
    return keys


def explain_config_error(message: str) -> str:
    """A short message for jsonargparse's complaint, naming the nearest valid key."""
    group = re.search(r"Group ['\"]([\w.\-]+)['\"] does not accept (?:option|key)s? ['\"]?([\w.\-]+)", message)
    m = (re.search(r"does not accept (?:option|key)s? ['\"]?([\w.\-]+)", message)
         or re.search(r"[Uu]nrecognized arguments: --?([\w.\-]+)", message)
         or re.search(r"[Kk]ey ['\"]([\w.\-]+)['\"]", message))
    if not m:
        return message.strip().splitlines()[-1] if message.strip() else "invalid configuration"
    key = f"{group.group(1)}.{group.group(2)}" if group else m.group(1)
    keys = valid_keys()
    near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not near:  # compare within the key's own section
        section = key.split(".")[0]
        near = difflib.get_close_matches(key, [k for k in keys if k.startswith(section + ".")], n=1, cutoff=0.3)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown configuration key {key!r}{hint} (run `dnaseq train --help` for all options)"


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
    except (FileNotFoundError, ValueError, KeyError) as exc:
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
