"""What a dataset build refuses before it starts (numbers that would build a wrong dataset
without a word) and after it has run (no window at all or in a named hold-out; features the train
split cannot teach), each saying why. ``report`` is the build's
:class:`~dnaseq.data.build.BuildReport`; only its counts are read here."""
from __future__ import annotations

import logging
import numbers
from typing import Sequence

from ..sequence.genome import Genome
from ..settings import whole_number

log = logging.getLogger("dnaseq.data.build")  # the build's warnings, under the build's name


def check_sizes(bin_size, window_size, min_coverage, max_n_fraction, valid_fraction, test_fraction,
                random_split: bool) -> None:
    """Refuse, naming the argument, a number that would build a wrong dataset without a word
    (min_coverage 2: no positive ever; valid_fraction 1.5: no training window) or crash."""
    whole_number(bin_size, "bin_size", unit="bp")
    whole_number(window_size, "window_size", unit="bp")
    if window_size < bin_size or (window_size - bin_size) % 2:
        raise ValueError("window_size must be >= bin_size and differ from it by an even number")
    for name, value, low_open in (("min_coverage", min_coverage, True), ("max_n_fraction", max_n_fraction, False),
                                  ("valid_fraction", valid_fraction, False), ("test_fraction", test_fraction, False)):
        if not isinstance(value, numbers.Real) or not ((0 < value) if low_open else (0 <= value)) or value > 1:
            raise ValueError(f"{name} must be a fraction in {'(0' if low_open else '[0'}, 1], got {value!r}")
    if random_split and valid_fraction + test_fraction >= 1:
        raise ValueError(f"valid_fraction + test_fraction must leave windows to train on: {valid_fraction:g} + "
                         f"{test_fraction:g} >= 1")


def check_not_empty(report, genome: Genome, chroms: Sequence[str], valid_chroms: Sequence[str],
                     test_chroms: Sequence[str], window_size: int, reference: str) -> None:
    """A build that made no window, or none in a split a chromosome was named for, is an error
    saying why (what the windows were left out for), not an empty dataset."""
    empty = [split for split, named in (("valid", valid_chroms), ("test", test_chroms))
             if named and report.windows[split] == 0]
    if sum(report.windows.values()) and not empty:
        return
    dropped = ", ".join(f"{v:,} {k}" for k, v in report.dropped.items() if v)
    why = f" (windows left out: {dropped})" if dropped else ""
    longest = max((genome.lengths[c] for c in chroms), default=0)
    if longest < window_size:
        why += (f"; the longest sequence used is {longest:,} bp, shorter than the {window_size:,} bp window "
                "(bases past a sequence's end count as N)")
    if sum(report.windows.values()) == 0:
        raise ValueError(f"no windows were made from {reference}{why}; see --max-n-fraction, --regions, "
                         "--blacklist, --require-positive and --window-size")
    named = valid_chroms if empty[0] == "valid" else test_chroms
    raise ValueError(f"the {empty[0]} split (chromosomes {', '.join(named)}) has no windows{why}; "
                     f"name other --{empty[0]}-chroms")


def check_train_labels(report, strict: bool, require_positive: bool = False) -> None:
    """Features that the train split cannot teach (no positive window, or no negative one): a
    warning naming them, or under ``strict`` an error. (With ``require_positive`` and one feature,
    every window is positive by that rule: not a finding.)"""
    n = report.windows["train"]
    if not n:
        return
    named = {"no positive": [f for f, p in zip(report.features, report.positives["train"]) if p == 0],
             "no negative": [f for f, p in zip(report.features, report.positives["train"]) if p == n
                             and not (require_positive and len(report.features) == 1)]}
    problems = [f"{len(names)} of {len(report.features)} features {'has' if len(names) == 1 else 'have'} {what} "
                f"window in the train split ({n:,} windows): {', '.join(names[:10])}{', ...' if len(names) > 10 else ''}"
                for what, names in named.items() if names]
    if not problems:
        return
    message = ("; ".join(problems) + ". A model cannot learn such a feature: check its peak file, the chromosome "
               "names in it and --regions / --chroms / --valid-chroms / --test-chroms")
    if strict:
        raise ValueError(message + " (--strict: nothing written)")
    log.warning("%s (--strict makes this an error)", message)
