"""``dnaseq background``: score a background set of variants with a checkpoint and keep, per
feature and score type, the distribution of their absolute effects (the file and the e-values it
gives are :mod:`dnaseq.apply.calibration`).

Sources:

* ``vcf``: a user's VCF (e.g. common variants of the population). Every record goes through
  score-variants' own rules (:func:`dnaseq.apply.variant_windows.prepare`); only ``scored`` rows enter the
  background, the others are counted by status in the summary.
* random (the default): ``n`` SNVs drawn from the reference with a seeded generator
  (``numpy.random.default_rng(seed)``). A position is drawn uniformly over the *territory*: every
  base of the chosen chromosomes (all by default), or of the intervals of a BED (``regions``, e.g.
  the model's training regions, or a chromosome it was not trained on), whose scoring window lies
  inside its chromosome. It is kept only if it passes the N rules of scoring: its base is not N
  (scoring would call it ``reference_is_n``) and its window is at most ``MOSTLY_N`` (half) N
  (scoring would flag it "window is N%"); otherwise it is redrawn. The ALT is a transition
  (A<->G, C<->T) with probability ``ts_tv / (1 + ts_tv)`` and otherwise one of the two
  transversions with equal chance, so the expected transition/transversion ratio is ``ts_tv``
  (default 2.0, close to the genome-wide ratio of human SNPs, about 2.0-2.1). Same seed and
  settings, same variants.

The variants are scored through score-variants' path (:func:`dnaseq.apply.variants.variant_units`,
the inference engine, DDP included) in chunks; only the distribution is kept, so memory is bounded
by its sketch (:func:`dnaseq.apply.calibration.default_tail`), not by ``n``. Every
``SAVE_EVERY`` chunks the state is written to ``OUT.partial`` (an ordinary background file plus how
many rows were consumed), and ``resume=True`` continues from there: the random source is drawn
again from the seed and the rows already counted are skipped; the VCF is read on from there. (With
several processes the results reach the process that writes only at the end, so a killed
multi-process run starts again.)
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from .._lazy import api
from .._version import __version__
from ..apply.calibration import DEFAULT_BACKGROUND_SCORES, Background, provenance
from ..apply.variant_windows import MOSTLY_N
from ..apply.variants import effect_scores, variant_units
from ..inference import engine
from ..inference.pairs import pair_step
from ..inference.predictor import settings
from ..outputs import NothingProduced, prepare_output_prefix
from ..sequence.encoding import ALPHABET, N_CODE
from ..sequence.genome import Genome
from ..sequence.intervals import read_intervals
from ..sequence.vcf import VariantRow, VcfReport, check_vcf, read_vcf
from ..settings import RunOptions
from ..training.checkpoint import as_model

log = logging.getLogger("dnaseq")

SAVE_EVERY = 16  # chunks between saves of OUT.partial
_TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
_TRANSVERSIONS = {"A": "CT", "G": "CT", "C": "AG", "T": "AG"}
_DRAW_BATCH = 4096
_MAX_EMPTY_BATCHES = 50  # batches in a row with no usable position: the territory is (nearly) all N


def territory(genome: Genome, window: int, regions: Optional[str] = None,
              chromosomes: Optional[Sequence[str]] = None) -> List[tuple]:
    """(chrom, start, end) stretches, 0-based, where an SNV's scoring window lies inside its chromosome."""
    left, right = window // 2, window - window // 2  # window = [pos0 - left, pos0 + right)
    names = [genome.resolve(c) for c in chromosomes] if chromosomes else list(genome.chromosomes)
    out = []
    if regions is None:
        for c in names:
            lo, hi = left, genome.lengths[c] - right + 1
            if hi > lo:
                out.append((c, lo, hi))
        return out
    bed = read_intervals(regions)
    absent = sorted(name for name in bed.chroms if not genome.has(name))
    if absent:
        shown = ", ".join(absent[:5]) + (" ..." if len(absent) > 5 else "")
        has = ", ".join(genome.chromosomes[:5]) + (" ..." if len(genome.chromosomes) > 5 else "")
        if len(absent) == len(bed.chroms):
            raise ValueError(f"{regions}: none of its chromosomes ({shown}) is in the reference {genome.path} "
                             f"(which has {has})")
        log.warning("%s: regions on %d chromosome(s) absent from the reference (%s) are not used", regions,
                    len(absent), shown)
    for name, (starts, ends) in bed.chroms.items():
        if not genome.has(name):
            continue
        c = genome.resolve(name)
        if chromosomes and c not in names:
            continue
        for s, e in zip(np.maximum(starts, left), np.minimum(ends, genome.lengths[c] - right + 1)):
            if e > s:
                out.append((c, int(s), int(e)))
    return out


