"""What a trained model needs to run, taken from the model itself, and the plain prediction step.

``settings(model, strand)`` gives the core network, the N fill it was trained with and the
strand mode to run (``forward`` / ``both``; ``as-trained`` asks the checkpoint). A bare
``nn.Module`` that returns logits is accepted too (fill 0.25, forward strand unless asked).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..models.state import n_outputs
from ..models.strand import StrandWrapper
from ..sequence.onehot import one_hot
from ..settings import DEFAULT_FILL, RunOptions, resolve_strand
from . import engine


@dataclass
class Settings:
    net: nn.Module  # logits network over one-hot (B, 4, L)
    fill: float
    strand: str  # "forward" or "both"
    seq_len: Optional[int]


def settings(model: nn.Module, strand: Optional[str] = None) -> Settings:
    """Core network, N fill, strand mode and window length of a loaded model."""
    if hasattr(model, "strand_mode"):  # a dnaseq SequenceModel (checkpoint)
        return Settings(model.model, model.fill, model.strand_mode(strand), model.seq_len)
    return Settings(model, DEFAULT_FILL, resolve_strand(strand, False), getattr(model, "seq_len", None))


def probabilities_step(fill: float, strand: str, batch_size: int):
    """A step: unit ``codes`` (n, L) uint8 -> ``{"probs": (n, F)}``, in batches of ``batch_size``."""
    def step(net, unit):
        codes = unit["codes"]
        wrapped = StrandWrapper(net, strand)
        if len(codes) == 0:  # e.g. a block of bins that are all assembly gap: (0, F)
            return {"probs": wrapped(one_hot(torch.zeros(1, codes.shape[1], dtype=torch.uint8,
                                                         device=codes.device), fill=fill))[:0]}
        parts = [wrapped(one_hot(codes[lo:lo + batch_size], fill=fill)) for lo in range(0, len(codes), batch_size)]
        return {"probs": torch.cat(parts)}
    return step


def predict_codes(model: nn.Module, codes: np.ndarray, strand: Optional[str] = None,
                  options: Optional[RunOptions] = None) -> Optional[np.ndarray]:
    """Probabilities (N, F) float32 for uint8 codes (N, L), through the inference engine.

    Returns None on ranks other than 0 of a multi-process run."""
    options = RunOptions.for_command("predict", options)
    s = settings(model, strand)
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, bs = len(codes), options.batch_size
    n_out = int(getattr(model, "n_features", 0)) or n_outputs(s.net, codes.shape[1])

    def produce():
        for lo in range(0, n, bs):
            yield {"codes": torch.from_numpy(codes[lo:lo + bs]), "meta": lo}

    info = engine.run(s.net, produce, probabilities_step(s.fill, s.strand, bs),
                      lambda: engine.ArraySink(n, {"probs": (n_out,)}), options, total=-(-n // bs))
    return info.sink.arrays["probs"] if info.is_main else None
