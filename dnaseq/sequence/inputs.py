"""What a model may be asked to predict on, turned into one checked one-hot batch: one-hot arrays
(numpy or torch, (4, L) / (N, 4, L)), uint8 codes, DNA text, ``Genome.window`` results, or lists of
these. Every wrong shape, length, dtype or code names what was given and what the model takes."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .onehot import one_hot


def check_one_hot_shape(shape: tuple, seq_len: int) -> None:
    """Raise naming what is wrong with a one-hot batch's shape (it must be (N, 4, seq_len))."""
    if len(shape) != 3 or shape[1] != 4:
        hint = "; it looks length-major (N, L, 4): transpose it" if len(shape) == 3 and shape[2] == 4 else ""
        raise ValueError(f"the model takes one-hot input of shape (N, 4, {seq_len}) with channels A, C, G, T; "
                         f"got shape {shape}{hint}")
    if shape[2] != seq_len:
        raise ValueError(f"the model takes {seq_len} bp windows; got {shape[2]} bp")


def item_length(item) -> Optional[int]:
    """Length in bp of one sequence (text, bytes, window, codes or one-hot), without encoding it."""
    if isinstance(item, (str, bytes, bytearray)):
        return len(item)
    if hasattr(item, "codes") and hasattr(item, "chrom"):  # a Genome window
        return len(item.codes)
    if isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim:
        return int(item.shape[-1])
    return None


def _kind(x) -> str:
    """``onehot`` (float / bool), ``codes`` (integers), ``text`` (numpy bytes / str) or ``other``."""
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() or x.dtype == torch.bool:
            return "onehot"
        return "other" if x.is_complex() else "codes"
    if isinstance(x, np.ndarray):
        return {"f": "onehot", "b": "onehot", "i": "codes", "u": "codes", "S": "text", "U": "text"}.get(
            x.dtype.kind, "other")
    return "other"


def _integer_one_hot(x) -> bool:
    """Whether integer ``x`` (N, L) is in fact a one-hot (4, L) window: only 0 and 1, at most one 1
    per column, and exactly one in most columns (an N column has none). Four code sequences would
    need, at most positions, three A and one C."""
    if x.ndim != 2 or x.shape[0] != 4 or not x.shape[1]:
        return False
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.min() < 0 or a.max() != 1:
        return False
    column = a.sum(axis=0)
    return bool(column.max() == 1 and 2 * (column == 1).sum() > len(column))


def as_input_batch(x, fill: float, seq_len: int):
    """(one-hot float batch (N, 4, L), checked against ``seq_len``; the device to return results on,
    None for numpy) for anything :meth:`dnaseq.SequenceModel.predict_proba` takes."""
    out_device = x.device if isinstance(x, torch.Tensor) else None

    def wrong_length(n: int, where: str = "") -> ValueError:
        return ValueError(f"the model takes {seq_len} bp windows; got {n} bp{where}")

    if isinstance(x, (list, tuple)):
        if not x:
            return torch.zeros(0, 4, seq_len), out_device
        for i, item in enumerate(x):
            n = item_length(item)
            if n is not None and n != seq_len:
                raise wrong_length(n, f" (item {i} of {len(x)})" if len(x) > 1 else "")
        if all(_kind(item) == "onehot" for item in x):  # a list of (4, L) one-hots
            parts = [torch.as_tensor(item) for item in x]
            for part in parts:
                if part.dim() != 2:
                    raise ValueError(f"each one-hot item of a list must be (4, L); got shape {tuple(part.shape)}")
                check_one_hot_shape((1,) + tuple(part.shape), seq_len)
            return torch.stack([part.float() if part.dtype == torch.bool else part for part in parts]).detach(), \
                out_device
        return one_hot(list(x), fill=fill), out_device
    kind = _kind(x)
    if kind == "onehot":
        t = torch.as_tensor(x).detach()
        if t.dim() == 2:
            t = t.unsqueeze(0)
        check_one_hot_shape(tuple(t.shape), seq_len)
        return (t.float() if t.dtype == torch.bool else t), out_device
    if isinstance(x, (np.ndarray, torch.Tensor)) and kind == "other":
        raise TypeError(f"cannot predict on an array of dtype {x.dtype}: pass one-hot floats (4, L) / "
                        "(N, 4, L), integer codes (L,) / (N, L), DNA text or Genome windows")
    if kind == "codes":
        if x.ndim not in (1, 2):
            raise ValueError(f"codes must be (L,) or (N, L); got shape {tuple(x.shape)} of dtype {x.dtype} "
                             "(one-hot input must be a float array)")
        if x.shape[-1] != seq_len:
            raise wrong_length(int(x.shape[-1]))
        if _integer_one_hot(x):
            raise ValueError(f"an integer array of shape {tuple(x.shape)} holding only 0 and 1, one 1 per column, "
                             "looks like a one-hot window, but integers are read as base codes (4 sequences "
                             "here): pass "
                             "one-hot as floats (x.astype(np.float32) / x.float()), or codes A=0 C=1 G=2 T=3 N=4")
        if x.numel() if isinstance(x, torch.Tensor) else x.size:
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi > 4:
                raise ValueError(f"codes must be 0..4 (A C G T N), found values {lo}..{hi}")
        if isinstance(x, torch.Tensor):
            x = x.detach().to(torch.uint8)
    elif isinstance(x, (str, bytes, bytearray)) and len(x) != seq_len:
        raise wrong_length(len(x))
    elif not (kind == "text" or isinstance(x, (str, bytes, bytearray))
              or (hasattr(x, "codes") and hasattr(x, "chrom"))):
        raise TypeError(f"cannot predict on an object of type {type(x).__name__!r}: pass one-hot floats (4, L) / (N, 4, L), "
                        "integer codes (L,) / (N, L), DNA text, a Genome window or a list of these")
    batch = one_hot(x, fill=fill)
    if batch.shape[-1] != seq_len:
        raise wrong_length(int(batch.shape[-1]))
    return batch, out_device
