"""``dnaseq generate``: sequences from a causal DNA language model, and how they compare with the
genome.

Strategies (one spec each, several per run): ``greedy`` (the most likely base at every step),
``beam:W`` (beam search of width W: the sequences of highest total likelihood found keeping W
candidates per step), ``sample:T`` (sampling from the model's distribution at temperature T: T < 1
sharpens it, T > 1 flattens it) and ``topk:K[:T]`` (sampling among the K most likely bases only).
Greedy and beam search are deterministic: from one prompt they give one sequence (beam: its best
``min(n, W)`` beams), however many are asked for. Sampling is seeded (``seed``) and batched: the
n sequences run together on the device, one base per step, the recurrent state carried along
(:meth:`dnaseq.models.language.RecurrentLM.step`, equal to the window pass: tested). A prompt is
read first (its N as the training fill); sequences longer than the training window run the
recurrence past what it was trained on (say so in any comparison).

Comparison with held-out genome (:func:`sequence_stats`), one row per strategy and a row for
random N-free stretches of the held-out chromosomes of the same number and length (the sampling
noise floor): the Jensen-Shannon distance between the 4-mer spectra of the pooled sequences and
of the whole held-out sequence (bits, 0 = the same spectrum), GC fraction, bits per base under an
n-gram baseline (``dnaseq lm-baseline``'s ``PREFIX.best.npz``), and the fraction of bases in
short tandem repeats: a position belongs to one when it lies in a run of at least 12 bases that
repeats itself with a period of 1 to 6 (``x[j] == x[j - p]`` throughout).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ..models.language import select_state
from ..models.ngram import NgramModel
from ..models.state import preserved
from ..outputs import ensure_writable_dir, write_json
from ..sequence.encoding import N_CODE, decode, encode
from ..sequence.genome import Genome
from ..sequence.onehot import one_hot
from ..training.checkpoint import as_model
from .generation_strategy import Strategy, parse_strategy

SPECTRUM_K = 4
REPEAT_MIN, REPEAT_MAX_PERIOD = 12, 6


def _device(accelerator: Optional[str]) -> torch.device:
    if accelerator in (None, "auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@dataclass
class Generated:
    strategy: Strategy
    sequences: List[str]
    bits_per_base: np.ndarray  # under the model itself, generated bases only


def _prompt_state(lm, prompt_codes: np.ndarray, batch: int, fill: float, device):
    """State after reading the prompt (a zero column first), and the column of its last base."""
    column = torch.zeros(batch, 4, device=device)
    state = None
    for code in prompt_codes:
        _, state = lm.step(column, state)
        column = one_hot(torch.full((batch, 1), int(code), dtype=torch.uint8, device=device), fill=fill)[:, :, 0]
    return column, state


def _run(lm, strategy: Strategy, n: int, length: int, prompt_codes: np.ndarray, fill: float, seed: int, device):
    gen = torch.Generator(device=device).manual_seed(int(seed))
    beams = 1 if strategy.kind in ("greedy", "beam") else n
    column, state = _prompt_state(lm, prompt_codes, beams, fill, device)
    out = torch.zeros(beams, length, dtype=torch.long, device=device)
    score = torch.zeros(beams, device=device)  # natural-log likelihood of the generated bases
    width = strategy.width if strategy.kind == "beam" else 1
    for i in range(length):
        logits, state = lm.step(column, state)
        logp = torch.log_softmax(logits.float(), dim=1)
        if strategy.kind in ("greedy", "beam"):
            total = (score[:, None] + logp).reshape(-1)
            best = torch.topk(total, min(width, total.numel())).indices
            parent, base = best // 4, best % 4
            out, state = out[parent], select_state(state, parent)
            score = total[best]
        else:
            scaled = logits.float() / strategy.temperature
            if strategy.top_k:
                cut = torch.topk(scaled, strategy.top_k, dim=1).values[:, -1:]
                scaled = scaled.masked_fill(scaled < cut, float("-inf"))
            base = torch.multinomial(torch.softmax(scaled, dim=1), 1, generator=gen)[:, 0]
            score = score + logp.gather(1, base[:, None])[:, 0]
        out[:, i] = base
        column = torch.nn.functional.one_hot(base, 4).float()
    keep = min(n, len(out))
    return out[:keep].cpu().numpy().astype(np.uint8), (-score[:keep] / math.log(2) / length).cpu().numpy()


def generate(checkpoint, n: int = 10, length: int = 1000, strategies: Sequence = ("sample:1.0",), prompt: str = "",
             seed: int = 0, accelerator: Optional[str] = "auto") -> List[Generated]:
    """Sequences from a causal language model (checkpoint path or loaded model), one
    :class:`Generated` per strategy spec (see the module docstring). The model is left as found."""
    if n < 1 or length < 1:
        raise ValueError(f"need n >= 1 sequences of length >= 1, got n={n}, length={length}")
    model, label = as_model(checkpoint, language_model=True)
    if not model.language_model:
        raise ValueError(f"{label} is a chromatin model: dnaseq generate needs a DNA language model (arch lm)")
    lm = model.model
    if not lm.causal:
        raise ValueError(f"{label} is a bidirectional language model: it sees both sides of a base and cannot "
                         f"write left to right; generate with a causal one (arch_args.direction: causal)")
    parsed = [s if isinstance(s, Strategy) else parse_strategy(s) for s in strategies]
    prompt_codes = encode(prompt) if prompt else np.zeros(0, np.uint8)
    device = _device(accelerator)
    results = []
    with preserved(lm), torch.no_grad():
        lm.eval().to(device)
        for number, strategy in enumerate(parsed):
            codes, bits = _run(lm, strategy, n, length, prompt_codes, model.fill, seed + number, device)
            results.append(Generated(strategy, [decode(row) for row in codes], bits))
    return results


# -- comparison with the genome ------------------------------------------------------------
def kmer_spectrum(seqs: Sequence[np.ndarray], k: int = SPECTRUM_K) -> np.ndarray:
    """Frequencies (4**k,) of the N-free k-mers of code arrays, pooled."""
    counts = np.zeros(4 ** k, np.float64)
    for codes in seqs:
        codes = np.asarray(codes, np.int64)
        if len(codes) < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        ok = (windows < 4).all(axis=1)
        index = (windows[ok] * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)
        counts += np.bincount(index, minlength=4 ** k)
    return counts / max(counts.sum(), 1)


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (square root of the divergence, base 2) of two distributions."""
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())
    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def repeat_fraction(codes: np.ndarray, min_len: int = REPEAT_MIN, max_period: int = REPEAT_MAX_PERIOD) -> float:
    """Fraction of the bases in short tandem repeats (module docstring's rule)."""
    codes = np.asarray(codes)
    n = len(codes)
    if n == 0:
        return float("nan")
    covered = np.zeros(n + 1, np.int64)
    for p in range(1, max_period + 1):
        if n <= p:
            break
        same = np.r_[False, (codes[p:] == codes[:-p]) & (codes[p:] < 4), False]
        edges = np.flatnonzero(np.diff(same.astype(np.int8)))
        for s, e in zip(edges[::2], edges[1::2]):  # same[s+1 .. e] true: positions s+p .. e+p-1 match p back
            first, last = s, e + p  # the run with its first period: [s, e + p)
            if last - first >= min_len:
                covered[first] += 1
                covered[last] -= 1
    return float((np.cumsum(covered)[:n] > 0).mean())


