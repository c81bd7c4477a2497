"""The ``dnaseq`` command: the parser of every command group (registered in order below) and
``main``, which turns the API's errors into one line and an exit status."""
from __future__ import annotations

import argparse
import errno
import gc
import logging
import os
import re
import shutil
import sys
from typing import List, Optional

from .._version import __version__
from ..outputs import NothingProduced, OutputBusy
from . import apply, data, design, interpret, lm, prioritize, tune, variants, weights
from .common import HelpFormatter, UsageError, missing_input, spool_pipes


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dnaseq", description="Deep-learning models of DNA sequence.",
                                epilog="Exit status: 0 done; 1 an error (a missing or unreadable input, a failed "
                                       "run); 2 a usage error (unknown or missing options, never abbreviated); "
                                       "3 nothing produced; 130 interrupted.")
    p.add_argument("--version", action="version", version=f"dnaseq {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    data.register(sub)
    sub.add_parser("train", help="train a model from a YAML config (dnaseq train --config X.yaml; "
                                 "see dnaseq train --help)", add_help=False)

    for group in (apply, variants, prioritize, interpret, design, weights, tune, lm):  # each adds its subcommands
        group.register(sub)
    _no_abbreviations(p)
    for command in sub.choices.values():  # each option says its default once (see HelpFormatter)
        command.formatter_class = HelpFormatter
        for action in command._actions:
            if action.help is None and not any(action.default is x for x in (None, False, argparse.SUPPRESS)):
                action.help = "(default: %(default)s)"  # argparse prints nothing for options without help
    return p


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """No prefix matching in any parser: ``--vc`` is not taken for ``--vcf``, a typo such as
    ``--chunk-siz`` is an error, not silently another option."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _no_abbreviations(child)


def main(argv: Optional[List[str]] = None) -> int:
    code = 1
    try:
        code = _main(argv)
        return code
    except KeyboardInterrupt:  # Ctrl-C while a command was still starting (importing torch, say)
        words = sys.argv[1:] if argv is None else argv
        print(" ".join(["dnaseq", *words[:1]]) + ": interrupted", file=sys.stderr)
        code = 130
        return code
    finally:
        if argv is None:  # run as the `dnaseq` command (a caller passing argv keeps its process as it was)
            _quick_exit()
            if code == 130:
                _exit_interrupted()


def _exit_interrupted() -> None:
    """Leave with status 130 at once. Under ``python -m dnaseq.cli``, a Ctrl-C that arrived while
    torch or Lightning was importing could make the interpreter kill itself with SIGINT at exit
    (status -2) although it was caught and reported (seen in 2 of 11 tries); what the run wrote
    is closed already."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _quick_exit() -> None:
    """Make the interpreter's exit cheap once a command is done: one collection now finalises what
    the run left in reference cycles (an unclosed file is flushed as before), then ``gc.freeze``
    keeps the exit's collections from walking the object graph of torch and Lightning again. That
    walk took about 1 s of every command that runs a model (14 variants scored in 5.2 s, 1.2 s of
    it after the last line was written)."""
    if "torch" in sys.modules:  # commands that never imported torch exit in milliseconds anyway
        gc.collect()
        gc.freeze()


def _main(argv: Optional[List[str]]) -> int:
    command_line = argv is None  # the `dnaseq` command, not a caller passing argv
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":  # Lightning's own CLI parses everything after `train`
        from ..training.train import main as train_main
        return train_main(argv[1:])
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    missing = missing_input(args)
    if missing:
        print(f"dnaseq {args.command}: error: {missing}", file=sys.stderr)
        return 1
    sys.unraisablehook = _without_write_failures(sys.unraisablehook)
    spool = None
    try:
        spool = spool_pipes(args, rewrite_argv=command_line)
        return args.func(args)
    except NothingProduced as exc:
        print(f"dnaseq {args.command}: error: {exc} (exit status 3)", file=sys.stderr)
        return 3
    except UsageError as exc:
        print(f"dnaseq {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"dnaseq {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dnaseq {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`dnaseq info X | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141
    except OutputBusy as exc:
        print(f"dnaseq {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:
        failure = write_failure(exc)
        if failure is None:
            raise
        code, hdf5 = failure
        if hdf5:  # HDF5's state after a failed write crashes h5py's clean-up (at the next collection)
            gc.disable()
        print(f"dnaseq {args.command}: error: writing the output failed: {os.strerror(code)}"
              + (" (the disk is full, or a quota or file-size limit was reached)" if code in _FULL else "")
              + "; no output was completed (outputs are written under a .partial name and renamed at the "
                "end): make room and run the command again", file=sys.stderr)
        if hdf5:  # ... and at exit: leave now
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    finally:
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)


_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_WRITE_ERRNOS = _FULL | {errno.EROFS, errno.EIO}
_HDF5_ERRNO = re.compile(r"write failed.*errno = (\d+)", re.S)


def _without_write_failures(hook):
    """``sys.unraisablehook`` that leaves out the failed writes h5py reports while closing objects
    (the one-line error says what happened); everything else goes to ``hook``."""
    def quiet(unraisable):
        if unraisable.exc_value is None or write_failure(unraisable.exc_value) is None:
            hook(unraisable)
    return quiet


def write_failure(exc: BaseException) -> Optional[tuple]:
    """(errno, whether HDF5 raised it) when ``exc`` is an output write that failed for lack of
    room or a read-only or broken disk (Python's OSError, or h5py's error text); None otherwise."""
    m = _HDF5_ERRNO.search(str(exc))
    if m and int(m.group(1)) in _WRITE_ERRNOS:
        return int(m.group(1)), True
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        return exc.errno, False
    return None


if __name__ == "__main__":
    sys.exit(main())