def random_snvs(genome: Genome, n: int, window: int, seed: int = 0, regions: Optional[str] = None,
                chromosomes: Optional[Sequence[str]] = None, ts_tv: float = 2.0) -> Iterator[VariantRow]:
    """``n`` SNVs drawn as the module docstring says, as VCF rows (``line`` counts from 1, ``id``
    ``bg<line>``). Raises ValueError when the territory is empty or (nearly) all N."""
    if ts_tv <= 0:
        raise ValueError(f"ts_tv must be positive, got {ts_tv}")
    stretches = territory(genome, window, regions, chromosomes)
    where = f"the regions of {regions}" if regions else "the chromosomes " + ", ".join(chromosomes or ["of the reference"])
    if not stretches:
        raise ValueError(f"no position of {where} has a whole {window} bp window on its chromosome")
    lengths = np.array([e - s for _, s, e in stretches], np.int64)
    cum = np.cumsum(lengths)
    rng = np.random.default_rng(seed)
    p_ts = ts_tv / (1.0 + ts_tv)
    left, made, empty = window // 2, 0, 0
    while made < n:
        draws = rng.integers(0, int(cum[-1]), size=_DRAW_BATCH)
        u = rng.random((_DRAW_BATCH, 2))
        which = np.searchsorted(cum, draws, side="right")
        kept = 0
        for d, k, (u_ts, u_side) in zip(draws.tolist(), which.tolist(), u.tolist()):
            chrom, s, _ = stretches[k]
            pos0 = s + d - (int(cum[k]) - int(lengths[k]))
            codes = genome.fetch(chrom, pos0 - left, pos0 - left + window).codes
            ref_code = int(codes[left])
            if ref_code == N_CODE or np.count_nonzero(codes == N_CODE) > MOSTLY_N * window:
                continue
            ref = ALPHABET[ref_code]
            alt = _TRANSITION[ref] if u_ts < p_ts else _TRANSVERSIONS[ref][int(u_side >= 0.5)]
            made += 1
            kept += 1
            yield VariantRow(made, chrom, pos0 + 1, f"bg{made}", ref, alt, 0, "snv")
            if made == n:
                return
        empty = 0 if kept else empty + 1
        if empty >= _MAX_EMPTY_BATCHES:
            raise ValueError(f"{_MAX_EMPTY_BATCHES * _DRAW_BATCH:,} positions drawn in a row from {where} were "
                             f"all N or in windows more than half N: give regions or chromosomes with sequence")


@dataclass
class BackgroundSummary:
    """What a background run did."""
    path: str
    n: int  # background variants (scored rows)
    statuses: Counter
    seconds: float
    provenance: Dict = field(default_factory=dict)
    ref_differs: int = 0  # VCF rows whose REF is not the genome's (scored with the genome's REF)

    def format(self) -> str:
        lines = [f"background of {self.n:,} scored variants in {self.path} ({self.seconds:.1f} s)"]
        other = {s: c for s, c in self.statuses.items() if s != "scored"}
        if other:
            lines.append("not in the background: " + ", ".join(f"{c:,} {s}" for s, c in sorted(other.items())))
        if self.ref_differs:
            lines.append(f"REF differs from the reference in {self.ref_differs:,} VCF rows (scored with the genome's REF)")
        return "\n".join(lines)


class _BackgroundSink:
    """Adds each chunk's scored rows to the distributions; saves the state every ``SAVE_EVERY`` chunks."""

    def __init__(self, background: Background, partial: str, run_key: Dict, consumed: int = 0,
                 statuses: Optional[Counter] = None, ref_differs: int = 0):
        self.background, self.partial, self.run_key = background, partial, run_key
        self.consumed, self.statuses, self.chunks = consumed, statuses or Counter(), 0
        self.ref_differs = ref_differs

    def write(self, prep, out) -> None:
        if prep.scored_index:
            values = effect_scores(out["ref"], out["alt"], self.background.scores)
            for s, d in self.background.distributions.items():
                d.add(values[s])
        self.statuses.update(prep.status)
        self.ref_differs += sum(m is False for m in prep.ref_match)
        self.consumed += len(prep.rows)
        self.chunks += 1
        if self.chunks % SAVE_EVERY == 0:
            self.save(self.partial)

    def save(self, path: str) -> None:
        self.background.provenance["resume"] = {"key": self.run_key, "consumed": self.consumed,
                                                "statuses": dict(self.statuses), "ref_differs": self.ref_differs}
        self.background.save(path + ".tmp")
        os.replace(path + ".tmp", path)


