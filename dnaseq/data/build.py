"""Build a DeepSEA-style training set from a reference FASTA and per-feature peak files.

Rules (DeepSEA defaults, all configurable):

* the genome is cut into ``bin_size`` (200 bp) bins from position 0 of each chromosome; a
  trailing partial bin is not used;
* each bin gets a ``window_size`` (1000 bp) window centred on it: ``[bin_start - (W - B) // 2,
  +W)``; parts beyond the chromosome ends are N;
* a feature is positive for a bin when the union of its peaks covers at least half of the bin
  (``2 * covered >= bin_size``: 100 of 200 bp is positive, 99 is not);
* windows with more than ``max_n_fraction`` N bases are dropped; with ``regions`` only bins at
  least half covered by a region are kept; with ``blacklist`` any window that touches a
  blacklisted base is dropped;
* the split is by chromosome (``valid_chroms`` / ``test_chroms``, the rest is train), or, when
  neither is given, a seeded random split by window.

Work streams chromosome by chromosome and, inside one, in blocks of bins, so memory stays at
about one chromosome of codes plus one block of windows whatever the genome size.
"""
from __future__ import annotations

import csv
import functools
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm.auto import tqdm

from .._lazy import api
from .._version import __version__
from ..outputs import OutputLock, prepare_output_file
from ..settings import ProgressLines
from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome, UnknownChromosomeError
from ..sequence.intervals import IntervalSet, merge_intervals, read_intervals
from ..sequence.sniff import not_a, sniff
from .build_checks import check_not_empty, check_sizes, check_train_labels
from .dataset import SPLITS, DatasetWriter
from .splits import assign_splits, held_out_chromosomes, split_of_chromosome, warn_empty_random_splits

log = logging.getLogger(__name__)


@dataclass
class Feature:
    name: str
    group: str
    path: str


