"""DNA <-> uint8 base codes; reverse complement (numpy only: one-hot tensors are in :mod:`.onehot`).

One place decides the conventions used everywhere in dnaseq:

* Channel order is A, C, G, T (``ALPHABET``). Codes are A=0, C=1, G=2, T=3, N=4.
* Lowercase (soft-masked) letters are the same bases as uppercase.
* ``N`` and every IUPAC ambiguity code (R Y S W K M B D H V) become code 4; in one-hot
  they are filled with ``fill`` in every channel (:data:`dnaseq.settings.DEFAULT_FILL`, 0.25, by default; ``fill=0`` gives zeros).
  Ambiguity codes are not split into their partial bases: a partially known base carries
  too little signal to be worth a second code path.
* ``U`` is read as ``T`` (RNA input).
* Anything else (digits, ``-``, ``.``, whitespace, ``*``) is an error naming the first bad
  position, never silently turned into N.

Everything is done with 256-entry lookup tables over byte arrays, so there is no per-base
Python loop anywhere.
"""
from __future__ import annotations

import sys
from typing import List, Sequence, Union

import numpy as np

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


def _is_window(obj) -> bool:
    """A :class:`dnaseq.sequence.genome.Window` (what ``Genome.window`` / ``Genome.fetch`` return), by
    its fields: codes plus coordinates (no import of genome here, which imports this module)."""
    return hasattr(obj, "codes") and hasattr(obj, "chrom") and hasattr(obj, "pad_left")


