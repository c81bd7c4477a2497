"""How a model is run, decided in one place and importable without torch (the CLI builds its
options from here before anything heavy is imported): the strand vocabulary, the N fill of
one-hot inputs, the per-command batch sizes and :class:`RunOptions`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Union

#: one-hot value of each channel at an N (or any non-ACGT base): a uniform base
DEFAULT_FILL = 0.25

STRANDS = ("as-trained", "forward", "both")
STRAND_TEXT = {"both": "predictions averaged over both strands (window and reverse complement)",
               "forward": "predictions from the forward strand only"}  # what a command prints

#: windows (or edited sequences) per forward pass, per command; the API functions use the same
BATCH_SIZES = {"evaluate": 256, "predict": 256, "score-variants": 128, "ism": 512, "motifs": 128,
               "attribute": 64, "design": 1024}


def resolve_strand(strand: Optional[str], trained_both: bool) -> str:
    """``forward`` or ``both`` from a requested mode (``None`` / ``as-trained`` = the checkpoint's)."""
    mode = "as-trained" if strand is None else str(strand).lower().replace("_", "-")
    if mode not in STRANDS:
        raise ValueError(f"unknown strand mode {strand!r}; choose from {', '.join(STRANDS)}")
    if mode == "as-trained":
        return "both" if trained_both else "forward"
    return mode


@dataclass
class RunOptions:
    """How inference runs: Lightning Trainer options plus batching.

    ``devices`` defaults to 1 (not Lightning's ``auto``) so a machine with 8 GPUs is not
    turned into an 8-process job unless asked. ``precision``: ``32-true``, ``bf16-mixed``,
    ``16-mixed`` ... as in ``dnaseq train``. ``num_workers`` > 0 builds units in forked
    DataLoader workers: only for producers whose units open their own files (a pyfaidx handle
    shared across a fork shares its file offset), so the commands keep it at 0.
    """
    accelerator: str = "auto"
    devices: Union[int, str, List[int]] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Union[str, int] = "32-true"
    batch_size: int = 256
    num_workers: int = 0
    progress: bool = True
    spill_dir: Optional[str] = None

    @classmethod
    def from_device(cls, device: str = "auto", **kwargs) -> "RunOptions":
        """Options from a torch-style device string (``cpu``, ``cuda``, ``cuda:1``, ``auto``)."""
        device = str(device or "auto")
        if device == "auto":
            return cls(**kwargs)
        kind, _, index = device.partition(":")
        accel = {"cuda": "gpu", "gpu": "gpu", "cpu": "cpu", "mps": "mps"}.get(kind, kind)
        devices: Union[int, List[int]] = [int(index)] if index else 1
        return cls(accelerator=accel, devices=devices, **kwargs)
