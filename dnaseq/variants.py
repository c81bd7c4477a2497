"""Variant-effect scoring: VCF records -> reference/alternative windows -> predictions -> scores.

Windows. Each allele's window has the model's length L and is centred on the allele: the allele
is placed in its haplotype (genome bases left of POS, the allele, genome bases right of the REF
span) and the window starts ``L // 2 - len(allele) // 2`` bases left of POS. For an SNV the
variant base sits at index ``L // 2`` (right of the middle for even L) in both windows, exactly
as :meth:`dnaseq.Genome.window` centres. For an indel the alternative window is re-centred on
the ALT allele, so both windows keep equal flanks around their allele; an allele longer than L
is trimmed to its middle L bases. Positions off the chromosome are N and the row is flagged
``padded``.

REF check. VCF REF is compared with the genome (case-insensitive; N in either matches
nothing but N). ``ref_match`` is always written. ``ref_policy`` decides what is scored on a
mismatch: ``genome`` (default; the reference window is the genome, the ALT replaces the REF
span), ``vcf`` (the VCF's REF is written into the reference window), or ``skip`` (status
``ref_mismatch``, not scored).

Scores per feature (``scores``): ``ref`` and ``alt`` probabilities, ``diff`` = alt - ref,
``abs_diff``, ``logit_diff`` = logit(alt) - logit(ref) (probabilities clipped to [1e-6,
1 - 1e-6]), and DeepSEA's ``combined`` = |logit_diff| * |diff|. Probabilities are averaged
over both strands unless ``rc_average=False``.

Every ALT of every record gets exactly one output row; rows that cannot be scored carry a
``status`` and a ``note`` saying why (malformed line N: what is wrong; unknown chromosome;
symbolic ALT ...). Work and output go in chunks, so memory does not grow with the VCF.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from .encoding import CODE_TABLE, decode
from .genome import Genome, UnknownChromosomeError
from .vcf import VariantRow, read_vcf

SCORES = ("ref", "alt", "diff", "abs_diff", "logit_diff", "combined")
DEFAULT_SCORES = ("ref", "alt", "diff", "logit_diff", "combined")
REF_POLICIES = ("genome", "vcf", "skip")
LOGIT_EPS = 1e-6
_KIND_STATUS = {"symbolic": "symbolic_alt", "breakend": "breakend_alt", "star": "star_allele",
                "missing": "missing_alt", "same_as_ref": "alt_equals_ref", "invalid_alt": "invalid_alt",
                "malformed": "malformed"}
_KIND_NOTE = {"symbolic": "symbolic ALT (e.g. <DEL>) has no sequence to score",
              "breakend": "breakend ALT has no local sequence to score",
              "star": "'*' allele: a deletion spanning this site, scored on its own record",
              "missing": "ALT '.' (no alternative allele)", "same_as_ref": "ALT equals REF",
              "invalid_alt": "ALT holds characters that are not DNA"}


def _codes(text: str) -> np.ndarray:
    return CODE_TABLE[np.frombuffer(text.encode(), np.uint8)]


def allele_window(genome: Genome, chrom: str, pos0: int, ref_len: int, allele: np.ndarray,
                  length: int):
    """Codes (length,) of the haplotype carrying ``allele`` in place of the ``ref_len`` bases at
    0-based ``pos0``, centred on the allele; returns (codes, padded)."""
    if len(allele) > length:  # keep the middle of an allele longer than the window
        cut = (len(allele) - length) // 2
        allele = allele[cut:cut + length]
    left_len = length // 2 - len(allele) // 2
    right_len = length - left_len - len(allele)
    left = genome.fetch(chrom, pos0 - left_len, pos0)
    right = genome.fetch(chrom, pos0 + ref_len, pos0 + ref_len + right_len)
    codes = np.concatenate([left.codes, allele, right.codes])
    return codes, bool(left.padded or right.padded)


def ref_matches(vcf_ref: np.ndarray, genome_ref: np.ndarray) -> bool:
    return len(vcf_ref) == len(genome_ref) and bool(np.array_equal(vcf_ref, genome_ref))


@dataclass
class Prepared:
    """A chunk of rows with their windows (for the scorable ones)."""
    rows: List[VariantRow]
    status: List[str]
    note: List[str]
    ref_match: List[Optional[bool]]
    padded: List[bool]
    scored_index: List[int] = field(default_factory=list)
    ref_codes: List[np.ndarray] = field(default_factory=list)
    alt_codes: List[np.ndarray] = field(default_factory=list)


def prepare(rows: Sequence[VariantRow], genome: Genome, length: int, ref_policy: str = "genome") -> Prepared:
    """Decide each row's status and build reference/alternative windows for scorable rows."""
    out = Prepared(list(rows), [], [], [], [])
    for i, r in enumerate(rows):
        status, note, match, padded = "scored", "", None, False
        if not r.scorable:
            status = _KIND_STATUS[r.kind]
            note = f"line {r.line}: {r.problem}" if r.kind == "malformed" else _KIND_NOTE[r.kind]
        else:
            try:
                chrom = genome.resolve(r.chrom)
            except UnknownChromosomeError:
                chrom = None
                status, note = "unknown_chromosome", f"chromosome {r.chrom!r} is not in the reference"
            if chrom is not None:
                pos0, chrom_len = r.pos - 1, genome.lengths[chrom]
                if pos0 + len(r.ref) > chrom_len:
                    status = "beyond_chromosome_end"
                    note = f"POS {r.pos} + REF length {len(r.ref)} runs past {chrom}'s end ({chrom_len})"
                else:
                    vcf_ref = _codes(r.ref)
                    genome_ref = genome.fetch(chrom, pos0, pos0 + len(r.ref)).codes
                    match = ref_matches(vcf_ref, genome_ref)
                    if not match and ref_policy == "skip":
                        status = "ref_mismatch"
                        note = f"REF {r.ref} differs from the reference ({decode(genome_ref)}); --ref-policy skip"
                    else:
                        ref_allele = vcf_ref if (ref_policy == "vcf" and not match) else genome_ref
                        ref_w, pad_r = allele_window(genome, chrom, pos0, len(r.ref), ref_allele, length)
                        alt_w, pad_a = allele_window(genome, chrom, pos0, len(r.ref), _codes(r.alt), length)
                        padded = pad_r or pad_a
                        if not match:
                            note = (f"REF {r.ref} differs from the reference ({decode(genome_ref)}); "
                                    f"scored with the {'VCF' if ref_policy == 'vcf' else 'genome'} REF")
                        if padded:
                            note = (note + "; " if note else "") + "window runs off the chromosome end (N-padded)"
                        out.scored_index.append(i)
                        out.ref_codes.append(ref_w)
                        out.alt_codes.append(alt_w)
        out.status.append(status)
        out.note.append(note)
        out.ref_match.append(match)
        out.padded.append(padded)
    return out


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


