"""Batched prediction of a split or of one-hot arrays with a trained model."""
from __future__ import annotations

import sys

import numpy as np
import torch

from .dataset import SplitSource
from .encoding import one_hot


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def predict_codes(model, codes: np.ndarray, batch_size: int = 256, rc_average: bool = True,
                  device: str = "auto", fill: float = 0.25) -> np.ndarray:
    """Probabilities (N, F) float32 for uint8 codes (N, L)."""
    dev = resolve_device(device)
    model = model.to(dev).eval()
    out = np.empty((len(codes), model.n_features), np.float32)
    for lo in range(0, len(codes), batch_size):
        x = one_hot(torch.from_numpy(np.ascontiguousarray(codes[lo:lo + batch_size])).to(dev), fill=fill)
        out[lo:lo + len(x)] = model.predict_proba(x, rc_average=rc_average).float().cpu().numpy()
    return out


@torch.no_grad()
def predict_split(model, source: SplitSource, batch_size: int = 256, rc_average: bool = True,
                  device: str = "auto", progress: bool = True, fill: float = 0.25):
    """(probabilities (N, F) float32, labels (N, F) uint8) over a whole split, streamed."""
    from tqdm.auto import tqdm

    n, F = len(source), source.info.n_features
    probs = np.empty((n, F), np.float32)
    labels = np.empty((n, F), np.uint8)
    bar = tqdm(total=n, unit="win", desc="predict", file=sys.stderr, disable=not progress)
    step = max(batch_size, getattr(source, "chunk_rows", 1))
    for lo in range(0, n, step):
        idx = np.arange(lo, min(lo + step, n))
        codes, y = source.read(idx)
        probs[lo:lo + len(idx)] = predict_codes(model, codes, batch_size, rc_average, device, fill)
        labels[lo:lo + len(idx)] = y
        bar.update(len(idx))
    bar.close()
    return probs, labels
