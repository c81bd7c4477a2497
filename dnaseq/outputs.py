"""Output locations, checked before any long work starts: a folder is created (with its
parents) or refused with one line naming it; an output prefix may not be a folder."""
from __future__ import annotations

import os


def ensure_writable_dir(path: str) -> None:
    """Create ``path`` (and parents) or stop with a one-line error, before any long work."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create output folder {path}: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK):
        raise ValueError(f"output folder {path} is not writable; choose another --out")


def prepare_output_prefix(out: str) -> None:
    """Create the folder of output prefix ``out`` (like ``evaluate --out``) and check that it
    is writable; a prefix that is a folder (``results/``) is an error."""
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        raise ValueError(f"output prefix {out!r} is a folder; give a prefix such as "
                         f"{os.path.join(out, 'scores')!r} (writes scores.tsv, scores.summary.json)")
    folder = os.path.dirname(os.path.abspath(out))
    probe = folder
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"cannot create output folder {folder}: {probe} is a file")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create output folder {folder}: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {folder} is not writable")
