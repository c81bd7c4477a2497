"""``dnaseq predict``: a checkpoint's predictions for BED regions, FASTA sequences or whole
chromosomes, as TSV / HDF5 tables and bigWig tracks.

Windows have the model's length L and are read by :mod:`dnaseq.sequence.windows` (its rules:
centred, padded, tiled). Each window is reported with the *bin* it stands for:

* regions (BED + reference): one window centred on each region (the bin is the region), or,
  with ``stride``, the region cut into ``stride`` bp bins from its start;
* chromosomes (``chroms``; ``"all"`` for every sequence of the FASTA): ``stride`` bp bins from
  position 0 (DeepSEA's 200 bp bins in 1000 bp windows with ``stride=200``). Bins that are
  entirely N (assembly gaps) are not predicted and are counted in the summary;
* FASTA sequences: each sequence of exactly L bp is one window; shorter ones are padded with N
  on both sides (flagged ``padded``); longer ones need ``stride`` and are tiled like chromosomes.

``n_fraction`` is the share of N in each window, and runs where most windows are mostly N get a
warning. Everything runs through :mod:`dnaseq.inference.engine`, so the Trainer
options (devices, strategy, precision) and the checkpoint's strand mode and N fill apply.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .._lazy import api
from ..inference import engine
from ..inference.predictor import probabilities_step, settings
from ..outputs import NothingProduced, output_prefix, prepare_output_prefix
from ..sequence.genome import Genome
from ..sequence.windows import chromosome_blocks, describe_left_out, fasta_blocks, region_blocks
from ..settings import RunOptions, whole_number
from ..training.checkpoint import as_model
from .prediction_writers import PredictionSink, resume_point, track_path

log = logging.getLogger(__name__)


@dataclass
class PredictionResult:
    """What ``predict`` made: the table and probabilities (when kept in memory), file paths, counts."""
    features: List[str]
    table: Optional["object"] = None  # pandas DataFrame: window columns + one column per feature
    probabilities: Optional[np.ndarray] = None
    paths: List[str] = field(default_factory=list)
    summary: Dict = field(default_factory=dict)


def _check_request(regions, fasta, chroms, reference, stride, fmt, bigwig) -> None:
    """One clear error, before any work, for a request that cannot be served."""
    if sum(x is not None for x in (regions, fasta, chroms)) != 1:
        raise ValueError("give exactly one input: regions (BED), fasta, or chroms")
    if (regions is not None or chroms is not None) and not reference:
        raise ValueError("regions and chroms need --reference")
    if stride is not None:
        whole_number(stride, "stride", unit="bp")
    if fmt not in ("tsv", "hdf5", "h5"):
        raise ValueError(f"unknown output format {fmt!r}; use tsv or hdf5")
    if bigwig and fasta is not None:
        raise ValueError("bigWig tracks need genome coordinates: use --regions or --chroms with --reference")
    for path, what in ((regions, "regions BED"), (fasta, "FASTA")):
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"{what} not found: {path}")


def _tracks(bigwig: Optional[Sequence[str]], features: List[str]) -> List[str]:
    """The features to write as bigWig tracks (``["all"]``: every one), each checked against the model's."""
    tracks = list(features) if bigwig and list(bigwig) == ["all"] else list(bigwig or [])
    unknown = [f for f in tracks if f not in features]
    if unknown:
        raise ValueError(f"--bigwig feature(s) {unknown} are not predicted by this model; it predicts "
                         f"{', '.join(features[:20])}" + (" ..." if len(features) > 20 else ""))
    return tracks


