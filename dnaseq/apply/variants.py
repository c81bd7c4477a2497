"""Variant-effect scoring: VCF records -> reference/alternative windows -> predictions -> scores.

Which rows are scored, their statuses and their windows: :mod:`dnaseq.apply.variant_windows`.

Scores per feature (``scores``): ``ref`` and ``alt`` probabilities, ``diff`` = alt - ref,
``abs_diff``, ``logit_diff`` = logit(alt) - logit(ref) (probabilities clipped to [1e-6,
1 - 1e-6]), and DeepSEA's ``combined`` = |logit_diff| * |diff|. Strands follow the checkpoint
(``strand="as-trained"``; ``both`` averages window and reverse complement).

Inputs are checked before any output is created (missing or non-VCF input, unwritable
output folder: an error, nothing written); outputs are written as ``.partial`` files and
renamed when the run succeeds. Empty or header-less input, malformed lines and runs where
nothing was scored give warnings (logged on ``dnaseq`` and listed under ``warnings`` in
``PREFIX.summary.json``). Work and output go in chunks, so memory does not grow with the VCF.
"""
from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from .._lazy import api
from .._version import __version__
from ..inference import engine
from ..inference.pairs import lm_pair_step, pair_step, pair_unit
from ..inference.predictor import settings
from ..models.state import fingerprint
from ..outputs import complete_rows, prepare_output_prefix
from ..sequence.genome import Genome
from ..sequence.vcf import VariantRow, VcfReport, check_vcf, count_records, read_vcf
from ..settings import RunOptions, strand_or_rc_average
from ..training.checkpoint import as_model
from .calibration import DEFAULT_THRESHOLD, Background, provenance
from .variant_report import ScoringSummary, run_warnings, write_summary
from .variant_windows import Prepared, prepare
from .variant_writers import DEFAULT_SCORES, REF_POLICIES, SCORES, make_writer, output_path

log = logging.getLogger("dnaseq")

LOGIT_EPS = 1e-6
LM_SCORES = ("ref", "alt", "llr")
LM_FEATURES = ["window", "site"]


def lm_effect_scores(ref: np.ndarray, alt: np.ndarray, which: Sequence[str] = LM_SCORES) -> Dict[str, np.ndarray]:
    """A language model's scores (each (n, 2): window, site) from REF and ALT log2-likelihoods:
    ``llr`` = log2 P(ALT) - log2 P(REF) (negative: the ALT is less likely than the REF)."""
    ref64, alt64 = ref.astype(np.float64), alt.astype(np.float64)
    all_scores = {"ref": ref64, "alt": alt64, "llr": alt64 - ref64}
    return {k: all_scores[k] for k in which}


def _language_model_scores(scores: Sequence[str], background) -> List[str]:
    """The score types of a language model's run: ``ref, alt, llr`` unless others of them were asked for."""
    if background is not None:
        raise ValueError("a background calibrates chromatin scores; a language model's zero-shot scores take none")
    if tuple(scores) == tuple(DEFAULT_SCORES):
        return list(LM_SCORES)
    bad = [x for x in scores if x not in LM_SCORES]
    if bad:
        raise ValueError(f"score(s) {bad} are chromatin scores; a DNA language model gives {', '.join(LM_SCORES)}")
    return list(scores)


def effect_scores(ref: np.ndarray, alt: np.ndarray, which: Sequence[str] = SCORES) -> Dict[str, np.ndarray]:
    """Scores (each (n, F)) from reference and alternative probabilities."""
    ref64, alt64 = ref.astype(np.float64), alt.astype(np.float64)
    r, a = np.clip(ref64, LOGIT_EPS, 1 - LOGIT_EPS), np.clip(alt64, LOGIT_EPS, 1 - LOGIT_EPS)
    logit_diff = (np.log(a) - np.log1p(-a)) - (np.log(r) - np.log1p(-r))
    diff = alt64 - ref64
    all_scores = {"ref": ref64, "alt": alt64, "diff": diff, "abs_diff": np.abs(diff),
                  "logit_diff": logit_diff, "combined": np.abs(logit_diff) * np.abs(diff)}
    return {k: all_scores[k] for k in which}


