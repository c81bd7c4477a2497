"""Codes <-> one-hot tensors (N, 4, L), channels A, C, G, T, and their reverse complement; the
conventions (base order, codes, N) are :mod:`.encoding`'s, the N fill :data:`dnaseq.settings.DEFAULT_FILL`."""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

from ..settings import DEFAULT_FILL
from .encoding import N_CODE, _codes_array, _describe, _is_window, _item_row, _stack_rows, encode


def _fill_table(fill: float, dtype: torch.dtype, device=None) -> torch.Tensor:
    table = torch.zeros(5, 4, dtype=dtype, device=device)
    table[:4] = torch.eye(4, dtype=dtype, device=device)
    table[N_CODE] = fill
    return table


def one_hot(codes, fill: float = DEFAULT_FILL, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Sequences -> one-hot tensor of shape (N, 4, L), channels A, C, G, T.

    ``codes`` may be uint8 (or other integer) codes (L,) or (N, L) as a numpy array or tensor,
    DNA text (str / bytes), a ``Genome.window(...)`` / ``Genome.fetch(...)`` result, or a list
    of any of these of equal length (stacked to (N, 4, L); unequal lengths are an error naming
    them). N and ambiguity codes get ``fill`` in every channel. A tensor input stays on its
    device, so a batch of uint8 codes can be moved to the GPU first and expanded there.

    The result is a (N, 4, L) view of a length-major (N, L, 4) buffer: one 16-byte gather per
    base is several times faster than writing four channel planes. Every torch op accepts it;
    call ``.contiguous()`` before ``.view()``.
    """
    if not isinstance(dtype, torch.dtype):  # np.float32, "float32": the torch dtype of that name
        dtype = torch.from_numpy(np.zeros(0, dtype=np.dtype(dtype))).dtype
    if isinstance(codes, torch.Tensor):
        t = codes
    elif isinstance(codes, np.ndarray) and codes.dtype == np.uint8:
        t = torch.from_numpy(codes)
    elif _is_window(codes):
        t = torch.from_numpy(np.asarray(codes.codes, dtype=np.uint8))
    elif isinstance(codes, (list, tuple)):
        t = torch.from_numpy(_stack_rows([_item_row(c, codes_arrays=True) for c in codes]))
    elif isinstance(codes, np.ndarray):
        t = torch.from_numpy(_codes_array(codes))
    else:
        t = torch.from_numpy(encode(codes))
    if t.is_floating_point() or t.dtype == torch.bool:
        raise TypeError(f"one_hot takes codes or DNA text, got a {_describe(t)} (one-hot already?)")
    if device is not None:
        t = t.to(device)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise ValueError(f"codes must be 1-D or 2-D, got shape {tuple(t.shape)}")
    if t.device.type == "cpu" and dtype == torch.float32:
        # each code picks one 16-byte record (4 float32s) from a 5-row table
        table = _fill_table(fill, dtype).numpy().view(np.complex128).reshape(5)
        idx = t.numpy()
        if idx.size:
            lo, hi = (int(idx.min()) if idx.dtype.kind == "i" else 0), int(idx.max())
            if hi > N_CODE or lo < 0:
                raise ValueError(f"codes must be 0..{N_CODE}, found {hi if hi > N_CODE else lo}")
        records = np.take(table, idx)
        out = torch.from_numpy(records.view(np.float32).reshape(*idx.shape, 4))
    else:
        out = _fill_table(fill, dtype, t.device)[t.long()]
    return out.transpose(1, 2)


def codes_from_one_hot(x: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    """One-hot (N, 4, L) or (4, L) -> uint8 codes; columns that are not exactly one base -> N."""
    x = torch.as_tensor(x)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[1] != 4:
        raise ValueError(f"expected one-hot of shape (N, 4, L), got {tuple(x.shape)}")
    x = x.float()
    is_base = (x.max(dim=1).values == 1) & (x.sum(dim=1) == 1)
    codes = x.argmax(dim=1).to(torch.uint8)
    codes[~is_base] = N_CODE
    return codes.numpy()


def reverse_complement_one_hot(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot (4, L) or (N, 4, L), torch or numpy (returned as given): with
    A,C,G,T order it is a flip of both the channel and the length axis."""
    if x.ndim not in (2, 3) or x.shape[-2] != 4:
        raise ValueError(f"reverse_complement_one_hot takes one-hot (4, L) or (N, 4, L) with channels A, C, G, T; "
                         f"got shape {tuple(x.shape)}")
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x[..., ::-1, ::-1])
    return torch.flip(x, dims=(-2, -1))
