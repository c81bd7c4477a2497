"""``dnaseq evaluate`` on a DNA language model: held-out bits per base and perplexity, overall and
per region class (BED files: inside peaks, repeats ...; "elsewhere" is every other base), beside
an n-gram baseline scored on exactly the same bases.

Rules: each held-out chromosome is cut into windows of the model's length from its start (no
overlap; the last is padded with N); windows with no known base are skipped. Every known base is
scored once, with the context its window gives it (so the first bases of a window have little
context: the n-gram, scored along the whole chromosome, does not pay that). A causal model gives
log P(base | bases before it in the window); a bidirectional model log P(base | both sides), which
is not a likelihood of the sequence and is reported as "pseudo" bits per base. N positions are
never scored. Bits are -log2 P averaged over the scored bases of each class; perplexity is
2 ** bits.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ..inference import engine
from ..inference.predictor import settings
from ..models.language import token_nll
from ..models.ngram import NgramModel
from ..outputs import ensure_writable_dir, write_json
from ..sequence.encoding import N_CODE
from ..sequence.genome import Genome
from ..sequence.intervals import read_intervals
from ..sequence.onehot import one_hot
from ..settings import RunOptions
from ..training.checkpoint import as_model

log = logging.getLogger(__name__)
LN2 = math.log(2)


def nll_step(fill: float, batch_size: int):
    """A step: unit ``codes`` (n, L) uint8 -> ``{"nll": (n, L)}`` nats per base (0 at N)."""
    def step(net, unit):
        codes = unit["codes"]
        parts = [token_nll(net(one_hot(codes[lo:lo + batch_size], fill=fill)), codes[lo:lo + batch_size])
                 for lo in range(0, len(codes), batch_size)]
        return {"nll": torch.cat(parts).float()}
    return step


class _ChromSink:
    """Bits (-log2 P) per base of each chromosome, NaN where nothing was scored (N, skipped windows)."""

    def __init__(self, codes: Dict[str, np.ndarray]):
        self.codes = codes
        self.bits = {c: np.full(len(seq), np.nan, np.float32) for c, seq in codes.items()}

    def write(self, meta, out) -> None:
        chrom, starts = meta
        bits = np.asarray(out["nll"], np.float32) / LN2
        arr, seq = self.bits[chrom], self.codes[chrom]
        for row, s in enumerate(starts):
            e = min(s + bits.shape[1], len(arr))
            known = seq[s:e] < N_CODE
            arr[s:e][known] = bits[row, :e - s][known]


def _windows(seq: np.ndarray, L: int):
    """(windows (n, L) uint8, starts) tiling ``seq`` from 0, N-padded at the end; all-N windows left out."""
    n = -(-len(seq) // L)
    padded = np.full(n * L, N_CODE, np.uint8)
    padded[:len(seq)] = seq
    windows = padded.reshape(n, L)
    keep = (windows < N_CODE).any(axis=1)
    return windows[keep], np.arange(n, dtype=np.int64)[keep] * L


def class_masks(beds: Dict[str, str], genome: Genome, chroms: Sequence[str]) -> Dict[str, Dict[str, np.ndarray]]:
    """{class: {chrom: bool mask}} from BED files (names resolved to the FASTA's)."""
    masks = {}
    for name, path in beds.items():
        intervals = read_intervals(path)
        per = {c: np.zeros(genome.lengths[c], bool) for c in chroms}
        for chrom, (starts, ends) in intervals.chroms.items():
            if genome.has(chrom) and genome.resolve(chrom) in per:
                m = per[genome.resolve(chrom)]
                for s, e in zip(starts, ends):
                    m[max(int(s), 0):int(e)] = True
        masks[name] = per
    return masks


def parse_classes(specs: Sequence[str]) -> Dict[str, str]:
    """``NAME=BED`` or ``BED`` (named by its file name) -> {name: path}."""
    out = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep:
            path, name = spec, os.path.basename(spec).split(".")[0]
        if not os.path.exists(path):
            raise FileNotFoundError(f"region class BED not found: {path}")
        if name in out or name in ("all", "elsewhere"):
            raise ValueError(f"region class name {name!r} is used twice or reserved (all, elsewhere): give NAME=BED")
        out[name] = path
    return out


@dataclass
class LMEvaluation:
    table: pd.DataFrame
    meta: Dict = field(default_factory=dict)

    def format(self) -> str:
        return self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def write(self, out_dir: str) -> None:
        ensure_writable_dir(out_dir)
        self.table.to_csv(os.path.join(out_dir, "lm_metrics.tsv"), sep="\t", index=False, float_format="%.6g")
        write_json(os.path.join(out_dir, "lm_metrics.json"),
                   {"meta": self.meta, "table": self.table.to_dict(orient="records")}, indent=2, default=float)
        from ..plots.figures import plot_lm_evaluation  # matplotlib: slow to import, needed only here
        plot_lm_evaluation(self.table, self.meta, os.path.join(out_dir, "lm_metrics.png"))


def _row(name: str, bits: np.ndarray, ngram_bits: Optional[np.ndarray]) -> Dict:
    scored = ~np.isnan(bits)
    row = {"class": name, "bases": int(scored.sum())}
    mean = float(bits[scored].mean(dtype=np.float64)) if scored.any() else float("nan")
    row.update(bits_per_base=mean, perplexity=2.0 ** mean)
    if ngram_bits is not None:
        both = scored & ~np.isnan(ngram_bits)
        ng = float(ngram_bits[both].mean(dtype=np.float64)) if both.any() else float("nan")
        row.update(ngram_bits_per_base=ng, ngram_perplexity=2.0 ** ng, lm_minus_ngram=mean - ng)
    return row


def evaluate_language_model(checkpoint, reference: str, chroms: Optional[Sequence[str]] = None,
                            classes: Optional[Dict[str, str]] = None, baseline: Optional[str] = None,
                            out_dir: Optional[str] = None, run: Optional[RunOptions] = None,
                            split: str = "test") -> Optional[LMEvaluation]:
    """Bits per base of a language model on ``chroms`` of ``reference`` (default: the checkpoint's
    chromosomes of ``split``, ``test`` or ``valid``), overall and per ``classes`` ({name: BED}),
    beside the n-gram model ``baseline`` (a ``dnaseq lm-baseline`` ``PREFIX.best.npz``) on the
    same bases. Chromosomes the model was trained on are evaluated with a warning (their bits per
    base are not held-out). Returns None on ranks other than 0 of a multi-process run."""
    if split not in ("test", "valid"):
        raise ValueError(f"split {split!r}: a language model is evaluated on its test or valid chromosomes "
                         f"(or name them with --chroms)")
    model, label = as_model(checkpoint, language_model=True)
    if not model.language_model:
        raise ValueError(f"{label} is a chromatin model: evaluate it on a dataset (--data DATA.h5); a reference "
                         f"FASTA as --data is for DNA language models")
    run = RunOptions.for_command("evaluate", run, default_progress=True)
    s = settings(model, "forward")
    L = int(model.seq_len)
    ngram = NgramModel.load(baseline) if baseline else None
    with Genome(reference) as genome:
        names = list(chroms or model.held_out_chromosomes(split))
        if not names:
            raise ValueError(f"{label} records no {split} chromosomes: name the held-out ones with --chroms")
        names = [genome.resolve(c) for c in names]
        trained = set(model.held_out_chromosomes("train")) & set(names)
        if trained:
            log.warning("%s: %s %s trained on: bits per base there are not held-out", label,
                        ", ".join(sorted(trained)), "was" if len(trained) == 1 else "were")
        codes = {c: genome.chromosome_codes(c) for c in names}
        masks = class_masks(classes or {}, genome, names)
    tiles = {c: _windows(codes[c], L) for c in names}
    block = max(run.batch_size, 1)

    def produce():
        for chrom in names:
            windows, starts = tiles[chrom]
            for lo in range(0, len(windows), block):
                yield {"codes": torch.from_numpy(windows[lo:lo + block]), "meta": (chrom, starts[lo:lo + block])}

    total = sum(-(-len(tiles[c][1]) // block) for c in names)
    info = engine.run(s.net, produce, nll_step(s.fill, run.batch_size), lambda: _ChromSink(codes), run, total=total)
    if not info.is_main:
        return None
    bits = np.concatenate([info.sink.bits[c] for c in names])
    ngram_bits = None
    if ngram is not None:
        ngram_bits = np.concatenate([-ngram.log2_prob(codes[c]) for c in names]).astype(np.float32)
    rows = [_row("all", bits, ngram_bits)]
    inside_any = np.zeros(len(bits), bool)
    for name, per in masks.items():
        m = np.concatenate([per[c] for c in names])
        if not m.any():
            log.warning("class %s (%s) covers no base of %s: its row is empty", name, (classes or {})[name],
                        ", ".join(names))
        inside_any |= m
        rows.append(_row(name, np.where(m, bits, np.nan), None if ngram_bits is None else np.where(m, ngram_bits, np.nan)))
    if masks:
        rows.append(_row("elsewhere", np.where(inside_any, np.nan, bits),
                         None if ngram_bits is None else np.where(inside_any, np.nan, ngram_bits)))
    if rows[0]["bases"] == 0:
        raise ValueError(f"{reference}: {', '.join(names)} hold no base (only N): nothing to evaluate")
    direction = "causal" if getattr(model.model, "causal", True) else "bidirectional"
    meta = {"checkpoint": label, "reference": str(reference), "chromosomes": names, "window": L,
            "direction": direction, "pseudo": direction == "bidirectional", "classes": dict(classes or {}),
            "baseline": baseline, "baseline_k": ngram.max_k if ngram is not None else None,
            "precision": str(run.precision)}
    result = LMEvaluation(pd.DataFrame(rows), meta)
    if out_dir:
        result.write(out_dir)
    return result


__all__ = ["evaluate_language_model", "LMEvaluation", "parse_classes", "nll_step"]
