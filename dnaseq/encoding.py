"""DNA <-> uint8 base codes <-> one-hot tensors; reverse complement.

One place decides the conventions used everywhere in dnaseq:

* Channel order is A, C, G, T (``ALPHABET``). Codes are A=0, C=1, G=2, T=3, N=4.
* Lowercase (soft-masked) letters are the same bases as uppercase.
* ``N`` and every IUPAC ambiguity code (R Y S W K M B D H V) become code 4; in one-hot
  they are filled with ``fill`` in every channel (0.25 by default, ``fill=0`` gives zeros).
  Ambiguity codes are not split into their partial bases: a partially known base carries
  too little signal to be worth a second code path.
* ``U`` is read as ``T`` (RNA input).
* Anything else (digits, ``-``, ``.``, whitespace, ``*``) is an error naming the first bad
  position, never silently turned into N.

Everything is done with 256-entry lookup tables over byte arrays, so there is no per-base
Python loop anywhere.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

ALPHABET = "ACGT"
N_CODE = 4
INVALID = 255
IUPAC_AMBIGUOUS = "NRYSWKMBDHV"

SeqLike = Union[str, bytes, bytearray, np.ndarray]


def _build_code_table() -> np.ndarray:
    table = np.full(256, INVALID, dtype=np.uint8)
    for code, base in enumerate(ALPHABET):
        table[ord(base)] = code
        table[ord(base.lower())] = code
    for base in IUPAC_AMBIGUOUS:
        table[ord(base)] = N_CODE
        table[ord(base.lower())] = N_CODE
    table[ord("U")] = table[ord("u")] = 3
    return table


CODE_TABLE = _build_code_table()
#: complement of each code; N stays N
COMPLEMENT = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)
#: code -> uppercase letter
DECODE_TABLE = np.frombuffer(b"ACGTN", dtype=np.uint8)


class InvalidBaseError(ValueError):
    """A sequence holds a character that is neither a base nor an IUPAC code."""


def _as_bytes_array(seq: SeqLike) -> np.ndarray:
    if isinstance(seq, str):
        return np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return np.frombuffer(seq, dtype=np.uint8)
    arr = np.asarray(seq)
    if arr.dtype.kind == "S":
        return arr.view(np.uint8).reshape(arr.shape + (arr.dtype.itemsize,)) if arr.ndim else \
            np.frombuffer(arr.tobytes(), dtype=np.uint8)
    if arr.dtype == np.uint8:
        return arr
    raise TypeError(f"cannot encode an array of dtype {arr.dtype}; pass str, bytes or uint8 ASCII")


def encode(seq: Union[SeqLike, Sequence[str]]) -> np.ndarray:
    """Turn DNA text into uint8 codes (A=0, C=1, G=2, T=3, N/IUPAC=4).

    ``seq`` may be a str, bytes, a uint8 array of ASCII, or a list of equal-length strings
    (giving a 2-D array). Raises :class:`InvalidBaseError` naming the first bad character.
    """
    if isinstance(seq, (list, tuple)):
        if not seq:
            return np.zeros((0, 0), dtype=np.uint8)
        lengths = {len(s) for s in seq}
        if len(lengths) != 1:
            raise ValueError(f"sequences must have equal lengths to be stacked, got {sorted(lengths)}")
        return encode("".join(seq)).reshape(len(seq), lengths.pop())
    raw = _as_bytes_array(seq)
    codes = CODE_TABLE[raw]
    if (codes == INVALID).any():
        flat = codes.reshape(-1)
        pos = int(np.argmax(flat == INVALID))
        char = chr(int(raw.reshape(-1)[pos]))
        raise InvalidBaseError(
            f"invalid DNA character {char!r} at position {pos}; allowed are A C G T, "
            f"IUPAC codes {IUPAC_AMBIGUOUS} (read as N), U, and their lowercase forms")
    return codes


def decode(codes: np.ndarray) -> str:
    """uint8 codes (1-D) back to an uppercase string."""
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError("decode expects a 1-D array of codes")
    return DECODE_TABLE[codes].tobytes().decode("ascii")


def _fill_table(fill: float, dtype: torch.dtype, device=None) -> torch.Tensor:
    table = torch.zeros(5, 4, dtype=dtype, device=device)
    table[:4] = torch.eye(4, dtype=dtype, device=device)
    table[N_CODE] = fill
    return table


def one_hot(codes: Union[np.ndarray, torch.Tensor, SeqLike], fill: float = 0.25,
            dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Codes (L,) or (N, L) -> one-hot tensor of shape (N, 4, L), channels A, C, G, T.

    Strings are encoded first. N and ambiguity codes get ``fill`` in every channel.
    A tensor input stays on its device, so a batch of uint8 codes can be moved to the GPU
    first and expanded there.

    The result is a (N, 4, L) view of a length-major (N, L, 4) buffer: one 16-byte gather per
    base is several times faster than writing four channel planes. Every torch op accepts it;
    call ``.contiguous()`` before ``.view()``.
    """
    if isinstance(codes, np.ndarray) and codes.dtype == np.uint8:
        t = torch.from_numpy(codes)
    elif isinstance(codes, torch.Tensor):
        t = codes
    else:
        t = torch.from_numpy(encode(codes))
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
        if idx.size and idx.max() > N_CODE:
            raise ValueError(f"codes must be 0..{N_CODE}, found {int(idx.max())}")
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


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of codes (L,) or (N, L)."""
    codes = np.asarray(codes)
    return COMPLEMENT[codes[..., ::-1]]


def reverse_complement_one_hot(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot (N, 4, L): with A,C,G,T order it is a flip of both
    the channel and the length axis."""
    return torch.flip(x, dims=(-2, -1))


def reverse_complement_str(seq: str) -> str:
    return decode(reverse_complement(encode(seq)))