@api
def read_manifest(path: str) -> List[Feature]:
    """A TSV of ``name<TAB>group<TAB>path`` (a header line starting with ``name`` is allowed;
    relative paths are relative to the manifest)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"manifest not found: {path}")
    kind = sniff(path)
    if kind.name not in ("text", "empty"):
        hint = ("give a peak file with --peaks NAME=PATH, or list it in a manifest" if kind.name in ("bed", "gff")
                else "a manifest is a plain TSV of name, group and peak file path, one feature per line")
        raise ValueError(not_a(path, "a manifest", kind, hint))
    features = []
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8", errors="strict") as fh:
        try:
            rows = list(csv.reader(fh, delimiter="\t"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not a plain-text manifest ({exc.reason} at byte {exc.start}); a manifest is "
                             f"a plain TSV of name, group and peak file path") from None
        for lineno, row in enumerate(rows, start=1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if lineno == 1 and row[0].strip().lower() == "name":
                continue
            if len(row) != 3:
                raise ValueError(f"{path}:{lineno}: expected 3 tab-separated columns "
                                 f"(name, group, path), got {len(row)}: {row!r}")
            name, group, p = (x.strip() for x in row)
            p = p if os.path.isabs(p) else os.path.join(base, p)
            features.append(Feature(name, group, p))
    if not features:
        raise ValueError(f"{path}: manifest lists no features")
    names = [f.name for f in features]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate feature names {dupes}")
    return features


def parse_peak_arg(text: str, group: str = "unknown") -> Feature:
    """``NAME=PATH`` or ``NAME:GROUP=PATH`` from the command line."""
    if "=" not in text:
        raise ValueError(f"--peaks expects NAME=PATH or NAME:GROUP=PATH, got {text!r}")
    name, path = text.split("=", 1)
    if ":" in name:
        name, group = name.split(":", 1)
    return Feature(name, group, path)


@dataclass
class BuildReport:
    """Counts of everything kept and everything left out, with reasons."""
    features: List[str]
    groups: List[str]
    windows: Dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})
    positives: Dict[str, List[int]] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    peaks_unknown_chrom: Dict[str, Dict[str, int]] = field(default_factory=dict)
    peaks_past_end: Dict[str, Dict[str, int]] = field(default_factory=dict)  # feature -> chrom -> peaks
    bad_lines_skipped: Dict[str, Dict[str, int]] = field(default_factory=dict)
    chromosomes: Dict[str, str] = field(default_factory=dict)  # chrom -> split or "random"
    seconds: float = 0.0

    def as_dict(self) -> Dict:
        return {"features": self.features, "groups": self.groups, "windows": self.windows,
                "positives": self.positives, "dropped": dict(self.dropped),
                "peaks_unknown_chrom": self.peaks_unknown_chrom, "peaks_past_end": self.peaks_past_end,
                "bad_lines_skipped": self.bad_lines_skipped, "chromosomes": self.chromosomes,
                "seconds": round(self.seconds, 2)}


def _rename_to_genome(iv: IntervalSet, genome: Genome) -> Dict[str, int]:
    """Re-key intervals by the FASTA's chromosome names; return records on unknown chromosomes.

    Names that are aliases of one chromosome (``chr1`` and ``1`` in one file) are merged."""
    unknown, renamed = {}, {}
    for chrom, (s, e) in iv.chroms.items():
        try:
            renamed.setdefault(genome.resolve(chrom), []).append((s, e))
        except UnknownChromosomeError:
            unknown[chrom] = iv.n_records_by_chrom.get(chrom, len(s))  # records, not merged peaks
    iv.chroms = {c: parts[0] if len(parts) == 1 else
                 merge_intervals(np.concatenate([s for s, _ in parts]), np.concatenate([e for _, e in parts]))
                 for c, parts in renamed.items()}
    return unknown


def _past_chromosome_ends(iv: IntervalSet, genome: Genome) -> Dict[str, int]:
    """Per chromosome, the peaks (merged intervals) that start at or past its end: they cover no
    bin. (Peaks that only run past the end keep the part inside.)"""
    past = {}
    for chrom, (starts, _) in iv.chroms.items():
        n = int(np.count_nonzero(starts >= genome.lengths[chrom]))
        if n:
            past[chrom] = n
    return past


@dataclass
class _Rules:
    """What decides which bins become windows, and their labels, in one build."""
    bin_size: int
    window_size: int
    min_covered: float  # bases of a bin a peak set must cover for a positive
    max_n: int  # most N bases a window may hold
    require_positive: bool
    peaks: List[IntervalSet]
    regions: Optional[IntervalSet]
    blacklist: Optional[IntervalSet]


@dataclass
class _Block:
    """Consecutive bins of one chromosome: their windows, labels and which are kept."""
    bin_starts: np.ndarray
    win_starts: np.ndarray
    windows: np.ndarray  # (n, window_size) codes
    n_count: np.ndarray
    labels: np.ndarray  # (n, features) uint8
    keep: np.ndarray


def _read_peaks(features: Sequence[Feature], genome: Genome, reference: str, on_bad_line: str,
                report: BuildReport, gff_type: Optional[str] = None) -> List[IntervalSet]:
    """Each feature's peaks, renamed to the genome's chromosomes; what is left out goes in ``report``."""
    peak_sets = []
    for f in features:
        iv = read_intervals(f.path, on_bad_line=on_bad_line, gff_type=gff_type, skip_hint=True)
        unknown = _rename_to_genome(iv, genome)
        if unknown:
            report.peaks_unknown_chrom[f.name] = unknown
            log.warning("%s: %d peaks on chromosomes absent from %s (%s) are not used",
                        f.path, sum(unknown.values()), reference, ", ".join(sorted(unknown)))
        past = _past_chromosome_ends(iv, genome)
        if past:
            report.peaks_past_end[f.name] = past
            log.warning("%s: %d peaks start past the end of their chromosome in %s (%s; another genome build?) "
                        "and are not used", f.path, sum(past.values()), reference,
                        ", ".join(f"{c} is {genome.lengths[c]:,} bp" for c in sorted(past)))
        if iv.skipped:
            report.bad_lines_skipped[f.name] = dict(iv.skipped)
        if iv.n_records == 0:
            log.warning("%s: no peaks (feature %s will be all negative)", f.path, f.name)
        peak_sets.append(iv)
    return peak_sets


def _optional_intervals(path: Optional[str], genome: Genome, on_bad_line: str) -> Optional[IntervalSet]:
    """``--regions`` / ``--blacklist`` intervals on the genome's chromosome names (None without a file)."""
    if not path:
        return None
    iv = read_intervals(path, on_bad_line, skip_hint=True)
    _rename_to_genome(iv, genome)
    return iv