def sequence_stats(seqs: Sequence[np.ndarray], genome_spectrum: Optional[np.ndarray],
                   ngram: Optional[NgramModel]) -> Dict[str, float]:
    """The comparison columns for one set of code arrays (module docstring)."""
    bases = np.concatenate([np.asarray(s) for s in seqs]) if seqs else np.zeros(0, np.uint8)
    known = bases[bases < 4]
    row = {"sequences": len(seqs), "bases": int(len(known)),
           "gc": float(np.isin(known, (1, 2)).mean()) if len(known) else float("nan"),
           "repeat_fraction": float(np.mean([repeat_fraction(s) for s in seqs])) if seqs else float("nan")}
    if genome_spectrum is not None:
        row["kmer_js_distance"] = js_distance(kmer_spectrum(seqs), genome_spectrum)
    if ngram is not None:
        row["ngram_bits_per_base"] = float(np.mean([ngram.bits_per_base([s]) for s in seqs]))
    return row


def genome_sample(held_out: Dict[str, np.ndarray], n: int, length: int, seed: int) -> List[np.ndarray]:
    """``n`` random N-free stretches of ``length`` bases from the held-out chromosomes."""
    rng = np.random.default_rng(seed)
    starts = []
    for chrom, codes in held_out.items():
        bad = np.r_[0, np.cumsum(codes >= N_CODE)]
        ok = np.flatnonzero(bad[length:] - bad[:-length] == 0) if len(codes) >= length else np.zeros(0, np.int64)
        starts += [(chrom, int(s)) for s in ok[:: max(1, length // 4)]]
    if len(starts) < n:
        raise ValueError(f"the held-out chromosomes have fewer than {n} N-free stretches of {length} bases to compare with")
    picked = rng.choice(len(starts), n, replace=False)
    return [held_out[starts[i][0]][starts[i][1]:starts[i][1] + length] for i in sorted(picked)]


@dataclass
class GenerationReport:
    table: pd.DataFrame
    meta: Dict = field(default_factory=dict)


def compare_with_genome(results: List[Generated], reference: Optional[str] = None, chroms: Sequence[str] = (),
                        baseline: Optional[str] = None, seed: int = 0) -> GenerationReport:
    """One row per strategy (and one for random held-out genome stretches when ``reference`` is given)."""
    ngram = NgramModel.load(baseline) if baseline else None
    spectrum, rows = None, []
    if reference:
        if not chroms:
            raise ValueError("name the held-out chromosomes to compare with (--chroms)")
        with Genome(reference) as genome:
            held = {genome.resolve(c): genome.chromosome_codes(c) for c in chroms}
        spectrum = kmer_spectrum(list(held.values()))
        n, length = max(len(r.sequences) for r in results), len(results[0].sequences[0])
        rows.append({"strategy": "genome (held-out sample)", "model_bits_per_base": float("nan"),
                     **sequence_stats(genome_sample(held, n, length, seed), spectrum, ngram)})
    for r in results:
        seqs = [encode(s) for s in r.sequences]
        rows.append({"strategy": r.strategy.name, "model_bits_per_base": float(np.mean(r.bits_per_base)),
                     **sequence_stats(seqs, spectrum, ngram)})
    meta = {"reference": reference, "chromosomes": list(chroms), "baseline": baseline, "spectrum_k": SPECTRUM_K,
            "repeat_rule": f">= {REPEAT_MIN} bases repeating with period 1-{REPEAT_MAX_PERIOD}"}
    return GenerationReport(pd.DataFrame(rows), meta)


def write_generation(results: List[Generated], report: Optional[GenerationReport], out: str) -> List[str]:
    """``OUT.fa`` (every sequence, named ``STRATEGY_i`` with its bits per base under the model),
    and with a report ``OUT.tsv`` and ``OUT.json``; returns the paths written."""
    folder = os.path.dirname(os.path.abspath(out))
    ensure_writable_dir(folder)
    paths = [out + ".fa"]
    with open(paths[0], "w") as fh:
        for r in results:
            for i, (seq, bits) in enumerate(zip(r.sequences, r.bits_per_base)):
                fh.write(f">{r.strategy.name}_{i + 1} model_bits_per_base={bits:.4f}\n")
                fh.writelines(seq[lo:lo + 60] + "\n" for lo in range(0, len(seq), 60))
    if report is not None:
        paths += [out + ".tsv", out + ".json"]
        report.table.to_csv(paths[1], sep="\t", index=False, float_format="%.6g")
        write_json(paths[2], {"meta": report.meta, "table": report.table.to_dict(orient="records")}, indent=2,
                   default=float)
    return paths


__all__ = ["generate", "parse_strategy", "Strategy", "Generated", "compare_with_genome", "write_generation",
           "kmer_spectrum", "js_distance", "repeat_fraction", "sequence_stats"]
