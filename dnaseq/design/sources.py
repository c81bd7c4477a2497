"""Where designs start: genome regions, FASTA sequences or random sequences of the model's
length, and the masks of bases a BED file protects.

Regions get the model-length window centred on them, as ``dnaseq predict`` does (the rules of
:mod:`dnaseq.sequence.windows`; N past a chromosome end). A protect BED names genome
coordinates for region starts, and for FASTA or random starts the sequence's name as the
chromosome and 0-based positions within the sequence.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..outputs import NothingProduced
from ..sequence.genome import Genome
from ..sequence.intervals import read_intervals
from ..sequence.names import candidate_names
from ..sequence.textio import unique_labels
from ..sequence.windows import Windows, describe_left_out, fasta_input, region_records, region_window

log = logging.getLogger(__name__)


@dataclass
class Starts:
    """Start sequences (N, L) uint8 codes, their names, and for genome regions the window's
    chromosome and 0-based start (None otherwise)."""
    names: List[str]
    codes: np.ndarray
    chroms: List[Optional[str]]
    window_starts: List[Optional[int]]

    def window_label(self, i: int) -> str:
        """``chrom:start-end`` (1-based, inclusive) of start i's window, or '' when not from a genome."""
        if self.chroms[i] is None:
            return ""
        s = int(self.window_starts[i])
        return f"{self.chroms[i]}:{s + 1}-{s + self.codes.shape[1]}"


def region_starts(reference: str, bed: str, length: int) -> Starts:
    """One window of ``length`` bases centred on each region of ``bed``; regions the reference
    cannot show are left out with a warning (:func:`dnaseq.sequence.windows.region_records`)."""
    left_out, examples = Counter(), {}
    with Genome(reference) as genome:
        windows = [region_window(genome, chrom, s, e, length, label) for chrom, s, e, label in
                   region_records(genome, bed, left_out, examples)]
    if left_out:
        log.warning("%s: %d regions left out: %s", bed, sum(left_out.values()), describe_left_out(left_out, examples))
    if not windows:
        raise NothingProduced(f"{bed}: no regions" + (f" the reference can show ({describe_left_out(left_out, examples)})"
                                                   if left_out else ""))
    w = Windows.stack(windows)  # named by the BED's name column as predict does; a repeated name gets #2, #3
    return Starts(unique_labels(w.name), w.codes, w.chrom, [int(s) for s in w.start])


def fasta_starts(path: str, length: int) -> Starts:
    """The sequences of a FASTA file, each exactly ``length`` bases."""
    names, codes, _, _ = fasta_input(path, length)
    return Starts(list(names), np.asarray(codes, np.uint8), [None] * len(names), [None] * len(names))


def random_starts(n: int, length: int, seed: int = 0) -> Starts:
    """``n`` uniformly random sequences (named ``random_0`` ...), reproducible from ``seed``."""
    if n < 1:
        raise ValueError(f"the number of random sequences must be at least 1, got {n}")
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length)).astype(np.uint8)
    names = [f"random_{i}" for i in range(n)]
    return Starts(names, codes, [None] * n, [None] * n)


def protected_mask(bed: str, starts: Starts) -> np.ndarray:
    """(N, L) bool: the bases of each start that the intervals of ``bed`` cover (module docstring)."""
    intervals = read_intervals(bed)
    n, L = starts.codes.shape
    mask = np.zeros((n, L), bool)
    for i in range(n):
        if starts.chroms[i] is not None:
            key, offset = starts.chroms[i], int(starts.window_starts[i])
        else:
            key, offset = starts.names[i], 0
        s, e = intervals.intervals(key)
        for a, b in zip(s - offset, e - offset):
            mask[i, max(int(a), 0):max(min(int(b), L), 0)] = True
    _report_unused(bed, intervals, starts, mask)
    return mask


def _report_unused(bed: str, intervals, starts: Starts, mask: np.ndarray) -> None:
    """A protect BED whose names match no start (a typo, ``chrZZ``) protected nothing there: say
    so, naming them, rather than edit what the user meant to keep."""
    keys = list(dict.fromkeys(c if c is not None else name for c, name in zip(starts.chroms, starts.names)))
    known = {name for key in keys for name in candidate_names(key)}
    unused = sorted(name for name in intervals.chroms if name not in known)
    genome_starts = any(c is not None for c in starts.chroms)  # a genome-wide BED names other chromosomes too
    if not intervals.chroms:
        log.warning("%s holds no interval: nothing is protected", bed)
    elif unused and (not genome_starts or len(unused) == len(intervals.chroms)):
        shown = ", ".join(unused[:5]) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        log.warning("%s: intervals on %s match no start sequence (%s %s%s) and protect nothing",
                    bed, shown, "their chromosomes are" if genome_starts else "their names are",
                    ", ".join(keys[:5]), " ..." if len(keys) > 5 else "")
    if not mask.any() and intervals.chroms:
        log.warning("%s protects no base of the start sequences (its intervals lie outside their windows)", bed)
