"""Model registry: every model is built from (seq_len, n_features, **hyperparameters)."""
from __future__ import annotations

import difflib
from typing import Callable, Dict

from torch import nn

from .deepsea import DeepSEA
from .recurrent import ConvRecurrent, DanQ

MODELS: Dict[str, Callable[..., nn.Module]] = {
    "deepsea": DeepSEA,
    "danq": DanQ,
    "conv_recurrent": ConvRecurrent,
}


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
        raise ValueError(f"unknown model {name!r}{hint} (registered: {', '.join(sorted(MODELS))})")
    try:
        return MODELS[key](seq_len=seq_len, n_features=n_features, **hparams)
    except TypeError as exc:
        import inspect
        valid = [p for p in inspect.signature(MODELS[key]).parameters if p not in ("seq_len", "n_features")]
        bad = [k for k in hparams if k not in valid]
        if bad:
            near = difflib.get_close_matches(bad[0], valid, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"model {name!r} has no hyperparameter {bad[0]!r}{hint}; valid: {', '.join(valid)}") from exc
        raise


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


from .beluga import Beluga  # noqa: E402,F401  (registers "beluga")
__all__ = ["MODELS", "register", "build_model", "count_parameters", "DeepSEA", "DanQ", "ConvRecurrent"]
