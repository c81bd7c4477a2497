"""Starting a model from another checkpoint (``model.init_from``): which weights carry over, which
are new, and what the two runs' chromosomes say about a fair test.

Rule: every parameter and buffer of the new network whose name and shape match the source
checkpoint's network is copied (the *trunk*); the rest keep their fresh initialisation (the
*head*). A name present in both with different shapes is allowed only for the output layer (the
tensors whose first dimension is the feature count of both models: a new head for new features);
any other mismatch stops with the names and both shapes, as does a source that shares nothing.
Works for any pair of registered architectures with matching names: a chromatin model retrained on
other features (the head is replaced), an ``lm`` language model's trunk under ``lm_chromatin``,
or an imported published model. Written here because Lightning's checkpoint loading restores a
whole model or nothing.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List

import torch
from torch import nn

from .runs import checkpoint_in


@dataclass
class Transfer:
    """What :func:`transfer_weights` did."""
    source: str
    copied: List[str] = field(default_factory=list)  # the trunk
    new: List[str] = field(default_factory=list)  # the head (fresh)
    source_arch: str = ""
    source_record: Dict = field(default_factory=dict)  # the source checkpoint's data record

    def describe(self) -> str:
        new = ", ".join(self.new[:4]) + (" ..." if len(self.new) > 4 else "")
        return (f"init_from {self.source} ({self.source_arch}): {len(self.copied)} tensors copied (the trunk), "
                f"{len(self.new)} new" + (f" ({new})" if self.new else ""))


def _load_source(path: str) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"model.init_from: checkpoint not found: {path}")
    path = checkpoint_in(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged or foreign file: one line naming it
        raise ValueError(f"model.init_from: {path} is not a readable checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"model.init_from: {path} is not a dnaseq checkpoint (no state_dict)")
    ckpt["_path"] = path
    return ckpt


def transfer_weights(net: nn.Module, source: str, n_features: int, copy: bool = True) -> Transfer:
    """Copy the matching tensors of checkpoint ``source``'s network into ``net`` (module
    docstring's rule); ``copy=False`` only works out which they are (a resumed run)."""
    ckpt = _load_source(source)
    hp = ckpt.get("hyper_parameters", {})
    src = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    src_features = int(hp.get("n_features", -1))
    report = Transfer(ckpt["_path"], source_arch=str(hp.get("arch", "?")),
                      source_record=(ckpt.get("dnaseq") or {}).get("data") or {})
    target = net.state_dict()
    bad = []
    for name, tensor in target.items():
        if name not in src:
            report.new.append(name)
        elif tuple(src[name].shape) == tuple(tensor.shape):
            report.copied.append(name)
        elif tensor.dim() >= 1 and tensor.shape[0] == n_features and src[name].shape[0] == src_features:
            report.new.append(name)  # the output layer, for other features
        else:
            bad.append(f"{name} {tuple(src[name].shape)} -> {tuple(tensor.shape)}")
    if bad:
        raise ValueError(f"model.init_from {report.source}: shapes differ for {', '.join(bad[:4])}"
                         f"{' ...' if len(bad) > 4 else ''}: give the same architecture arguments as the source "
                         f"({report.source_arch}) for the part to copy")
    if not report.copied:
        raise ValueError(f"model.init_from {report.source} ({report.source_arch}) shares no weight with this "
                         f"model: no parameter name matches (an lm checkpoint starts arch lm_chromatin)")
    if copy:
        with torch.no_grad():
            for name in report.copied:
                target[name].copy_(src[name])
    return report


def check_held_out(report: Transfer, test_chroms: List[str]) -> None:
    """Warn when chromosomes the new run tests on were training chromosomes of the source."""
    trained = set((report.source_record.get("chromosomes") or {}).get("train") or [])
    seen = sorted(set(test_chroms) & trained)
    if seen:
        warnings.warn(f"model.init_from {report.source} was trained on {', '.join(seen)}, which this run tests on: "
                      f"its test figures are not held out", UserWarning, stacklevel=2)


def data_record(dm) -> Dict:
    """What a checkpoint records of its training data (data module ``dm``): the path and the
    chromosomes of each split (a reference's windows, or a dataset built by chromosome)."""
    if dm is None or not hasattr(dm, "data"):
        return {}
    chroms = getattr(dm, "chromosomes", None)
    if chroms is None:
        split = (getattr(getattr(dm, "info", None), "attrs", None) or {}).get("split")
        if isinstance(split, dict) and split.get("type") == "chromosome":
            chroms = {k: list(v) for k, v in split.items() if k in ("train", "valid", "test")}
    return {"path": str(dm.data), "chromosomes": dict(chroms or {})}


def trunk_parameters(net: nn.Module, trunk: List[str]):
    """(trunk parameters, the other parameters) of ``net``."""
    names = set(trunk)
    inside, outside = [], []
    for name, p in net.named_parameters():
        (inside if name in names else outside).append(p)
    return inside, outside


__all__ = ["Transfer", "transfer_weights", "check_held_out", "data_record", "trunk_parameters"]
