"""What every command's parsing shares: progress on a terminal only, defaults shown once, comma
lists, and the options of commands that run a model (the same names as ``dnaseq train``)."""
from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
from typing import Dict, List, Optional

from ..settings import BATCH_SIZES, STRANDS, RunOptions


def progress_wanted(quiet: bool = False) -> bool:
    """Progress bars only on a terminal: a log file (stderr redirected) gets none, and ``-q`` none."""
    try:
        return not quiet and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


def progress_mode(quiet: bool = False):
    """How a long job reports progress: a bar on a terminal (True), a line per tenth with an ETA
    in a log file (``"lines"``), or nothing with ``-q`` (False)."""
    return True if progress_wanted(quiet) else (False if quiet else "lines")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option says its default once: "(default: X)" is added only where the help text
    does not already name the default, and not for options without one (None) or flags."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def split_list(text: Optional[str]) -> Optional[List[str]]:
    """``a, b,c`` -> ``["a", "b", "c"]``; None for an empty or missing option."""
    if not text:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


class UsageError(ValueError):
    """Options that cannot go together (found after parsing): the command exits 2, as argparse does."""


def name_list(text: str) -> List[str]:
    """An argparse type: comma-separated names, at least one, each once (``diff,diff`` is ``diff``)."""
    names = list(dict.fromkeys(split_list(text) or []))
    if not names:
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated names, got {text!r}")
    return names


def number_between(low: float, high: float, low_open: bool = False):
    """An argparse type: a finite number from ``low`` to ``high`` (above ``low`` with ``low_open``)."""
    if high == float("inf"):
        span = f"a number > {low:g}" if low_open else f"a number >= {low:g}"
    else:
        span = f"a number above {low:g} and up to {high:g}" if low_open else f"a number from {low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {span}, not {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or value > high or \
                (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"expected {span}, not {text}")
        return value
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    return _POSITIVE(text)


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (a temperature: 0 is greedy)."""
    return _NON_NEGATIVE(text)


def fraction(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    return _FRACTION(text)


_POSITIVE, _NON_NEGATIVE, _FRACTION = (number_between(0, float("inf"), low_open=True), number_between(0, float("inf")),
                                       number_between(0, 1))


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected at least {least}, not {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (a count, a size, a batch); anything else is a usage error."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0 (an edit budget, a margin)."""
    return _whole_number(text, 0)


def whole_number_between(least: int, most: int):
    """An argparse type: a whole number from ``least`` to ``most``."""
    def parse(text: str) -> int:
        value = _whole_number(text, least)
        if value > most:
            raise argparse.ArgumentTypeError(f"expected at most {most:,}, not {value:,}")
        return value
    return parse


def devices(text: str):
    """``--devices``: a count (``2``), ``auto``, ``-1`` (all) or a list of indices (``0,3``)."""
    text = str(text).strip()
    if "," in text:
        return [int(t) for t in text.split(",") if t.strip()]
    try:
        return int(text)
    except ValueError:
        return text


def add_run_options(parser, command: str) -> None:
    """The options every command that applies a model shares (same names as ``dnaseq train``);
    the batch size defaults to ``command``'s entry in :data:`dnaseq.settings.BATCH_SIZES`."""
    g = parser.add_argument_group("how the model runs (the same for every command)")
    g.add_argument("--strand", choices=STRANDS, default="as-trained",
                   help="as-trained: what the checkpoint was validated with; both: average the window "
                        "and its reverse complement; forward: the given strand only")
    g.add_argument("--accelerator", default=None, help="cpu, gpu, mps or auto (Lightning)")
    g.add_argument("--devices", default=None, help="device count (default 1), 'auto', or indices such as 0,1")
    g.add_argument("--num-nodes", type=positive_int, default=1)
    g.add_argument("--strategy", default="auto", help="auto, or ddp for several devices/nodes")
    g.add_argument("--precision", default="32-true", help="32-true, bf16-mixed, 16-mixed ...")
    g.add_argument("--batch-size", type=positive_int, default=BATCH_SIZES[command])
    g.add_argument("--device", default="auto", help=argparse.SUPPRESS)  # 0.1 spelling: cpu, cuda, cuda:1
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar (there is none when stderr "
                                                              "is not a terminal)")


def run_options(args) -> RunOptions:
    """The :class:`RunOptions` of parsed run options."""
    base = RunOptions.from_device(args.device)
    return RunOptions(accelerator=args.accelerator or base.accelerator,
                      devices=devices(args.devices) if args.devices else base.devices,
                      num_nodes=args.num_nodes, strategy=args.strategy, precision=args.precision,
                      batch_size=args.batch_size, progress=progress_wanted(args.quiet),
                      progress_lines=not args.quiet and not progress_wanted(), label=getattr(args, "command", "") or "")


