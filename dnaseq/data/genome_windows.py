"""Windows read straight from a reference FASTA, for DNA language models: no labelled dataset.

``dnaseq train`` with ``data.data: genome.fa`` (a FASTA, recognised by its content) cuts each
chromosome, or each region of ``data.windows.regions`` (BED), into ``window``-bp windows every
``stride`` bp (default: the window, no overlap); a region shorter than the window gives one window
centred on it. A window with more than ``max_n_fraction`` N (assembly gaps, masked sequence) is
left out, and the counts are reported; the N positions of kept windows are left out of the loss.
Splits are by chromosome: ``valid_chroms`` and ``test_chroms`` are held out, every other
chromosome trains (or only ``train_chroms`` when given).

A split is held in memory as one uint8 array of its chromosomes' bases (1 byte per base: the dm3
genome is 0.12 GB, hg38 3.1 GB) and windows are offsets into it, so batches cost one gather.
Its rows are ``(codes, codes)``: the targets of a language model are the bases themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome
from ..sequence.intervals import read_intervals
from .layout import DatasetInfo, SplitSource, row_indices

BASES = ["A", "C", "G", "T"]
SPLIT_ROLES = ("train", "valid", "test")


@dataclass
class GenomeWindows:
    """How a language model's windows are cut from a reference FASTA (config key ``data.windows``).

    Args:
        window: window length in bases (the model's ``seq_len``).
        stride: bases between window starts (default: ``window``, no overlap).
        valid_chroms: chromosomes held out for validation (at least one).
        test_chroms: chromosomes held out for testing.
        train_chroms: the training chromosomes (default: every chromosome not held out).
        regions: a BED file: windows only inside its regions (default: whole chromosomes).
        max_n_fraction: windows with a larger fraction of N are left out.
    """
    window: int = 1000
    stride: Optional[int] = None
    valid_chroms: List[str] = field(default_factory=list)
    test_chroms: List[str] = field(default_factory=list)
    train_chroms: Optional[List[str]] = None
    regions: Optional[str] = None
    max_n_fraction: float = 0.5

    def check(self) -> None:
        if self.window < 2:
            raise ValueError(f"data.windows.window must be >= 2 bases, got {self.window}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"data.windows.stride must be >= 1, got {self.stride}")
        if not 0 <= self.max_n_fraction < 1:
            raise ValueError(f"data.windows.max_n_fraction must be in [0, 1), got {self.max_n_fraction}")


def as_windows(value) -> GenomeWindows:
    """``data.windows`` as given (a mapping, None for the defaults, or a :class:`GenomeWindows`)."""
    if value is None:
        return GenomeWindows()
    if isinstance(value, dict):
        return GenomeWindows(**value)
    return value


def split_chromosomes(genome: Genome, cfg: GenomeWindows) -> Dict[str, List[str]]:
    """{split: the FASTA's chromosome names} by the rules of :class:`GenomeWindows`; names given
    in another naming scheme (``2L`` for ``chr2L``) are resolved, unknown ones named."""
    valid = [genome.resolve(c) for c in cfg.valid_chroms]
    test = [genome.resolve(c) for c in cfg.test_chroms]
    both = sorted(set(valid) & set(test))
    if both:
        raise ValueError(f"data.windows: {', '.join(both)} is both a validation and a test chromosome")
    if not valid:
        raise ValueError(f"data.windows.valid_chroms: name the chromosome(s) held out for validation (this "
                         f"FASTA has {', '.join(genome.chromosomes[:8])}{' ...' if len(genome.chromosomes) > 8 else ''})")
    if cfg.train_chroms:
        train = [genome.resolve(c) for c in cfg.train_chroms]
        clash = sorted(set(train) & set(valid + test))
        if clash:
            raise ValueError(f"data.windows: {', '.join(clash)} is both a training and a held-out chromosome")
    else:
        train = [c for c in genome.chromosomes if c not in set(valid + test)]
    return {"train": train, "valid": valid, "test": test}


def _spans(genome: Genome, chroms: List[str], regions: Optional[str]) -> List[Tuple[str, int, int]]:
    """(chrom, start, end) stretches to tile: whole chromosomes, or the regions on them."""
    if regions is None:
        return [(c, 0, genome.lengths[c]) for c in chroms]
    spans = []
    wanted = set(chroms)
    for chrom, (starts, ends) in read_intervals(regions).chroms.items():
        if not genome.has(chrom):
            continue
        name = genome.resolve(chrom)
        if name in wanted:
            spans += [(name, int(s), int(e)) for s, e in zip(starts, ends)]
    return spans


def tile_starts(s: int, e: int, window: int, stride: int) -> np.ndarray:
    """Window starts covering [s, e) every ``stride`` bases; one centred window when shorter."""
    if e - s <= window:
        return np.array([(s + e) // 2 - window // 2], np.int64)
    return np.arange(s, e - window + 1, stride, dtype=np.int64)


class GenomeWindowSplit(SplitSource):
    """One split of a reference's windows: ``read(idx) -> (codes (b, L), codes (b, L))``."""

    def __init__(self, path: str, split: str, cfg: GenomeWindows):
        cfg = as_windows(cfg)
        cfg.check()
        L, stride = int(cfg.window), int(cfg.stride or cfg.window)
        with Genome(path) as genome:
            chroms = split_chromosomes(genome, cfg)[split]
            spans = _spans(genome, chroms, cfg.regions)
            pieces, starts, offset = [], [], 0
            for chrom in sorted({c for c, _, _ in spans}, key=chroms.index):
                codes = genome.chromosome_codes(chrom)
                # one N window's worth on both sides: windows past the ends read N, as Genome.fetch does
                pieces.append(np.concatenate([np.full(L, N_CODE, np.uint8), codes, np.full(L, N_CODE, np.uint8)]))
                for c, s, e in spans:
                    if c == chrom:
                        starts.append(offset + L + np.clip(tile_starts(s, e, L, stride), -L, len(codes)))
                offset += len(codes) + 2 * L
        self.seq = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
        starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        n_frac = self._n_fraction(starts, L)
        keep = n_frac <= cfg.max_n_fraction
        self.starts = starts[keep]
        self.n, self.window, self.split, self.max_n_fraction = len(self.starts), L, split, cfg.max_n_fraction
        self.counts = {"chromosomes": len(chroms), "spans": len(spans), "windows_tiled": int(len(starts)),
                       "over_n_limit": int((~keep).sum()), "windows": int(self.n),
                       "bases": int(np.count_nonzero(self.seq < N_CODE))}
        self.info = DatasetInfo(feature_names=list(BASES), feature_groups=["base"] * 4, seq_len=L,
                                attrs={"kind": "genome_windows", "genome_path": str(path), "split": split,
                                       "chroms": chroms, "counts": self.counts})
        if self.n == 0:
            raise ValueError(self._empty_reason(path, cfg, chroms, spans))

    def _n_fraction(self, starts: np.ndarray, L: int, block: int = 4096) -> np.ndarray:
        out = np.empty(len(starts), np.float64)
        is_n = np.concatenate([[0], np.cumsum(self.seq == N_CODE, dtype=np.int64)])
        for lo in range(0, len(starts), block):
            s = starts[lo:lo + block]
            out[lo:lo + block] = (is_n[s + L] - is_n[s]) / L
        return out

    def _empty_reason(self, path: str, cfg: GenomeWindows, chroms: List[str], spans: list) -> str:
        where = f"{path}: the {self.split} split ({', '.join(chroms) or 'no chromosome'})"
        if not chroms:
            return f"{where} has no chromosome: every chromosome is held out; name data.windows.train_chroms"
        if not spans:
            return f"{where} has no region of {cfg.regions} on it"
        longest = max(e - s for _, s, e in spans)
        if longest < cfg.window:
            return (f"{where} has 0 windows: its longest {'region' if cfg.regions else 'chromosome'} is {longest:,} "
                    f"bp, shorter than a {cfg.window:,} bp window (data.windows.window): every window is padded with N "
                    f"past the ends, over the N limit with the gaps; use a smaller window")
        return (f"{where} has 0 windows: all {self.counts['windows_tiled']:,} windows of {cfg.window} bp have more "
                f"than {cfg.max_n_fraction:g} N (data.windows.max_n_fraction)")

    def describe(self) -> str:
        """One line: the split's windows, and how many the N rule left out."""
        c = self.counts
        dropped = (f"; {c['over_n_limit']:,} of {c['windows_tiled']:,} left out for more than {self.max_n_fraction:g} "
                   f"N (gaps, or chromosomes shorter than a window)" if c["over_n_limit"] else "")
        chroms = self.info.attrs["chroms"]
        return (f"{self.split}: {c['windows']:,} windows of {self.window} bp on {c['chromosomes']} chromosome(s) "
                f"({', '.join(chroms[:6])}{' ...' if len(chroms) > 6 else ''}){dropped}")

    def read(self, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        codes = self.seq[self.starts[row_indices(idx, self.n)][:, None] + np.arange(self.window)[None, :]]
        return codes, codes

    def read_all_labels(self) -> np.ndarray:
        raise ValueError("a language model's windows have no chromatin labels (pos_weight: auto needs a dataset)")


__all__ = ["GenomeWindows", "as_windows", "GenomeWindowSplit", "split_chromosomes", "tile_starts", "BASES"]