def _is_tensor(obj) -> bool:
    """A torch tensor, without importing torch (if torch is not loaded, nothing is a tensor)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _describe(obj) -> str:
    if isinstance(obj, np.ndarray) or _is_tensor(obj):
        return f"{type(obj).__name__} of dtype {obj.dtype} and shape {tuple(obj.shape)}"
    return type(obj).__name__


def _stack_rows(rows: List[np.ndarray]) -> np.ndarray:
    """Equal-length 1-D code rows -> (N, L); unequal lengths name the first two that differ."""
    if not rows:
        return np.zeros((0, 0), dtype=np.uint8)
    first = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != first:
            raise ValueError(f"sequences must have equal lengths to be stacked: item 0 is {first} bp, "
                             f"item {i} is {len(row)} bp (lengths {sorted({len(r) for r in rows})}); "
                             "pad or trim them to one length, or pass them one at a time")
    return np.stack(rows) if len(rows) > 1 else rows[0][None]


def _item_row(item, codes_arrays: bool) -> np.ndarray:
    """One list item as 1-D codes. ``codes_arrays``: a uint8 array is codes (``one_hot``) rather
    than ASCII text (``encode``)."""
    if _is_window(item):
        row = np.asarray(item.codes)
    elif isinstance(item, (str, bytes, bytearray, memoryview)):
        row = encode(item)
    elif codes_arrays and (isinstance(item, np.ndarray) or _is_tensor(item)):
        row = _codes_array(item)
    elif isinstance(item, np.ndarray):
        row = encode(item)
    else:
        raise TypeError(f"cannot read a sequence from a {_describe(item)}; pass DNA text, a "
                        "Genome.window(...) result or uint8 codes")
    if row.ndim != 1:
        raise ValueError(f"each item of a list must be one sequence, got an item of shape {tuple(row.shape)}")
    return row


def encode(seq: Union[SeqLike, Sequence]) -> np.ndarray:
    """Turn DNA text into uint8 codes (A=0, C=1, G=2, T=3, N/IUPAC=4).

    ``seq`` may be a str, bytes, a uint8 array of ASCII, a ``Genome.window(...)`` /
    ``Genome.fetch(...)`` result (its codes), or a list of these of equal length (giving a
    2-D array). Raises :class:`InvalidBaseError` naming the first bad character.
    """
    if _is_window(seq):
        return np.asarray(seq.codes, dtype=np.uint8)
    if isinstance(seq, np.ndarray) and seq.dtype.kind == "U":
        seq = seq.tolist() if seq.ndim else str(seq)
    if isinstance(seq, (list, tuple)):
        if all(isinstance(s, str) for s in seq):  # fast path: one lookup over the joined text
            if not seq:
                return np.zeros((0, 0), dtype=np.uint8)
            lengths = [len(s) for s in seq]
            if len(set(lengths)) != 1:
                return _stack_rows([np.empty(n, np.uint8) for n in lengths])  # raises, naming both
            return encode("".join(seq)).reshape(len(seq), lengths[0])
        return _stack_rows([_item_row(s, codes_arrays=False) for s in seq])
    raw = _as_bytes_array(seq)
    codes = CODE_TABLE[raw]
    if (codes == INVALID).any():
        flat = codes.reshape(-1)
        pos = int(np.argmax(flat == INVALID))
        char = chr(int(raw.reshape(-1)[pos]))
        hint = ""
        if raw.size and int(raw.max()) <= N_CODE:
            hint = ("; this array looks like uint8 codes already (values 0-4): pass it to one_hot "
                    "directly, or decode() it to text")
        raise InvalidBaseError(
            f"invalid DNA character {char!r} at position {pos}; allowed are A C G T, "
            f"IUPAC codes {IUPAC_AMBIGUOUS} (read as N), U, and their lowercase forms{hint}")
    return codes


def decode(codes: np.ndarray) -> str:
    """uint8 codes (1-D) back to an uppercase string."""
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError("decode expects a 1-D array of codes")
    if codes.size and (codes.dtype.kind not in "iu" or int(codes.min()) < 0 or int(codes.max()) > N_CODE):
        shown = f"values {codes.min()}..{codes.max()}" if codes.dtype.kind in "iuf" else f"dtype {codes.dtype}"
        raise ValueError(f"decode takes codes 0..{N_CODE} (A C G T N) as integers; got {shown}")
    return DECODE_TABLE[codes].tobytes().decode("ascii")


def _codes_array(x) -> np.ndarray:
    """An integer array of codes (0..4) as uint8 numpy; anything else is a clear error."""
    if _is_tensor(x):
        x = x.detach().cpu().numpy()
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":
        if x.size and (int(x.min()) < 0 or int(x.max()) > N_CODE):
            raise ValueError(f"codes must be 0..{N_CODE} (A C G T N), found values "
                             f"{int(x.min())}..{int(x.max())}")
        return x.astype(np.uint8)
    if x.dtype.kind in "fb":
        raise TypeError(f"expected codes (integers 0..{N_CODE}) or DNA text, got a {_describe(x)}; "
                        "a float (4, L) / (N, 4, L) array is one-hot already and needs no one_hot()")
    return encode(x)


_TEXT_COMPLEMENT = str.maketrans("ACGTNRYKMBVDHSWacgtnrykmbvdhsw", "TGCANYRMKVBHDSWtgcanyrmkvbhdsw")


def reverse_complement(codes):
    """Reverse complement of codes (L,) or (N, L) (numpy or torch integers), or of DNA text (a
    str, its case and IUPAC letters kept: ``"ACGTn"`` -> ``"nACGT"``). One-hot input belongs to
    :func:`dnaseq.reverse_complement_one_hot`."""
    if isinstance(codes, str):
        encode(codes)  # an invalid character is named (InvalidBaseError)
        return codes.translate(_TEXT_COMPLEMENT)[::-1]
    arr = codes.detach().cpu().numpy() if _is_tensor(codes) else np.asarray(codes)
    if arr.dtype.kind in "fb":
        raise TypeError(f"reverse_complement takes codes or DNA text, got a {_describe(arr)}: for one-hot input use "
                        f"dnaseq.reverse_complement_one_hot")
    if arr.ndim not in (1, 2):
        raise ValueError(f"reverse_complement takes codes (L,) or (N, L), got shape {arr.shape}")
    return COMPLEMENT[_codes_array(arr)[..., ::-1]]