def _block(rules: _Rules, codes: np.ndarray, chrom: str, b0: int, b1: int, report: BuildReport) -> _Block:
    """Bins ``b0 .. b1 - 1`` of a chromosome (codes): windows, labels, and the DeepSEA rules that
    keep or drop each (drops counted in ``report``)."""
    bin_starts = np.arange(b0, b1, dtype=np.int64) * rules.bin_size
    bin_ends = bin_starts + rules.bin_size
    win_starts = bin_starts - (rules.window_size - rules.bin_size) // 2
    windows = _windows(codes, int(win_starts[0]), len(bin_starts), rules.window_size, rules.bin_size)
    n_count = (windows == N_CODE).sum(axis=1)
    keep = n_count <= rules.max_n
    report.dropped["too many N"] += int((~keep).sum())
    if rules.regions is not None:
        inside = rules.regions.covered_bases(chrom, bin_starts, bin_ends) >= rules.min_covered
        report.dropped["outside --regions"] += int((keep & ~inside).sum())
        keep &= inside
    if rules.blacklist is not None:
        hit = rules.blacklist.overlaps(chrom, win_starts, win_starts + rules.window_size)
        report.dropped["overlaps --blacklist"] += int((keep & hit).sum())
        keep &= ~hit
    labels = np.zeros((len(bin_starts), len(rules.peaks)), np.uint8)
    for j, iv in enumerate(rules.peaks):
        labels[:, j] = iv.covered_bases(chrom, bin_starts, bin_ends) >= rules.min_covered
    if rules.require_positive:
        anypos = labels.any(axis=1)
        report.dropped["no positive feature (--require-positive)"] += int((keep & ~anypos).sum())
        keep &= anypos
    return _Block(bin_starts, win_starts, windows, n_count, labels, keep)


def _write_block(writer: DatasetWriter, block: _Block, assigned: np.ndarray, chrom_index: int,
                 report: BuildReport) -> None:
    """The kept windows of a block into their splits, counted in ``report``."""
    for si, s in enumerate(SPLITS):
        rows = np.nonzero(block.keep & (assigned == si))[0]
        if len(rows) == 0:
            continue
        writer.append(s, block.windows[rows], block.labels[rows], chrom_index, block.win_starts[rows],
                      block.n_count[rows])
        report.windows[s] += len(rows)
        pos = block.labels[rows].sum(axis=0)
        report.positives[s] = [a + int(b) for a, b in zip(report.positives[s], pos)]