@api
def build_background(checkpoint, reference: str, out: str, n: int = 100_000, vcf: Optional[str] = None,
                     seed: int = 0, regions: Optional[str] = None, chromosomes: Optional[Sequence[str]] = None,
                     ts_tv: float = 2.0, scores: Sequence[str] = DEFAULT_BACKGROUND_SCORES,
                     tail: Optional[int] = None, strand: Optional[str] = None, run: Optional[RunOptions] = None,
                     chunk_size: int = 1024, resume: bool = False) -> Optional[BackgroundSummary]:
    """Score a background (``vcf``, or ``n`` random SNVs of ``reference``) with ``checkpoint`` and
    write its effect distribution to ``out`` (an ``.h5`` file; see the module docstring and
    :mod:`dnaseq.apply.calibration`). ``strand``: ``as-trained`` (default), ``forward`` or ``both``
    (what score-variants will be run with must be the same). Returns None on ranks other than 0."""
    t0 = time.time()
    if isinstance(checkpoint, (str, os.PathLike)) and not os.path.exists(checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    if not os.path.exists(reference):
        raise FileNotFoundError(f"reference FASTA not found: {reference}")
    if vcf is not None:
        if regions is not None or chromosomes:
            raise ValueError("regions and chromosomes choose where random SNVs are drawn; with a VCF the background "
                             "is the VCF's variants (filter the VCF instead)")
        check_vcf(str(vcf))
    elif n < 1:
        raise ValueError(f"the number of background variants must be at least 1, got {n}")
    if regions is not None and not os.path.exists(regions):
        raise FileNotFoundError(f"regions BED not found: {regions}")
    prepare_output_prefix(str(out))
    model, label = as_model(checkpoint)
    st = settings(model, strand)
    run = RunOptions.for_command("background", run, default_progress=True)
    L = model.seq_len
    source = ({"kind": "vcf", "vcf": str(vcf)} if vcf is not None else
              {"kind": "random", "n": int(n), "seed": int(seed), "regions": regions,
               "chromosomes": list(chromosomes) if chromosomes else None, "ts_tv": float(ts_tv),
               "rule": f"uniform over the territory; base not N; window at most {MOSTLY_N:.0%} N; "
                       f"P(transition) = ts_tv / (1 + ts_tv)"})
    prov = {**provenance(st.net, model.feature_names, reference, st.strand, L, st.fill, label), "source": source,
            "scores": list(scores), "dnaseq_version": __version__, "ref_policy": "genome"}
    run_key = {k: prov[k] for k in ("model_fingerprint", "reference_checksum", "strand", "window", "fill", "source",
                                    "scores")}
    partial = f"{out}.partial"
    background = Background.empty(model.feature_names, scores, prov, tail)
    consumed, statuses, ref_differs = 0, Counter(), 0
    if resume and os.path.exists(partial):
        background, consumed, statuses, ref_differs = _resumed(partial, run_key)
        background.provenance.update({k: v for k, v in prov.items() if k not in run_key})
        log.warning(f"resuming {partial}: {consumed:,} variants already counted")
    report = VcfReport(str(vcf)) if vcf is not None else None
    genome = Genome(reference)

    def rows():
        source_rows = read_vcf(vcf, report) if vcf is not None else random_snvs(
            genome, n, L, seed, regions, chromosomes, ts_tv)
        return itertools.islice(source_rows, consumed, None)

    sink = _BackgroundSink(background, partial, run_key, consumed, statuses, ref_differs)
    try:
        info = engine.run(st.net, lambda: variant_units(rows(), genome, L, chunk_size=chunk_size),
                          pair_step(st.fill, st.strand, run.batch_size, True), lambda: sink, run)
    except KeyboardInterrupt:
        if sink.chunks:  # only the process that owns the output has been handed chunks
            sink.save(partial)
            log.warning(f"interrupted: the state is kept in {partial}; run the same command with --resume")
        raise
    finally:
        genome.close()
    if not info.is_main:
        return None
    if background.n == 0:
        raise NothingProduced(f"no background variant could be scored ({_top(sink.statuses)}): nothing written")
    background.provenance.pop("resume", None)
    background.provenance["statuses"] = dict(sink.statuses)
    if report is not None:
        warnings = report.warnings()
        if sink.ref_differs:
            warnings.append(f"REF differs from the reference in {sink.ref_differs:,} of {sink.consumed:,} VCF rows: "
                            f"another genome build, or a FASTA that is not the VCF's reference?")
            log.warning(warnings[-1])
        background.provenance["vcf_warnings"] = warnings
    background.save(out + ".tmp")
    os.replace(out + ".tmp", out)
    if os.path.exists(partial):
        os.remove(partial)
    return BackgroundSummary(out, background.n, sink.statuses, time.time() - t0, background.provenance,
                             sink.ref_differs)


def _top(statuses: Counter) -> str:
    return ", ".join(f"{c:,} {s}" for s, c in statuses.most_common(3)) or "no variant at all"


def _resumed(partial: str, run_key: Dict):
    try:
        bg = Background.load(partial, unfinished=True)
    except ValueError as exc:
        raise ValueError(f"--resume: {exc}; delete {partial} to start again") from None
    state = bg.provenance.get("resume") or {}
    if json.loads(json.dumps(state.get("key"))) != json.loads(json.dumps(run_key)):
        raise ValueError(f"--resume: {partial} was written by a run with other settings; delete it to start again")
    return bg, int(state["consumed"]), Counter(state.get("statuses", {})), int(state.get("ref_differs", 0))
