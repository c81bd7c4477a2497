"""Which split (train / valid / test) each window of a build goes to: whole chromosomes held out
by name, or each bin drawn at random with the given fractions."""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..sequence.genome import Genome
from .dataset import SPLITS

log = logging.getLogger(__name__)


def held_out_chromosomes(genome: Genome, valid_chroms: Sequence[str],
                         test_chroms: Sequence[str]) -> Tuple[List[str], List[str]]:
    """The validation and test chromosomes under the reference's names; none in both."""
    valid_chroms = [genome.resolve(c) for c in valid_chroms]
    test_chroms = [genome.resolve(c) for c in test_chroms]
    overlap = set(valid_chroms) & set(test_chroms)
    if overlap:
        raise ValueError(f"chromosomes {sorted(overlap)} are in both --valid-chroms and --test-chroms")
    return valid_chroms, test_chroms


def split_of_chromosome(chrom: str, valid: Sequence[str], test: Sequence[str]) -> str:
    if chrom in test:
        return "test"
    if chrom in valid:
        return "valid"
    return "train"


def assign_splits(split: str, n: int, rng: np.random.Generator, valid_fraction: float,
                  test_fraction: float) -> np.ndarray:
    """The split index (0 train, 1 valid, 2 test) of ``n`` bins of a chromosome in ``split``
    (``random``: drawn per bin)."""
    if split != "random":
        return np.full(n, SPLITS.index(split))
    u = rng.random(n)
    return np.where(u < test_fraction, 2, np.where(u < test_fraction + valid_fraction, 1, 0))


def warn_empty_random_splits(windows: Dict[str, int], valid_fraction: float, test_fraction: float) -> None:
    """A random split that was asked for (fraction > 0) but got no window, said once."""
    for split, fraction in (("valid", valid_fraction), ("test", test_fraction)):
        if fraction > 0 and windows[split] == 0:
            log.warning("the %s split got no window (--%s-fraction %g of %d windows): training cannot %s on it; "
                        "use a larger fraction or --%s-chroms", split, split, fraction, sum(windows.values()),
                        "validate" if split == "valid" else "be tested", split)