@api
def build_dataset(reference: str, features: Sequence[Feature], out: str, *,
                  bin_size: int = 200, window_size: int = 1000, min_coverage: float = 0.5,
                  max_n_fraction: float = 0.05, regions: Optional[str] = None,
                  blacklist: Optional[str] = None, chroms: Optional[Sequence[str]] = None,
                  valid_chroms: Sequence[str] = (), test_chroms: Sequence[str] = (),
                  valid_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0,
                  require_positive: bool = False, pack_labels: bool = False,
                  on_bad_line: str = "error", block_bins: int = 32768, progress: Union[bool, str] = True,
                  command: Optional[str] = None, gff_type: Optional[str] = None, strict: bool = False) -> BuildReport:
    """Build the HDF5 dataset ``out``; returns a :class:`BuildReport` (also stored in the file).
    ``gff_type``: of peak files that are GFF/GTF, use only the lines of this feature type.
    A feature with no positive (or no negative) window in the train split is warned about, by
    name; ``strict`` makes that an error, with nothing written.
    ``progress``: a bar (True), a line per tenth of the genome with an ETA (``"lines"``, for a
    log file), or nothing (False)."""
    t0 = time.perf_counter()
    check_sizes(bin_size, window_size, min_coverage, max_n_fraction, valid_fraction, test_fraction,
                 random_split=not (valid_chroms or test_chroms))
    if not features:
        raise ValueError("no peak files given: pass --manifest or --peaks NAME=PATH")
    prepare_output_file(str(out), "dataset.h5")  # before any work: one line naming the path
    genome = Genome(reference)
    names, groups = [f.name for f in features], [f.group for f in features]
    report = BuildReport(names, groups)
    rules = _Rules(bin_size, window_size, min_coverage * bin_size, int(np.floor(max_n_fraction * window_size)),
                   require_positive, _read_peaks(features, genome, reference, on_bad_line, report, gff_type),
                   _optional_intervals(regions, genome, on_bad_line), _optional_intervals(blacklist, genome, on_bad_line))

    all_chroms = genome.chromosomes if chroms is None else [genome.resolve(c) for c in chroms]
    valid_chroms, test_chroms = held_out_chromosomes(genome, valid_chroms, test_chroms)
    by_chrom = bool(valid_chroms or test_chroms)
    rng = np.random.default_rng(seed)
    report.positives = {s: [0] * len(features) for s in SPLITS}
    split_def = ({"type": "chromosome", "valid": valid_chroms, "test": test_chroms} if by_chrom else
                 {"type": "random", "valid_fraction": valid_fraction, "test_fraction": test_fraction, "seed": seed})

    tmp = out + ".partial"
    lock = OutputLock(out)  # a second build of the same file stops here instead of interleaving
    try:
        bar = _progress(sum(genome.lengths[c] for c in all_chroms), progress)
        with DatasetWriter(tmp, window_size, len(features), pack_labels=pack_labels) as writer:
            for s in SPLITS:
                writer.ensure_split(s)
            for ci, chrom in enumerate(all_chroms):
                split = split_of_chromosome(chrom, valid_chroms, test_chroms) if by_chrom else "random"
                report.chromosomes[chrom] = split
                assign = functools.partial(assign_splits, split, rng=rng, valid_fraction=valid_fraction,
                                           test_fraction=test_fraction)
                _write_chromosome(writer, rules, genome.chromosome_codes(chrom), chrom, ci, assign, block_bins,
                                  report, bar)
            report.seconds = time.perf_counter() - t0
            writer.set_attrs(features=names, groups=groups, chroms=list(all_chroms), base_order="ACGT",
                             code_map={"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}, bin_size=bin_size,
                             window_size=window_size, min_coverage=min_coverage,
                             max_n_fraction=max_n_fraction, genome_path=os.path.abspath(reference),
                             genome_checksum=genome.checksum(), split=split_def,
                             dnaseq_version=__version__,
                             command=command if command is not None else " ".join(sys.argv),
                             regions=os.path.abspath(regions) if regions else "",
                             blacklist=os.path.abspath(blacklist) if blacklist else "",
                             summary=report.as_dict())
        if bar is not None:
            bar.close()
        try:
            check_not_empty(report, genome, all_chroms, valid_chroms, test_chroms, window_size, reference)
        finally:
            genome.close()
        check_train_labels(report, strict, require_positive)
        if not by_chrom:
            warn_empty_random_splits(report.windows, valid_fraction, test_fraction)
        os.replace(tmp, out)  # a crash never leaves a half-written file under the real name
        return report
    except BaseException:
        if os.path.exists(tmp):  # nothing half-written is left for the next run to trip on
            os.remove(tmp)
        raise
    finally:
        lock.release()


def _write_chromosome(writer: DatasetWriter, rules: _Rules, codes: np.ndarray, chrom: str, ci: int, assign,
                      block_bins: int, report: BuildReport, bar) -> None:
    """One chromosome's windows, ``block_bins`` bins at a time (bounded memory), each block's
    windows given their splits by ``assign(n)``; the bar advances by the bases covered."""
    bin_size = rules.bin_size
    n_bins = len(codes) // bin_size
    for b0 in range(0, n_bins, block_bins):
        block = _block(rules, codes, chrom, b0, min(b0 + block_bins, n_bins), report)
        _write_block(writer, block, assign(len(block.keep)), ci, report)
        if bar is not None:
            bar.update(int(block.bin_starts[-1] + bin_size - block.bin_starts[0]))
    if bar is not None:
        bar.update(len(codes) - n_bins * bin_size)


def _windows(codes: np.ndarray, first_start: int, n: int, window_size: int, step: int) -> np.ndarray:
    """``n`` windows of ``window_size`` starting at ``first_start`` every ``step`` bases, as a
    (n, window_size) array; positions off the chromosome are N."""
    lo, hi = first_start, first_start + (n - 1) * step + window_size
    segment = np.full(hi - lo, N_CODE, np.uint8)
    a, b = max(lo, 0), min(hi, len(codes))
    if b > a:
        segment[a - lo:b - lo] = codes[a:b]
    return sliding_window_view(segment, window_size)[::step]


def _progress(total: int, progress: Union[bool, str]):
    """A bar (``True``), a line per tenth with an ETA (``"lines"``: not a terminal), or nothing."""
    if progress == "lines":
        return ProgressLines(total, "build-dataset", unit="bp")
    if not progress:
        return None
    return tqdm(total=total, unit="bp", unit_scale=True, desc="build-dataset", file=sys.stderr)
