"""Optimizers and learning-rate schedulers of :class:`dnaseq.training.task.SequenceModel`, by short name
(``adam``, ``cosine``, ...) or as Lightning writes classes (``{class_path: NAdam, init_args: {...}}``).
"""
from __future__ import annotations

import difflib
import importlib
import math
from typing import Any, Dict, Iterable, Optional, Union

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}
SCHEDULERS = ("none", "plateau", "cosine", "step")
SCHEDULER_BASES = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

Spec = Union[str, Dict[str, Any]]


def choice(value: str, options, what: str) -> str:
    """``value`` lower-cased when it is one of ``options``; otherwise a ValueError naming the nearest."""
    key = value.lower()
    if key not in options:
        near = difflib.get_close_matches(key, list(options), n=1)
        raise ValueError(f"unknown {what} {value!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                         + f" (choose from {', '.join(options)})")
    return key


def torch_class(spec: Spec, base, what: str):
    """(class, init_args) for a ``{class_path, init_args}`` mapping or a dotted class name, or
    None for one of the short names; the class must derive from ``base``."""
    if isinstance(spec, str) and "." not in spec:
        return None
    if isinstance(spec, str):
        spec = {"class_path": spec}
    if not isinstance(spec, dict) or "class_path" not in spec or set(spec) - {"class_path", "init_args"}:
        raise ValueError(f"{what} must be a short name or {{class_path: ..., init_args: {{...}}}}, got {spec!r}")
    path, init = str(spec["class_path"]), dict(spec.get("init_args") or {})
    bases = base if isinstance(base, tuple) else (base,)
    if "." not in path:  # torch.optim.NAdam for NAdam, torch.optim.lr_scheduler.StepLR for StepLR
        path = ("torch.optim.lr_scheduler." if what == "lr_scheduler" else "torch.optim.") + path
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{what}: cannot import {path} ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, bases)):
        raise ValueError(f"{what}: {path} is not a subclass of {' or '.join(b.__name__ for b in bases)}")
    return cls, init


def check_optimizer(optimizer: Spec, lr_scheduler: Spec) -> None:
    """Raise ValueError now, at model construction, for an unknown optimizer or scheduler."""
    if torch_class(optimizer, torch.optim.Optimizer, "optimizer") is None:
        choice(optimizer, OPTIMIZERS, "optimizer")
    if torch_class(lr_scheduler, SCHEDULER_BASES, "lr_scheduler") is None:
        choice(lr_scheduler, SCHEDULERS, "lr_scheduler")


def build_optimizers(params: Iterable, optimizer: Spec, lr: float, weight_decay: float, momentum: float,
                     lr_scheduler: Spec, scheduler_args: Optional[Dict], max_epochs: Optional[int]):
    """What ``LightningModule.configure_optimizers`` returns: the optimizer alone, or with its
    scheduler (stepped per epoch; ``plateau`` and ReduceLROnPlateau watch ``valid_loss``;
    ``cosine`` anneals over ``max_epochs`` unless ``scheduler_args`` gives ``T_max``)."""
    custom = torch_class(optimizer, torch.optim.Optimizer, "optimizer")
    if custom is not None:
        cls, init = custom
        opt = cls(params, **{"lr": lr, **init})
    else:
        name = optimizer.lower()
        kwargs = {"lr": lr, "weight_decay": weight_decay}
        if name in ("sgd", "rmsprop"):
            kwargs["momentum"] = momentum
        opt = OPTIMIZERS[name](params, **kwargs)
    extra = dict(scheduler_args or {})
    custom = torch_class(lr_scheduler, SCHEDULER_BASES, "lr_scheduler")
    if custom is not None:
        cls, init = custom
        s = cls(opt, **{**extra, **init})
        config = {"scheduler": s, "interval": "epoch"}
        if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = "valid_loss"
        return {"optimizer": opt, "lr_scheduler": config}
    sched = lr_scheduler.lower()
    if sched == "none":
        return opt
    if sched == "plateau":
        s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", **{"factor": 0.5, "patience": 2, **extra})
        return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "valid_loss"}}
    if sched == "cosine":
        t_max = extra.pop("T_max", max(1, int(max_epochs or 1)))
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, **extra)}
    return {"optimizer": opt,
            "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, **{"step_size": 10, "gamma": 0.5, **extra})}


def stretch_cosine(scheduler, max_epochs: Optional[int]) -> Optional[str]:
    """A resumed run whose ``trainer.max_epochs`` differs from the ``T_max`` its cosine schedule
    was built with (``cosine`` without its own ``T_max``): stretch the schedule to the new number
    of epochs and set the learning rate to the stretched curve's value now. Kept as it was, the
    run went on past the curve's end, at learning rate 0 (PyTorch's recursive cosine update
    multiplies the last rate), so the added epochs trained nothing. Returns what was done, in words."""
    if not isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR) or not max_epochs or max_epochs < 1:
        return None
    if scheduler.T_max == max_epochs:
        return None
    before, scheduler.T_max = scheduler.T_max, int(max_epochs)
    t = min(scheduler.last_epoch, scheduler.T_max)
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * t / scheduler.T_max)) / 2
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
    return (f"resumed with trainer.max_epochs {max_epochs}: the cosine schedule planned for {before} epoch(s) is "
            f"stretched to {max_epochs} (learning rate now {scheduler._last_lr[0]:.3g}, epoch {t})")