#: parsed options that name a file (or run folder) a command reads, and what an error calls it
INPUT_FILES = {"checkpoint": "checkpoint", "vcf": "VCF", "reference": "reference FASTA", "data": "dataset",
               "fasta": "FASTA", "regions": "regions BED", "manifest": "manifest", "blacklist": "blacklist BED",
               "protect": "protect BED", "motif_db": "motif file", "forbid_motifs": "motif file",
               "config": "config file", "search": "search space file", "weights": "weights file",
               "background": "background file", "positives": "positives", "negatives": "negatives",
               "score_file": "score file", "classifier": "classifier"}


def missing_input(args: argparse.Namespace) -> Optional[str]:
    """``"<what> not found: <path>"`` for the first input file of a parsed command that does not
    exist, else None: checked before the command imports torch, so a typo answers at once."""
    for dest, what in INPUT_FILES.items():
        path = getattr(args, dest, None)
        if isinstance(path, str) and path and not os.path.exists(path):
            return f"{what} not found: {path}"
    return None


def _is_pipe(path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (OSError, TypeError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def spool_pipes(args: argparse.Namespace, rewrite_argv: bool = True) -> Optional[str]:
    """Copy every input given as a pipe (``--vcf /dev/stdin``, ``--regions <(cut -f1-3 x)``,
    ``--peaks NAME=<(...)``) into a file in a temporary folder and point ``args`` at the copy:
    readers look at a file more than once (its content is sniffed, a VCF is counted, then read),
    and a pipe is empty the second time, which read as an empty file. With ``rewrite_argv``
    (the ``dnaseq`` command itself), ``sys.argv`` names the copies too: Lightning's other
    processes reread it. Returns the folder for the caller to remove, or None when no input is a
    pipe. A manifest cannot be a pipe (its relative peak paths are read from its folder)."""
    copied: Dict[str, str] = {}
    folder: List[str] = []

    def spooled(path: str) -> str:
        if path not in copied:
            if not folder:
                folder.append(tempfile.mkdtemp(prefix="dnaseq-pipes-"))
            target = os.path.join(folder[0], f"{len(copied)}-{os.path.basename(path) or 'pipe'}")
            try:
                with open(path, "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except OSError as exc:
                raise ValueError(f"cannot copy the piped input {path} to {folder[0]}: {exc.strerror or exc}") from exc
            copied[path] = target
        return copied[path]

    def value(v):
        if not isinstance(v, str):
            return v
        if _is_pipe(v):
            return spooled(v)
        name, sep, path = v.partition("=")  # NAME=PATH (--peaks, --classes)
        return f"{name}={spooled(path)}" if sep and _is_pipe(path) else v

    if isinstance(getattr(args, "manifest", None), str) and _is_pipe(args.manifest):
        raise ValueError(f"--manifest {args.manifest} is a pipe: its relative peak paths are read from the "
                         "manifest's folder, so write it to a file first")
    try:
        for dest in [d for d in INPUT_FILES if d != "manifest"] + ["peaks", "classes"]:
            v = getattr(args, dest, None)
            if isinstance(v, list):
                setattr(args, dest, [value(x) for x in v])
            elif v is not None:
                setattr(args, dest, value(v))
    except BaseException:
        if folder:
            shutil.rmtree(folder[0], ignore_errors=True)
        raise
    if rewrite_argv:
        for i, word in enumerate(sys.argv):
            for path, target in copied.items():  # PATH, --opt=PATH, NAME=PATH, -oPATH
                if word == path or (word.endswith(path) and word[:-len(path)].endswith("=")) or \
                        (word.endswith(path) and word.startswith("-") and len(word) - len(path) == 2):
                    sys.argv[i] = word[:-len(path)] + target
    return folder[0] if folder else None


def add_overwrite(parser) -> None:
    """``--overwrite``: the one way a command replaces outputs of an earlier run."""
    parser.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run (without it, "
                                                                 "a command whose output exists stops first)")


def refuse_to_overwrite(args: argparse.Namespace, *paths: str) -> None:
    """Stop, before any work, when an output of this command exists and ``--overwrite`` was not
    given. (A folder where an output file goes is refused by the API, which can suggest a file.)"""
    if getattr(args, "overwrite", False):
        return
    existing = [p for p in paths if p and os.path.isfile(p)]
    if existing:
        more = f" (and {len(existing) - 1} more of its outputs)" if len(existing) > 1 else ""
        if getattr(args, "resume", False):  # the run to continue has finished: nothing left to do
            raise ValueError(f"--resume: {existing[0]}{more} is already complete (a stopped run leaves a .partial "
                             f"file instead); pass --overwrite to run it again, or choose another --out")
        raise ValueError(f"{existing[0]}{more} exists from an earlier run: pass --overwrite to replace it, or "
                         f"choose another --out")


class Once(argparse.Action):
    """An option that may be given once: a second value is a usage error (exit 2), not silently
    the one that wins."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} was given twice ({getattr(namespace, self.dest)!r} and {values!r}); "
                         f"it takes one value")
        setattr(namespace, self.dest, values)