@dataclass
class ScoringSummary:
    statuses: Counter
    rows: int
    outputs: List[str]
    meta: Dict

    def format(self) -> str:
        lines = [f"{self.rows:,} output rows (one per ALT of each record):"]
        for status, n in self.statuses.most_common():
            lines.append(f"  {status:<24}{n:>10,}")
        return "\n".join(lines)


def score_variants(checkpoint, vcf: str, reference: str, out: str, scores: Sequence[str] = DEFAULT_SCORES,
                   fmt: str = "tsv", ref_policy: str = "genome", rc_average: bool = True,
                   batch_size: int = 128, chunk_size: int = 1024, device: str = "auto",
                   progress: bool = True) -> ScoringSummary:
    """Score every variant of ``vcf`` against ``reference`` with a checkpoint (path or model).

    Writes ``{out}.tsv`` (``fmt="tsv"``) or ``{out}.h5`` (``fmt="hdf5"``) plus ``{out}.summary.json``.
    """
    from tqdm.auto import tqdm

    from . import __version__
    from .predict import predict_codes
    from .task import as_model
    from .variant_writers import make_writer

    bad = [s for s in scores if s not in SCORES]
    if bad:
        raise ValueError(f"unknown score(s) {bad}; choose from {', '.join(SCORES)}")
    if ref_policy not in REF_POLICIES:
        raise ValueError(f"ref_policy must be one of {REF_POLICIES}, got {ref_policy!r}")
    model, label = as_model(checkpoint)
    genome = Genome(reference)
    L, features = model.seq_len, model.feature_names
    meta = {"checkpoint": label, "vcf": str(vcf), "reference": str(reference), "window": L, "ref_policy": ref_policy,
            "rc_average": rc_average, "scores": list(scores),
            "centring": "allele centred; SNV at index L//2", "logit_eps": LOGIT_EPS,
            "dnaseq_version": __version__}
    writer = make_writer(fmt, out, features, list(scores), meta)
    statuses: Counter = Counter()
    n_rows = 0
    bar = tqdm(unit="variant", desc="score-variants", file=sys.stderr, disable=not progress)
    try:
        for chunk in _chunks(read_vcf(vcf), chunk_size):
            prep = prepare(chunk, genome, L, ref_policy)
            values = {s: np.full((len(chunk), len(features)), np.nan, np.float64) for s in scores}
            if prep.scored_index:
                ref_p = predict_codes(model, np.stack(prep.ref_codes), batch_size, rc_average, device)
                alt_p = predict_codes(model, np.stack(prep.alt_codes), batch_size, rc_average, device)
                for s, v in effect_scores(ref_p, alt_p, scores).items():
                    values[s][prep.scored_index] = v
            writer.write(prep, values)
            statuses.update(prep.status)
            n_rows += len(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
        writer.close()
        genome.close()
    summary = ScoringSummary(statuses, n_rows, writer.paths, meta)
    with open(f"{out}.summary.json", "w") as fh:
        json.dump({"rows": n_rows, "statuses": dict(statuses), "meta": meta, "outputs": writer.paths}, fh, indent=1)
    return summary
