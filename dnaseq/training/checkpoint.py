"""Checkpoints in and out of use: a model loaded from a ``dnaseq train`` checkpoint (or run
folder) for every command that applies one, with one clear line for a file that is not a
checkpoint, and a language model refused where a chromatin model is needed."""
from __future__ import annotations

import os
import warnings

import torch

from .._lazy import api
from .runs import checkpoint_in
from .task import SequenceModel


def as_model(checkpoint, language_model: bool = False) -> "tuple[SequenceModel, str]":
    """(model, label) from a checkpoint path or an already loaded model. A DNA language model is
    refused, naming it, unless ``language_model`` (the command takes one): every other command
    reads chromatin features from a model's outputs."""
    if isinstance(checkpoint, (str, os.PathLike)):
        model, label = load_model(str(checkpoint)), str(checkpoint)
    else:
        model, label = checkpoint, "in-memory model"
    if getattr(model, "language_model", False) and not language_model:
        raise ValueError(f"{label} is a DNA language model (it predicts bases, not chromatin features): this "
                         f"command needs a chromatin model trained on a dataset from `dnaseq build-dataset`")
    return model, label


def _check_checkpoint_file(path: str) -> None:
    """One clear line for a file that is not a PyTorch checkpoint (a dataset, a text file ...)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89HDF"):
        raise ValueError(f"{path} is an HDF5 file (a dataset or predictions?), not a dnaseq checkpoint: "
                         "pass the .ckpt (or the run folder) that dnaseq train wrote")
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise ValueError(f"{path} is not a PyTorch checkpoint: pass the .ckpt (or the run folder) "
                         "that dnaseq train wrote")


@api
def load_model(path: str, map_location: str = "cpu") -> SequenceModel:
    """A trained model, ready for prediction (eval mode), from a dnaseq checkpoint alone.

    ``path`` is a ``.ckpt`` file or a run folder of ``dnaseq train`` (its ``best.ckpt``)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    path = checkpoint_in(str(path))
    _check_checkpoint_file(path)
    if str(map_location).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"map_location={map_location!r}, but torch sees no GPU on this machine: load with "
                         f"map_location='cpu'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = SequenceModel.load_from_checkpoint(path, map_location=map_location)
        except (KeyError, RuntimeError, TypeError) as exc:
            raise ValueError(f"{path} is not a dnaseq checkpoint ({exc})") from exc
    model.eval()
    return model