def _blocks(genome: Optional[Genome], regions, fasta, chroms, L: int, stride: Optional[int], block: int,
            left_out: Counter, examples: Dict[str, str]):
    """(a producer of window blocks, the sequence sizes bigWig headers need or None, the number of
    blocks where it is known in advance) for one input. BED regions that cannot be seen are counted
    in ``left_out`` (reason -> regions) with the first of each in ``examples``, once per pass."""
    if chroms is not None:
        names = genome.chromosomes if list(chroms) == ["all"] else list(dict.fromkeys(genome.resolve(c) for c in chroms))

        def produce():
            for n in names:
                yield from chromosome_blocks(genome, n, L, stride or 200, block)
        sizes = {n: genome.lengths[n] for n in names}
        n_bins = (-(-n // (stride or 200)) for n in sizes.values())  # ceiling divisions
        return produce, sizes, sum(-(-b // block) for b in n_bins)
    if regions is not None:
        return (lambda: region_blocks(genome, regions, L, stride, block, left_out, examples)), dict(genome.lengths), None
    return (lambda: fasta_blocks(fasta, L, stride, block)), None, None


def _resume_plan(produce, rows: int):
    """Where a run that already wrote ``rows`` rows goes on: (whole units done, rows of the next
    unit done, gap bins of the units done). Builds the windows of the done part once, to count."""
    units = gaps = 0
    for make in produce():
        if rows <= 0:
            break
        windows, n_skipped = make()
        if len(windows.codes) > rows:
            break
        rows -= len(windows.codes)
        units, gaps = units + 1, gaps + n_skipped
    return units, rows, gaps


def _result(sink: PredictionSink, features: List[str], meta: Dict, left_out: Counter,
            examples: Dict[str, str]) -> PredictionResult:
    if sink.rows == 0:
        sink.abort()
        why = (f"every region was left out: {describe_left_out(left_out, examples)}" if left_out else
               f"{sink.skipped:,} bins, all N where the model's {meta['window']:,} bp window sees them (assembly gaps)" if sink.skipped else
               f"{meta['regions'] or meta['fasta'] or 'the input'} holds no region or sequence")
        raise NothingProduced(f"nothing to predict ({why}); no output written")
    paths = sink.close()
    summary = {"windows": sink.rows, "mostly_n": sink.mostly_n, "gap_bins_skipped": sink.skipped,
               "bigwig_overlaps_dropped": sink.overlaps_dropped, "regions_left_out": dict(left_out), **meta}
    if sink.rows and sink.mostly_n > sink.rows / 2:
        log.warning("%d of %d windows are more than half N: these predictions say little about sequence",
                    sink.mostly_n, sink.rows)
    if left_out:
        log.warning("%s: %d regions were not predicted: %s", meta["regions"], sum(left_out.values()),
                    describe_left_out(left_out, examples))
    table, probs = sink.in_memory()
    return PredictionResult(list(features), table, probs, paths, summary)


@api
def predict(checkpoint, out: Optional[str] = None, *, reference: Optional[str] = None,
            regions: Optional[str] = None, fasta: Optional[str] = None,
            chroms: Optional[Sequence[str]] = None, stride: Optional[int] = None,
            fmt: str = "tsv", bigwig: Optional[Sequence[str]] = None, strand: Optional[str] = None,
            resume: bool = False, run: Optional[RunOptions] = None) -> Optional[PredictionResult]:
    """Predictions of a checkpoint (path or loaded model) for one kind of input:

    * ``regions`` (BED) with ``reference``; ``stride`` tiles each region into bins;
    * ``chroms`` (names, or ``["all"]``) with ``reference``, tiled with ``stride`` (default 200);
    * ``fasta``: sequences of the model's length (shorter: N-padded; longer: needs ``stride``).

    With ``out`` (a prefix) writes ``PREFIX.tsv`` or ``PREFIX.h5`` (``fmt``) and, for genome
    coordinates, ``PREFIX.FEATURE.bw`` for each feature in ``bigwig`` (``["all"]`` for all),
    and returns the paths; without ``out`` returns the table (pandas) and probabilities. A run
    stopped by Ctrl-C, SIGTERM or a kill leaves ``PREFIX.tsv.partial`` (or ``.h5.partial``);
    ``resume=True`` with the same settings continues after its last complete row.
    Returns None on ranks other than 0 of a multi-process run.
    """
    _check_request(regions, fasta, chroms, reference, stride, fmt, bigwig)
    if bigwig and out is None:
        raise ValueError("bigWig tracks are files: give out (an output prefix) with bigwig")
    if out is not None:
        out = output_prefix(out, {"tsv": ".tsv", "hdf5": ".h5", "h5": ".h5"}[fmt])
    model, label = as_model(checkpoint)
    s = settings(model, strand)
    L, features = model.seq_len, model.feature_names
    tracks = _tracks(bigwig, features)
    if out is not None:
        prepare_output_prefix(str(out), [f"{out}.{'tsv' if fmt == 'tsv' else 'h5'}"] + [track_path(out, f) for f in tracks])
    run = RunOptions.for_command("predict", run)
    meta = {"checkpoint": label, "reference": reference or "", "regions": regions or "", "fasta": fasta or "",
            "chroms": list(chroms or []), "stride": stride, "window": L, "strand": s.strand, "fill": s.fill,
            "precision": str(run.precision)}
    if resume and out is None:
        raise ValueError("resume needs an output prefix (out)")
    done = resume_point(str(out), fmt, meta) if resume else None
    if resume and done is None:  # as score-variants does: nothing was stopped, so start
        log.warning("--resume: no stopped run of %s to continue; starting from the beginning", out)
    genome = Genome(reference) if reference else None
    sinks: List[PredictionSink] = []  # the one made on rank 0, to abort on failure

    def make_sink() -> PredictionSink:
        sinks.append(PredictionSink(out, fmt, features, tracks, sizes, meta, in_order=chroms is not None,
                                    resume_rows=done))
        sinks[-1].skipped += gaps_done
        return sinks[-1]

    left_out, examples = Counter(), {}  # regions that cannot be seen, counted while they are read
    try:
        produce, sizes, total = _blocks(genome, regions, fasta, chroms, L, stride, run.batch_size, left_out, examples)
        units_done, rows_done, gaps_done = _resume_plan(produce, done) if done else (0, 0, 0)
        left_out.clear()  # the resume plan read the regions once already

        def units():
            for i, make in enumerate(produce()):
                if i < units_done:
                    continue

                def unit(make=make, cut=rows_done if i == units_done else 0):
                    windows, n_skipped = make()
                    windows = windows.take(slice(cut, None)) if cut else windows
                    return {"codes": torch.from_numpy(windows.codes), "meta": (windows.table(), n_skipped)}
                yield unit

        info = engine.run(s.net, units, probabilities_step(s.fill, s.strand, run.batch_size), make_sink, run,
                          total=total - units_done if total is not None else None)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: what is written stays for resume
        for sink in sinks:
            sink.suspend()
            if sink.out is not None:
                log.warning("interrupted: the %d rows predicted so far are kept in %s; run the same command "
                            "with --resume to continue", sink.rows, sink.partial)
        raise
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    finally:
        if genome is not None:
            genome.close()
    return _result(info.sink, features, meta, left_out, examples) if info.is_main else None
