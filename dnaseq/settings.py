"""How a model is run, decided in one place and importable without torch (the CLI builds its
options from here before anything heavy is imported): the strand vocabulary, the N fill of
one-hot inputs, the per-command batch sizes and :class:`RunOptions`."""
from __future__ import annotations

import numbers
import sys
import time
import warnings
from dataclasses import dataclass, replace
from typing import List, Optional, Union

#: one-hot value of each channel at an N (or any non-ACGT base): a uniform base
DEFAULT_FILL = 0.25

STRANDS = ("as-trained", "forward", "both")
STRAND_TEXT = {"both": "predictions averaged over both strands (window and reverse complement)",
               "forward": "predictions from the forward strand only"}  # what a command prints

#: windows (or edited sequences) per forward pass, per command; the API functions use the same
BATCH_SIZES = {"evaluate": 256, "predict": 256, "score-variants": 128, "ism": 512, "motifs": 128,
               "attribute": 64, "design": 1024, "background": 128}

#: integrated-gradients steps at most: captum's Gauss-Legendre nodes take memory in the square of
#: the steps (100,000 asked for 75 GiB), and attributions converge far below this
MAX_IG_STEPS = 1000


def whole_number(value, name: str, least: int = 1, unit: str = "") -> int:
    """``value`` as a plain int when it is a whole number >= ``least`` (numpy integers included;
    bool, 2.5 and 1000.0 are not); a ValueError naming ``name`` (and its ``unit``) otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} must be a whole number{' of ' + unit if unit else ''} >= {least}, got {value!r}")
    return int(value)


def deprecated_spelling(old: str, new: str) -> None:
    """Say once per call site that ``old`` is an old spelling of ``new`` (a FutureWarning: shown
    to users by default, unlike DeprecationWarning), and go on with ``new``."""
    warnings.warn(f"{old} is the 0.1 spelling; use {new}", FutureWarning, stacklevel=3)


def strand_or_rc_average(strand: Optional[str], rc_average: Optional[bool]) -> Optional[str]:
    """``strand`` as given, or the one the 0.1 argument ``rc_average`` meant (with a warning)."""
    if rc_average is None:
        return strand
    new = "both" if rc_average else "forward"
    deprecated_spelling(f"rc_average={rc_average}", f"strand={new!r}")
    return new if strand is None else strand


def resolve_strand(strand: Optional[str], trained_both: bool) -> str:
    """``forward`` or ``both`` from a requested mode (``None`` / ``as-trained`` = the checkpoint's;
    ``auto``, the 0.1 spelling of ``as-trained`` in ``import-weights``, is accepted with a warning)."""
    mode = "as-trained" if strand is None else str(strand).lower().replace("_", "-")
    if mode == "auto":
        deprecated_spelling("strand 'auto'", "'as-trained'")
        mode = "as-trained"
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
    progress_lines: bool = False  # no bar (not a terminal): a line per stage and per ~10% with an ETA
    label: str = ""  # what those lines start with: the command

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 1), ("num_nodes", 1), ("num_workers", 0)):
            setattr(self, name, whole_number(getattr(self, name), name, least))  # numpy integers become int

    def say(self, text: str) -> None:
        """One progress line on stderr (a stage starting), for a command's user: printed when
        progress is shown at all (a bar or lines), never from the Python API's defaults."""
        if self.progress or self.progress_lines:
            print(f"{self.label or 'dnaseq'}: {text}", file=sys.stderr, flush=True)

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

    @classmethod
    def for_command(cls, command: str, run: Optional["RunOptions"] = None, *, batch_size: Optional[int] = None,
                    device: Optional[str] = None, progress: Optional[bool] = None,
                    default_progress: bool = False) -> "RunOptions":
        """The options an API function runs with, decided the same way everywhere: ``run`` (default:
        ``command``'s batch size from :data:`BATCH_SIZES`, progress ``default_progress``), with the
        keyword shortcuts that were given (``batch_size``, a torch-style ``device``, ``progress``)
        applied on top."""
        if run is None:
            run = cls(batch_size=BATCH_SIZES[command], progress=default_progress)
        changes = {}
        if device not in (None, "auto"):
            placed = cls.from_device(device)
            changes.update(accelerator=placed.accelerator, devices=placed.devices)
        if batch_size is not None:
            changes["batch_size"] = batch_size  # checked by __post_init__ (2.5 is not taken as 2)
        if progress is not None:
            changes["progress"] = bool(progress)
        return replace(run, **changes) if changes else run


class ProgressLines:
    """Progress without a terminal (a log file): one line on stderr each time another tenth of
    ``total`` is done, with an ETA, once the run has taken 10 s (a short run prints nothing)."""

    def __init__(self, total: int, label: str, unit: str = "units"):
        self.total, self.label, self.unit, self.done, self.tenths = max(int(total), 1), label, unit, 0, 0
        self.started = time.monotonic()

    def update(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        tenths = self.done * 10 // self.total
        elapsed = time.monotonic() - self.started
        if tenths > self.tenths and elapsed >= 10:
            left = elapsed * (self.total - self.done) / max(self.done, 1)
            print(f"{self.label}: {self.done:,} of {self.total:,} {self.unit} ({100 * self.done // self.total}%) "
                  f"in {elapsed:.0f} s, about {left:.0f} s left", file=sys.stderr, flush=True)
        self.tenths = max(self.tenths, tenths)

    def close(self) -> None:
        pass