def _chunks(rows: Iterable[VariantRow], size: int) -> Iterator[List[VariantRow]]:
    chunk = []
    for r in rows:
        chunk.append(r)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_inputs(checkpoint, vcf: str, reference: str, out: str, fmt: str = "tsv") -> Optional[int]:
    """Everything that can be checked before outputs are created: the output format, the
    checkpoint and reference exist, the VCF is readable and looks like a VCF
    (:func:`dnaseq.sequence.vcf.check_vcf`), and the output prefix's folder exists (it is created) and
    is writable. Raises FileNotFoundError / ValueError with one line naming the path. Returns the
    VCF's record count when the check read it to its end (a gzipped VCF), else None."""

    output_path(fmt, str(out))
    if isinstance(checkpoint, (str, os.PathLike)) and not os.path.exists(checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    if not os.path.exists(reference):
        raise FileNotFoundError(f"reference FASTA not found: {reference}")
    records = check_vcf(str(vcf))
    prepare_output_prefix(str(out), [output_path(fmt, str(out)), f"{out}.summary.json"])
    return records


@api
def score_variants(checkpoint, vcf: str, reference: str, out: str, scores: Sequence[str] = DEFAULT_SCORES,
                   fmt: str = "tsv", ref_policy: str = "genome", strand: Optional[str] = None,
                   batch_size: Optional[int] = None, chunk_size: int = 1024, device: Optional[str] = None,
                   progress: Optional[bool] = None, score_n_reference: bool = False, run: Optional[RunOptions] = None,
                   resume: bool = False, local: bool = True, rc_average: Optional[bool] = None,
                   background: Optional[str] = None, evalue_threshold: float = DEFAULT_THRESHOLD) -> ScoringSummary:
    """Score every variant of ``vcf`` against ``reference`` with a checkpoint (path or model).

    Writes ``{out}.tsv`` (``fmt="tsv"``) or ``{out}.h5`` (``fmt="hdf5"``) plus ``{out}.summary.json``
    (created only when the run succeeds; inputs are checked first, see :func:`check_inputs`).
    ``strand``: ``as-trained`` (default: the checkpoint's), ``forward`` or ``both``
    (``rc_average`` is the 0.1 spelling). ``run``: Trainer options (devices, strategy,
    precision) of the one inference path; chunks of ``chunk_size`` rows are dealt to the
    devices and written in VCF order. Substitutions are scored by local recomputation
    (``local=False``: full passes). ``resume`` continues a TSV run that was killed: rows
    already in ``{out}.tsv.partial`` are kept and the VCF is read on from there. Returns None
    on ranks other than 0 of a multi-process run.

    ``background`` (a file of ``dnaseq background``) adds e-values per feature for each of its
    score types (``evalue_diff:<feature>`` ...) and per-row summary columns (smallest e-value, its
    feature, features below ``evalue_threshold``, Simes' combination; see
    :mod:`dnaseq.apply.calibration`). A background made with other weights, reference, strand
    setting, window or N fill is refused before anything is written.
    """
    scores = list(dict.fromkeys(DEFAULT_SCORES if scores is None else scores))  # each once (diff,diff: two columns)
    if not scores:
        raise ValueError("scores is empty: name at least one score type")
    _check_options(scores, ref_policy, evalue_threshold)
    strand = strand_or_rc_average(strand, rc_average)
    records = check_inputs(checkpoint, vcf, reference, out, fmt)
    bg = Background.load(str(background)) if background is not None else None
    model, label = as_model(checkpoint, language_model=True)
    language_model = model.language_model
    scores = _scores_for_model(language_model, scores, strand, bg)
    st = settings(model, "forward" if language_model else strand)
    model_fingerprint = fingerprint(st.net)
    if bg is not None:
        bg.check_matches(provenance(st.net, model.feature_names, reference, st.strand, model.seq_len, st.fill, label,
                                    model_fingerprint))
    run = RunOptions.for_command("score-variants", run, batch_size=batch_size, device=device, progress=progress,
                                 default_progress=True)
    L, features = model.seq_len, (list(LM_FEATURES) if language_model else model.feature_names)
    meta = {"checkpoint": label, "model_fingerprint": model_fingerprint, "vcf": str(vcf), "reference": str(reference),
            "window": L, "ref_policy": ref_policy, "strand": st.strand, "fill": st.fill, "scores": list(scores),
            "score_n_reference": score_n_reference, "centring": "allele centred; SNV at index L//2",
            "logit_eps": LOGIT_EPS, "precision": str(run.precision), "dnaseq_version": __version__,
            **_background_meta(bg, background, evalue_threshold)}
    report = VcfReport(str(vcf))
    genome = Genome(reference)
    sink = None

    def make_sink():
        nonlocal sink
        names = list(scores) + (bg.evalue_names() if bg else [])
        writer = make_writer(fmt, out, features, names, meta, resume=resume, summary=bg.summary_names() if bg else ())
        sink = _ScoreSink(writer, scores, len(features), bg, evalue_threshold,
                          effects=lm_effect_scores if language_model else effect_scores)
        return sink

    partial = f"{out}.tsv.partial"  # every rank reads where the partial file ends
    skip = complete_rows(partial) if resume and fmt == "tsv" and os.path.exists(partial) else 0

    def produce():
        rows = read_vcf(vcf, report)
        if skip:
            rows = itertools.islice(rows, skip, None)
        return variant_units(rows, genome, L, ref_policy, score_n_reference, chunk_size)

    try:
        step = lm_pair_step(st.fill, run.batch_size) if language_model else pair_step(st.fill, st.strand,
                                                                                       run.batch_size, local)
        if records is None and (run.progress or run.progress_lines):  # a gzipped VCF was counted in its check
            records = count_records(str(vcf))
        total = -(-max(records - skip, 0) // chunk_size) if records is not None else None  # for the progress
        info = engine.run(st.net, produce, step, make_sink, run, total=total)
    except BaseException as exc:
        if sink is not None:
            _keep_or_discard(sink.writer, keep=resume or (isinstance(exc, KeyboardInterrupt) and fmt == "tsv"),
                             partial=partial)
        raise
    finally:
        genome.close()
    return _summarise(info.sink, out, meta, report) if info.is_main else None



def _check_options(scores: Sequence[str], ref_policy: str, evalue_threshold: float) -> None:
    """Option values checked before any file is read."""
    bad = [s for s in scores if s not in SCORES + LM_SCORES]
    if bad:
        raise ValueError(f"unknown score(s) {bad}; choose from {', '.join(SCORES)} (a language model: "
                         f"{', '.join(LM_SCORES)})")
    if ref_policy not in REF_POLICIES:
        raise ValueError(f"ref_policy must be one of {REF_POLICIES}, got {ref_policy!r}")
    if not 0 < evalue_threshold <= 1:
        raise ValueError(f"the e-value threshold must be in (0, 1], got {evalue_threshold}")


def _scores_for_model(language_model: bool, scores: Sequence[str], strand: Optional[str],
                      bg: Optional[Background]) -> List[str]:
    """The score types a model of this kind writes: a language model's zero-shot log-likelihoods
    (given strand only), or a chromatin model's effect scores."""
    if language_model:
        if strand not in (None, "as-trained", "forward"):
            raise ValueError(f"--strand {strand}: a DNA language model reads the given strand only (forward)")
        return _language_model_scores(scores, bg)
    if any(x not in SCORES for x in scores):
        raise ValueError(f"score(s) {[x for x in scores if x not in SCORES]} are a language model's; choose from "
                         f"{', '.join(SCORES)}")
    return list(scores)


def _background_meta(bg: Optional[Background], path: Optional[str], threshold: float) -> Dict:
    """The run settings' entries about the e-value background (None without one)."""
    meta = {"background": None if bg is None else str(path), "evalue_threshold": None if bg is None else threshold}
    if bg is not None:
        meta.update(background_n=bg.n, background_source=bg.provenance.get("source"),
                    background_fingerprint=bg.fingerprint)
    return meta

def _keep_or_discard(writer, keep: bool, partial: str) -> None:
    """After a failed run nothing that looks complete is left; the ``.partial`` stays for
    ``--resume`` when the run was resumed or stopped by the user (Ctrl-C) with TSV output."""
    if keep:
        writer.close()
        writer.release()
        log.warning(f"interrupted: the rows scored so far are kept in {partial}; run the same command "
                    f"with --resume to continue")
    else:
        writer.discard()


def _summarise(sink: "_ScoreSink", out: str, meta: Dict, report: VcfReport) -> ScoringSummary:
    """The run's statuses and warnings (rows of an earlier, resumed run included), in ``{out}.summary.json``."""
    writer = sink.writer
    statuses = writer.done_statuses + sink.statuses if hasattr(writer, "done_statuses") else sink.statuses
    ref_match = writer.done_ref_match + sink.ref_match if hasattr(writer, "done_ref_match") else sink.ref_match
    n_rows = getattr(writer, "done", 0) + sink.rows
    ref_check = {"compared": ref_match[True] + ref_match[False], "differ": ref_match[False]}
    summary = ScoringSummary(statuses, n_rows, writer.paths, meta,
                             run_warnings(report, statuses, n_rows, ref_check, meta.get("ref_policy", "genome")),
                             ref_check)
    write_summary(writer, out, summary)
    return summary


class _ScoreSink:
    """Effect scores of each chunk, handed to the writer in VCF order."""

    def __init__(self, writer, scores: Sequence[str], n_features: int, background: Optional[Background] = None,
                 threshold: float = DEFAULT_THRESHOLD, effects=effect_scores):
        self.writer, self.scores, self.n_features, self.effects = writer, list(scores), n_features, effects
        self.background, self.threshold = background, threshold
        self.needed = list(dict.fromkeys(self.scores + (background.scores if background else [])))
        self.statuses: Counter = Counter()
        self.ref_match: Counter = Counter()  # True / False / None (REF not compared) per row
        self.rows = 0

    def write(self, prep: Prepared, out) -> None:
        values = {s: np.full((len(prep.rows), self.n_features), np.nan, np.float64) for s in self.needed}
        if prep.scored_index:
            for s, v in self.effects(out["ref"], out["alt"], self.needed).items():
                values[s][prep.scored_index] = v
        if self.background is None:
            self.writer.write(prep, values)
        else:
            evalues, summary = self.background.annotate(values, self.threshold)
            self.writer.write(prep, {**values, **evalues}, summary)
        self.statuses.update(prep.status)
        self.ref_match.update(prep.ref_match)
        self.rows += len(prep.rows)


def variant_units(rows: Iterable[VariantRow], genome: Genome, L: int, ref_policy: str = "genome",
                  score_n_reference: bool = False, chunk_size: int = 1024) -> Iterator:
    """Work units of the inference engine for ``rows``: one per chunk of ``chunk_size`` rows, each a
    callable that prepares its chunk (:func:`prepare`) where it runs; its results are ``ref`` and
    ``alt`` probabilities of the chunk's scored rows, with the :class:`Prepared` chunk as ``meta``."""
    for chunk in _chunks(rows, chunk_size):
        yield lambda chunk=chunk: _unit(prepare(chunk, genome, L, ref_policy, score_n_reference), L)


def _unit(prep: Prepared, L: int) -> Dict:
    """The REF/ALT windows of a prepared chunk as a unit of :func:`dnaseq.inference.pairs.pair_step`."""
    chroms = [prep.rows[i].chrom for i in prep.scored_index]
    return pair_unit(prep.ref_codes, prep.alt_codes, chroms, prep.ref_start, L, meta=prep)
