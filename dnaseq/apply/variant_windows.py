"""Which VCF rows score-variants scores, with what status and note, and their REF / ALT windows.

Windows. Each allele's window has the model's length L and is centred on the allele: the allele
is placed in its haplotype (genome bases left of POS, the allele, genome bases right of the REF
span) and the window starts ``L // 2 - len(allele) // 2`` bases left of POS. For an SNV the
variant base sits at index ``L // 2`` (right of the middle for even L) in both windows, exactly
as :meth:`dnaseq.Genome.window` centres. For an indel the alternative window is re-centred on
the ALT allele, so both windows keep equal flanks around their allele; an allele longer than L
is trimmed to its middle L bases. Positions off the chromosome are N and the row is flagged
``padded``.

REF check. VCF REF is compared with the genome (case-insensitive; N in either matches
nothing but N; an ambiguity letter in the genome, R, Y, ..., matches the bases it stands for,
and notes show the genome's own letters). ``ref_match`` is always written. ``ref_policy`` decides what is scored on a
mismatch: ``genome`` (default; the reference window is the genome, the ALT replaces the REF
span), ``vcf`` (the VCF's REF is written into the reference window), or ``skip`` (status
``ref_mismatch``, not scored). Under ``genome``, a mismatching record whose ALT *is* the genome's
REF (VCF REF T, genome G, ALT G) would compare the genome with itself: status
``alt_equals_reference_genome``, not scored (``vcf`` scores it as T -> G).

N in the reference. An SNV/MNV whose REF span holds any N in the genome (assembly gaps; also any
IUPAC ambiguity letter in the FASTA), or an indel whose REF span is at least half N, gets
``reference_is_n`` and is not scored: the site itself is unknown. An indel whose REF span is
less than half N (a long deletion that clips a gap's edge) is scored, with a note saying how
many of its bases are N. ``score_n_reference=True`` scores them all (with the note).
A scored window that is more than half N (``MOSTLY_N``; gaps or chromosome ends) is scored
with a note ``window is 62% N``. An ALT holding N is scored (N is the checkpoint's fill in every channel) with a note;
an ALT holding other IUPAC ambiguity codes (R, Y, ...) is ``invalid_alt``.

Every ALT of every record gets exactly one output row; rows that cannot be scored carry a
``status`` and a ``note`` saying why. Statuses (``STATUSES``):

  ``scored``                       scored; the note may still flag a REF mismatch, N-padding,
                                   a mostly-N window, an N in the ALT, control characters
  ``malformed``                    the line (or this ALT of it) cannot be read; note
                                   ``line N: what is wrong``; CHROM/POS/ID are the line's own text
  ``unknown_chromosome``           CHROM is not in the reference (aliases tried)
  ``beyond_chromosome_end``        POS + len(REF) runs past the chromosome's end
  ``reference_is_n``               the genome is N in the REF span (indels: in half of it or more)
  ``ref_mismatch``                 REF differs from the genome and ``ref_policy="skip"``
  ``alt_equals_reference_genome``  REF differs from the genome and ALT equals the genome
  ``symbolic_alt``, ``breakend_alt``, ``star_allele``, ``missing_alt``, ``alt_equals_ref``,
  ``invalid_alt``                  ALTs with no sequence to score (see :mod:`dnaseq.sequence.vcf`)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..sequence.encoding import CODE_TABLE, N_CODE, decode
from ..sequence.genome import Genome, UnknownChromosomeError
from ..sequence.textio import has_controls
from ..sequence.vcf import VariantRow

MOSTLY_N = 0.5  # a scored window with more N than this is flagged in the note
STATUSES = ("scored", "malformed", "unknown_chromosome", "beyond_chromosome_end", "reference_is_n",
            "ref_mismatch", "alt_equals_reference_genome", "symbolic_alt", "breakend_alt", "star_allele",
            "missing_alt", "alt_equals_ref", "invalid_alt")
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


#: the bases each IUPAC ambiguity letter stands for (N is left out: it matches only N)
_IUPAC_BASES = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC", "B": "CGT", "D": "AGT",
                "H": "ACT", "V": "ACG"}


def iupac_matches(vcf_ref: str, genome_letters: str) -> bool:
    """A VCF REF against the genome's own letters: equal letters match, and an ambiguity letter of
    the genome (Y = C or T, ...) matches the bases it stands for; N matches only N."""
    return len(vcf_ref) == len(genome_letters) and all(
        v == g or v in _IUPAC_BASES.get(g, "") for v, g in zip(vcf_ref, genome_letters))


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
    ref_start: List[int] = field(default_factory=list)  # 0-based coordinate of each REF window's column 0


@dataclass
class _Decision:
    status: str
    notes: List[str]
    match: Optional[bool] = None
    padded: bool = False
    windows: Optional[Tuple[np.ndarray, np.ndarray]] = None


def prepare(rows: Sequence[VariantRow], genome: Genome, length: int, ref_policy: str = "genome",
            score_n_reference: bool = False) -> Prepared:
    """Decide each row's status (one of ``STATUSES``) and build reference/alternative windows
    for the rows to score."""
    out = Prepared(list(rows), [], [], [], [])
    for i, r in enumerate(rows):
        d = _decide(r, genome, length, ref_policy, score_n_reference)
        if has_controls(r.chrom) or has_controls(r.id):
            d.notes.append("control characters in CHROM/ID are written as \\xNN")
        if r.not_utf8:
            d.notes.append(f"bytes that are not UTF-8 in {'/'.join(r.not_utf8)} are written as \\xNN")
        if r.duplicate_of:
            d.notes.append(f"same CHROM, POS, REF and ALT as line {r.duplicate_of}")
        if d.windows is not None:
            out.scored_index.append(i)
            out.ref_codes.append(d.windows[0])
            out.alt_codes.append(d.windows[1])
            out.ref_start.append(r.pos - 1 - (length // 2 - len(r.ref) // 2))  # as allele_window centres it
        out.status.append(d.status)
        out.note.append("; ".join(d.notes))
        out.ref_match.append(d.match)
        out.padded.append(d.padded)
    return out


def _span(chrom: str, pos: int, n: int) -> str:
    return f"{chrom}:{pos}" if n == 1 else f"{chrom}:{pos}-{pos + n - 1}"


def _reference_is_n(r: VariantRow, n_ref: int) -> bool:
    """Whether N in the genome's REF span makes a row ``reference_is_n``: any N for a
    substitution (SNV/MNV: a substituted base is unknown), at least half the span for an indel
    (a long deletion that clips one N at a gap's edge is still scored, with a note)."""
    return n_ref > 0 if r.kind != "indel" else 2 * n_ref >= len(r.ref)


def _decide(r: VariantRow, genome: Genome, length: int, ref_policy: str, score_n_reference: bool) -> _Decision:
    """Status, notes and (for rows to score) the two windows of one row."""
    if not r.scorable:
        note = f"line {r.line}: {r.problem}" if r.kind == "malformed" else (r.problem or _KIND_NOTE[r.kind])
        return _Decision(_KIND_STATUS[r.kind], [note])
    if r.pos < 1:  # read_vcf never yields this; rows built by hand may
        return _Decision("malformed", [f"line {r.line}: POS {r.pos} is below 1"])
    try:
        chrom = genome.resolve(r.chrom)
    except UnknownChromosomeError:
        return _Decision("unknown_chromosome", [f"chromosome {r.chrom!r} is not in the reference"])
    pos0, chrom_len, ref_len = r.pos - 1, genome.lengths[chrom], len(r.ref)
    if pos0 + ref_len > chrom_len:
        return _Decision("beyond_chromosome_end",
                         [f"POS {r.pos} + REF length {ref_len} runs past {chrom}'s end ({chrom_len})"])
    vcf_ref = _codes(r.ref)
    genome_ref = genome.fetch(chrom, pos0, pos0 + ref_len).codes
    n_ref = int(np.count_nonzero(genome_ref == N_CODE))
    # where the genome has N or an ambiguity letter (read as N), its own letters are shown and compared
    letters = genome.fetch_text(chrom, pos0, pos0 + ref_len).upper().replace("U", "T") if n_ref else decode(genome_ref)
    match = ref_matches(vcf_ref, genome_ref) if not n_ref else iupac_matches(r.ref.upper(), letters)
    notes = [] if match else [f"REF {r.ref} differs from the reference ({letters})"]
    if n_ref:
        what = "N" if set(letters) <= set("ACGTN") else f"N or ambiguous ({letters})"
        notes.append(f"the reference is {what} at {n_ref} of {ref_len} REF base(s) ({_span(chrom, r.pos, ref_len)})")
        if _reference_is_n(r, n_ref) and not score_n_reference:
            return _Decision("reference_is_n", notes, match)
        notes[-1] += ", scored anyway" if _reference_is_n(r, n_ref) else ", scored (an indel less than half N)"
    if not match and ref_policy == "skip":
        notes[0] += "; --ref-policy skip"
        return _Decision("ref_mismatch", notes, match)
    alt = _codes(r.alt)
    if not match and ref_policy == "genome" and ref_matches(alt, genome_ref):
        notes[0] += (f"; ALT {r.alt} is the reference allele, so REF -> ALT is no change on this genome: not "
                     f"scored (--ref-policy vcf scores {r.ref} -> {r.alt})")
        return _Decision("alt_equals_reference_genome", notes, match)
    ref_allele = vcf_ref if (ref_policy == "vcf" and not match) else genome_ref
    ref_w, pad_r = allele_window(genome, chrom, pos0, ref_len, ref_allele, length)
    alt_w, pad_a = allele_window(genome, chrom, pos0, ref_len, alt, length)
    padded = pad_r or pad_a
    if not match:
        notes[0] += f"; scored with the {'VCF' if ref_policy == 'vcf' else 'genome'} REF"
    if padded:
        notes.append("window runs off the chromosome end (N-padded)")
    n_frac = max(np.mean(ref_w == N_CODE), np.mean(alt_w == N_CODE))
    if n_frac > MOSTLY_N:
        notes.append(f"window is {n_frac:.0%} N")
    if np.any(alt == N_CODE):
        notes.append("ALT holds N, scored as an unknown base (the checkpoint's N fill in every channel)")
    return _Decision("scored", notes, match, padded, (ref_w, alt_w))


#: a DNA language model's zero-shot scores (log2-likelihoods of REF and ALT, their ratio), for the whole
#: window and for the edited site (:func:`dnaseq.inference.pairs.lm_pair_step`)
