"""``dnaseq predict``: a checkpoint's predictions for BED regions, FASTA sequences or whole
chromosomes, as TSV / HDF5 tables and bigWig tracks.

Windows have the model's length L. Each window is reported with the *bin* it stands for:

* regions (BED + reference): one window centred on each region (the bin is the region), or,
  with ``stride``, the region cut into ``stride`` bp bins from its start, each predicted from
  the window centred on that bin;
* chromosomes (``chroms``; ``"all"`` for every sequence of the FASTA): ``stride`` bp bins from
  position 0, each predicted from the window centred on it (DeepSEA's 200 bp bins in 1000 bp
  windows with ``stride=200``). Bins that are entirely N (assembly gaps) are not predicted and
  are counted in the summary;
* FASTA sequences: each sequence of exactly L bp is one window; shorter ones are padded with N
  on both sides (flagged ``padded``); longer ones need ``stride`` and are tiled like chromosomes.

The window of a bin ``[s, e)`` starts at ``(s + e) // 2 - L // 2`` (the centring rule of
:meth:`dnaseq.Genome.window`); windows running off a sequence end are filled with N and flagged
``padded``; ``n_fraction`` is the share of N in each window, and runs where most windows are
mostly N get a warning. Everything runs through :mod:`dnaseq.inference.engine`, so the Trainer
options (devices, strategy, precision) and the checkpoint's strand mode and N fill apply.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..inference import engine
from ..inference.predictor import probabilities_step, settings
from ..outputs import prepare_output_prefix
from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome
from ..sequence.intervals import iter_bed_records
from ..settings import RunOptions
from .prediction_writers import PredictionSink

log = logging.getLogger(__name__)


@dataclass
class Windows:
    """A block of windows: their codes and the table rows describing them."""
    codes: np.ndarray  # (n, L) uint8
    name: List[str]
    chrom: List[str]
    start: np.ndarray  # window start, 0-based (may be negative)
    bin_start: np.ndarray
    bin_end: np.ndarray
    padded: np.ndarray  # bool

    def table(self) -> Dict[str, np.ndarray]:
        L = self.codes.shape[1]
        return {"name": np.asarray(self.name, dtype=object), "chrom": np.asarray(self.chrom, dtype=object),
                "start": self.start, "end": self.start + L, "bin_start": self.bin_start,
                "bin_end": self.bin_end, "padded": self.padded,
                "n_fraction": (self.codes == N_CODE).mean(axis=1).astype(np.float32)}


@dataclass
class PredictionResult:
    """What ``predict`` made: the table and probabilities (when kept in memory), file paths, counts."""
    features: List[str]
    table: Optional["object"] = None  # pandas DataFrame: window columns + one column per feature
    probabilities: Optional[np.ndarray] = None
    paths: List[str] = field(default_factory=list)
    summary: Dict = field(default_factory=dict)


def _bins(length: int, stride: int, lo: int = 0, hi: Optional[int] = None):
    hi = length if hi is None else hi
    starts = np.arange(lo, hi, stride, dtype=np.int64)
    return starts, np.minimum(starts + stride, hi)


def _window_starts(bin_start: np.ndarray, bin_end: np.ndarray, L: int) -> np.ndarray:
    return (bin_start + bin_end) // 2 - L // 2


def _slice_windows(seq_codes: np.ndarray, seq_len: int, starts: np.ndarray, L: int):
    """Windows [start, start + L) of a sequence held as codes, N beyond its ends."""
    lo, hi = int(starts.min()), int(starts.max()) + L
    span = np.full(hi - lo, N_CODE, np.uint8)
    a, b = max(lo, 0), min(hi, seq_len)
    if b > a:
        span[a - lo:b - lo] = seq_codes(a, b) if callable(seq_codes) else seq_codes[a:b]
    view = np.lib.stride_tricks.sliding_window_view(span, L)
    codes = view[starts - lo]
    padded = (starts < 0) | (starts + L > seq_len)
    return np.ascontiguousarray(codes), padded


def _chromosome_blocks(genome: Genome, chrom: str, L: int, stride: int, block: int):
    """Units of up to ``block`` bins of one chromosome (bins entirely N are left out)."""
    name = genome.resolve(chrom)
    length = genome.lengths[name]
    bs, be = _bins(length, stride)
    for lo in range(0, len(bs), block):
        s, e = bs[lo:lo + block], be[lo:lo + block]

        def unit(s=s, e=e):
            starts = _window_starts(s, e, L)
            codes, padded = _slice_windows(lambda a, b: genome.fetch(name, a, b).codes, length, starts, L)
            # the bin's own bases inside each window: all N means an assembly gap
            rel = (s - starts)
            width = (e - s)
            idx = rel[:, None] + np.arange(int(width.max()))[None, :]
            in_bin = np.arange(int(width.max()))[None, :] < width[:, None]
            bin_n = np.where(in_bin, np.take_along_axis(codes, np.minimum(idx, L - 1), axis=1) == N_CODE, True)
            keep = ~bin_n.all(axis=1)
            return Windows(codes[keep], [f"{name}:{a + 1}-{b}" for a, b in zip(s[keep], e[keep])],
                           [name] * int(keep.sum()), starts[keep], s[keep], e[keep], padded[keep]), int((~keep).sum())
        yield unit


def _region_blocks(genome: Genome, bed: str, L: int, stride: Optional[int], block: int):
    """Units of up to ``block`` windows for the regions of a BED file."""
    pending: List[tuple] = []

    def flush(items):
        def unit(items=items):
            codes, names, chroms, starts, bss, bes, pads = [], [], [], [], [], [], []
            for chrom, s, e in items:
                name = genome.resolve(chrom)
                st = int(_window_starts(np.array([s]), np.array([e]), L)[0])
                w = genome.fetch(name, st, st + L)
                codes.append(w.codes)
                names.append(f"{name}:{s + 1}-{e}")
                chroms.append(name)
                starts.append(st)
                bss.append(s)
                bes.append(e)
                pads.append(w.padded)
            return Windows(np.stack(codes), names, chroms, np.array(starts, np.int64), np.array(bss, np.int64),
                           np.array(bes, np.int64), np.array(pads, bool)), 0
        return unit

    for chrom, s, e in iter_bed_records(bed):
        genome.resolve(chrom)  # unknown chromosome: stop early, naming it
        if stride:
            bs, be = _bins(e, stride, lo=s, hi=e)
            pending.extend((chrom, int(a), int(b)) for a, b in zip(bs, be))
        else:
            pending.append((chrom, s, e))
        while len(pending) >= block:
            yield flush(pending[:block])
            pending = pending[block:]
    if pending:
        yield flush(pending)


def _fasta_blocks(path: str, L: int, stride: Optional[int], block: int):
    """Units of up to ``block`` windows for the sequences of a FASTA file."""
    with Genome(path) as g:
        lengths = dict(g.lengths)
    for name, length in lengths.items():
        if length == L or (length < L and not stride):
            def unit(name=name, length=length):
                with Genome(path) as g:
                    start = (length - L) // 2  # negative: N on both sides
                    w = g.fetch(name, start, start + L)
                return Windows(w.codes[None], [name], [name], np.array([start], np.int64),
                               np.array([0], np.int64), np.array([length], np.int64),
                               np.array([w.padded])), 0
            yield unit
        elif not stride:
            raise ValueError(f"{path}: sequence {name!r} has {length:,} bp but the model takes {L} bp; "
                             f"pass --stride to tile it, or use sequences of at most {L} bp")
        else:
            bs, be = _bins(length, stride)
            for lo in range(0, len(bs), block):
                def unit(name=name, length=length, s=bs[lo:lo + block], e=be[lo:lo + block]):
                    starts = _window_starts(s, e, L)
                    with Genome(path) as g:
                        codes, padded = _slice_windows(lambda a, b: g.fetch(name, a, b).codes, length, starts, L)
                    return Windows(codes, [f"{name}:{a + 1}-{b}" for a, b in zip(s, e)], [name] * len(s),
                                   starts, s, e, padded), 0
                yield unit


def predict(checkpoint, out: Optional[str] = None, *, reference: Optional[str] = None,
            regions: Optional[str] = None, fasta: Optional[str] = None,
            chroms: Optional[Sequence[str]] = None, stride: Optional[int] = None,
            fmt: str = "tsv", bigwig: Optional[Sequence[str]] = None, strand: Optional[str] = None,
            run: Optional[RunOptions] = None) -> Optional[PredictionResult]:
    """Predictions of a checkpoint (path or loaded model) for one kind of input:

    * ``regions`` (BED) with ``reference``; ``stride`` tiles each region into bins;
    * ``chroms`` (names, or ``["all"]``) with ``reference``, tiled with ``stride`` (default 200);
    * ``fasta``: sequences of the model's length (shorter: N-padded; longer: needs ``stride``).

    With ``out`` (a prefix) writes ``PREFIX.tsv`` or ``PREFIX.h5`` (``fmt``) and, for genome
    coordinates, ``PREFIX.FEATURE.bw`` for each feature in ``bigwig`` (``["all"]`` for all),
    and returns the paths; without ``out`` returns the table (pandas) and probabilities.
    Returns None on ranks other than 0 of a multi-process run.
    """
    from ..training.task import as_model

    if sum(x is not None for x in (regions, fasta, chroms)) != 1:
        raise ValueError("give exactly one input: regions (BED), fasta, or chroms")
    if (regions is not None or chroms is not None) and not reference:
        raise ValueError("regions and chroms need --reference")
    if stride is not None and stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if fmt not in ("tsv", "hdf5", "h5"):
        raise ValueError(f"unknown output format {fmt!r}; use tsv or hdf5")
    if bigwig and fasta is not None:
        raise ValueError("bigWig tracks need genome coordinates: use --regions or --chroms with --reference")
    model, label = as_model(checkpoint)
    s = settings(model, strand)
    L, features = model.seq_len, model.feature_names
    tracks = list(features) if bigwig and list(bigwig) == ["all"] else list(bigwig or [])
    unknown = [f for f in tracks if f not in features]
    if unknown:
        raise ValueError(f"--bigwig feature(s) {unknown} are not predicted by this model; it predicts "
                         f"{', '.join(features[:20])}" + (" ..." if len(features) > 20 else ""))
    for path, what in ((regions, "regions BED"), (fasta, "FASTA")):
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"{what} not found: {path}")
    if out is not None:
        prepare_output_prefix(str(out))
    run = run or RunOptions(progress=False)
    genome = Genome(reference) if reference else None
    block = run.batch_size
    try:
        if chroms is not None:
            names = genome.chromosomes if list(chroms) == ["all"] else [genome.resolve(c) for c in chroms]
            step_bp = stride or 200
            sizes = {n: genome.lengths[n] for n in names}

            def produce():
                for n in names:
                    yield from _chromosome_blocks(genome, n, L, step_bp, block)
        elif regions is not None:
            sizes = dict(genome.lengths)

            def produce():
                yield from _region_blocks(genome, regions, L, stride, block)
        else:
            sizes = None

            def produce():
                yield from _fasta_blocks(fasta, L, stride, block)
        meta = {"checkpoint": label, "reference": reference or "", "regions": regions or "", "fasta": fasta or "",
                "chroms": list(chroms or []), "stride": stride, "window": L, "strand": s.strand, "fill": s.fill,
                "precision": str(run.precision)}
        def units():
            for make in produce():
                def unit(make=make):
                    windows, n_skipped = make()
                    return {"codes": torch.from_numpy(windows.codes), "meta": (windows.table(), n_skipped)}
                yield unit

        info = engine.run(s.net, units, probabilities_step(s.fill, s.strand, run.batch_size),
                          lambda: PredictionSink(out, fmt, features, tracks, sizes, meta), run)
    finally:
        if genome is not None:
            genome.close()
    if not info.is_main:
        return None
    sink = info.sink
    paths = sink.close()
    summary = {"windows": sink.rows, "mostly_n": sink.mostly_n, "gap_bins_skipped": sink.skipped,
               "bigwig_overlaps_dropped": sink.overlaps_dropped, **meta}
    if sink.rows and sink.mostly_n > sink.rows / 2:
        log.warning("%d of %d windows are more than half N: these predictions say little about sequence",
                    sink.mostly_n, sink.rows)
    if sink.rows == 0:
        log.warning("no windows to predict (empty input, or every bin is N)")
    table, probs = sink.in_memory()
    return PredictionResult(list(features), table, probs, paths, summary)

