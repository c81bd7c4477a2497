"""Model registry: every model is built from (seq_len, n_features, **hyperparameters)."""
from __future__ import annotations

import difflib
import inspect
import textwrap
from typing import Callable, Dict

import torch
from torch import nn

from ..settings import whole_number
from .beluga import Beluga
from .deepsea import DeepSEA
from .language import LanguageModelChromatin, RecurrentLM
from .recurrent import ConvRecurrent, DanQ

MODELS: Dict[str, Callable[..., nn.Module]] = {
    "deepsea": DeepSEA,
    "danq": DanQ,
    "conv_recurrent": ConvRecurrent,
    "beluga": Beluga,
    "lm": RecurrentLM,
    "lm_chromatin": LanguageModelChromatin,
}


class ModelArgumentError(ValueError):
    """An unknown architecture or hyperparameter name: a usage error (the command exits 2)."""


def register(name: str):
    """Decorator adding a model class to the registry under ``name``."""
    def wrap(cls):
        MODELS[name] = cls
        return cls
    return wrap


def build_model(name: str, seq_len: int, n_features: int, **hparams) -> nn.Module:
    """Instantiate registered model ``name`` for inputs of ``seq_len`` bp and ``n_features`` outputs."""
    key = name.lower()
    if key not in MODELS:
        near = difflib.get_close_matches(key, MODELS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ModelArgumentError(f"unknown model {name!r}{hint} (registered: {', '.join(sorted(MODELS))})")
    seq_len, n_features = whole_number(seq_len, "seq_len"), whole_number(n_features, "n_features")
    try:
        return MODELS[key](seq_len=seq_len, n_features=n_features, **hparams)
    except TypeError as exc:
        valid = [p for p in inspect.signature(MODELS[key]).parameters if p not in ("seq_len", "n_features")]
        bad = [k for k in hparams if k not in valid]
        if bad:
            near = difflib.get_close_matches(bad[0], valid, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ModelArgumentError(f"model {name!r} has no hyperparameter {bad[0]!r}{hint}; valid: {', '.join(valid)}") from exc
        raise


def is_language_model(name: str) -> bool:
    """Whether registered model ``name`` is a DNA language model (predicts the bases, trained on a FASTA)."""
    return bool(getattr(MODELS.get(str(name).lower()), "language_model", False))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _summary_line(cls) -> str:
    """The first sentence of a model class's docstring, on one line."""
    text = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def _parameter_count(name: str, seq_len: int, n_features: int) -> str:
    try:
        with torch.device("meta"):  # shapes only: no memory, no time
            return f"{count_parameters(build_model(name, seq_len, n_features)):,}"
    except (ValueError, RuntimeError, NotImplementedError) as exc:
        return f"n/a ({str(exc).splitlines()[0][:60]})"


def _yaml_value(value) -> str:
    """A default as it is written in a YAML config: lists in brackets, strings bare."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def describe_models(seq_len: int = 1000, feature_counts=(919, 8), width: int = 100) -> str:
    """Every registered architecture with its arguments (``model.arch_args``), their defaults,
    and its parameter count for ``seq_len`` bp windows and each of ``feature_counts`` outputs
    (what ``dnaseq models`` prints)."""

    counts = ", ".join(f"{n:,} features" for n in feature_counts)
    lines = [f"Architectures (config key model.arch; their arguments go under model.arch_args); "
             f"parameters for {seq_len:,} bp windows and {counts}:", ""]
    for name, cls in MODELS.items():
        if getattr(cls, "language_model", False):  # predicts the 4 bases at every position
            params = [f"{_parameter_count(name, seq_len, 4)} (DNA language model: the 4 bases at every position)"]
        else:
            params = [f"{c} ({n:,} features)" for n, c in
                      ((n, _parameter_count(name, seq_len, n)) for n in feature_counts)]
        lines.append(f"{name}  [{cls.__name__}]  parameters: {', '.join(params)}")
        lines += textwrap.wrap(_summary_line(cls), width, initial_indent="  ", subsequent_indent="  ")
        sig = inspect.signature(cls.__init__).parameters
        args = [f"{k}={_yaml_value(v.default)}" for k, v in sig.items()
                if k not in ("self", "seq_len", "n_features") and v.kind is v.POSITIONAL_OR_KEYWORD]
        published = {k: sig[k].default for k in ("seq_len", "n_features") if k in sig}
        if len(published) == 2 and published["seq_len"] != seq_len:
            lines.append(f"  published for {published['seq_len']:,} bp windows and {published['n_features']:,} features")
        lines += (textwrap.wrap("arguments: " + ", ".join(args), width, initial_indent="  ",
                                subsequent_indent="    ") if args else ["  arguments: none (the published layout)"])
        lines.append("")
    lines.append("e.g. dnaseq train --config configs/quickstart.yaml --model.arch_args.rnn_type gru "
                 "(one argument changed), or --model.arch danq")
    return "\n".join(lines)


__all__ = ["MODELS", "register", "build_model", "count_parameters", "describe_models", "DeepSEA", "DanQ",
           "ConvRecurrent", "Beluga", "RecurrentLM", "LanguageModelChromatin", "is_language_model"]
