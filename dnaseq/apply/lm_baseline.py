"""``dnaseq lm-baseline``: n-gram baselines (:mod:`dnaseq.models.ngram`) fitted on a reference's
training chromosomes or a dataset's training split, scored on held-out sequence, and written as a
table, a figure and a JSON summary: the bar any neural DNA language model must clear."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._version import __version__
from ..data.dataset import available_splits, open_split
from ..models.ngram import MAX_ORDER, SMOOTHINGS, NgramModel
from ..models.ngram_scan import as_codes
from ..outputs import prepare_output_prefix, write_json
from ..sequence.genome import Genome
from ..sequence.intervals import read_intervals


def _bases(sequences: Iterable) -> int:
    return int(sum(np.count_nonzero(as_codes(s) < 4) for s in sequences))


class _Bar:
    """A tqdm bar over bases on a terminal, nothing otherwise."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self.bar = None
        if enabled:
            self.bar = tqdm(total=total, unit="bp", unit_scale=True, desc=desc, file=sys.stderr, leave=False)

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class BaselineResult:
    """What :func:`fit_baseline` gives: the table, the fitted model (every order) and seconds taken."""
    table: "object"  # pandas DataFrame
    model: NgramModel
    seconds: Dict[str, float] = field(default_factory=dict)

    @property
    def best_k(self) -> int:
        return int(self.table.loc[self.table.held_out_bits_per_base.idxmin(), "k"])

    @property
    def best_bits_per_base(self) -> float:
        return float(self.table.held_out_bits_per_base.min())


def fit_baseline(train: Sequence, test: Sequence, max_k: int = MAX_ORDER, smoothing: str = "kn",
                 progress: bool = False, echo: Optional[Callable[[str], None]] = None) -> BaselineResult:
    """Fit once up to ``max_k`` on ``train`` and score every order on ``test`` and on ``train``
    (both lists of code arrays: each is read twice). ``progress``: tqdm bars (a terminal);
    ``echo``: a callable given one line per stage and per order (off a terminal)."""
    say = echo or (lambda line: None)
    model = NgramModel(max_k, smoothing)
    n_train, n_test = _bases(train), _bases(test)
    if n_train == 0:
        raise ValueError("the training sequences hold no base (only N)")
    if n_test == 0:
        raise ValueError("the held-out sequences hold no base (only N): no bits per base to report")
    seconds = {}
    t0 = time.perf_counter()
    bar = _Bar(progress, sum(len(as_codes(s)) for s in train), f"count k<={max_k}")
    model.fit(train, progress=bar)
    bar.close()
    seconds["count"] = time.perf_counter() - t0
    say(f"counted orders 0..{max_k} over {n_train:,} training bases in {seconds['count']:.1f} s")
    t0 = time.perf_counter()
    bar = _Bar(progress, sum(len(as_codes(s)) for s in test), "score held-out")
    test_bits, n = model.evaluate(test, progress=bar)
    bar.close()
    seconds["score_held_out"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bar = _Bar(progress, sum(len(as_codes(s)) for s in train), "score train")
    train_bits, _ = model.evaluate(train, progress=bar)
    bar.close()
    seconds["score_train"] = time.perf_counter() - t0
    bpb = test_bits / n
    table = pd.DataFrame({"k": np.arange(max_k + 1), "train_bases": n_train, "held_out_bases": n,
                          "held_out_bits_per_base": bpb, "perplexity": 2.0 ** bpb,
                          "train_bits_per_base": train_bits / n_train})
    for row in table.itertuples():
        say(f"k={row.k:2d}  held-out {row.held_out_bits_per_base:.4f} bits/base  "
            f"train {row.train_bits_per_base:.4f}")
    return BaselineResult(table, model, seconds)


def baseline_table(train: Sequence, test: Sequence, max_k: int = MAX_ORDER, smoothing: str = "kn"):
    """A pandas DataFrame, one row per order k = 0..max_k: k, train_bases, held_out_bases,
    held_out_bits_per_base, perplexity (2 ** bits per base) and train_bits_per_base (in-sample),
    from one fit up to max_k (``train``, ``test``: lists of code arrays)."""
    return fit_baseline(train, test, max_k, smoothing).table


# -- inputs ----------------------------------------------------------------------------------------
def fasta_sequences(reference: str, chromosomes: Sequence[str], regions: Optional[str] = None
                    ) -> Tuple[List[np.ndarray], Dict]:
    """The codes of ``chromosomes`` of a reference FASTA (whole, or only their ``regions``
    intervals, one array each), and a summary."""

    genome = Genome(reference)
    try:
        names = [genome.resolve(c) for c in chromosomes]  # every name checked before any reading
        by_chrom: Dict[str, List[Tuple[np.ndarray, np.ndarray]]] = {}
        if regions:
            intervals = read_intervals(regions)
            for chrom, (s, e) in intervals.chroms.items():
                if genome.has(chrom):
                    by_chrom.setdefault(genome.resolve(chrom), []).append((s, e))
        out, lengths = [], {}
        for name in names:
            codes = genome.chromosome_codes(name)
            lengths[name] = len(codes)
            if not regions:
                out.append(codes)
                continue
            for s, e in by_chrom.get(name, []):
                for lo, hi in zip(np.clip(s, 0, len(codes)), np.clip(e, 0, len(codes))):
                    if hi > lo:
                        out.append(codes[lo:hi].copy())
        if regions and not out:
            raise ValueError(_no_region_reason(regions, intervals, names, genome))
    finally:
        genome.close()
    where = f" in the regions of {regions}" if regions else ""
    return out, {"chromosomes": names, "chromosome_lengths": lengths, "pieces": len(out),
                 "bases": _bases(out), "where": f"{', '.join(names)} of {reference}{where}"}


def _no_region_reason(regions: str, intervals, names: Sequence[str], genome: Genome) -> str:
    """Why the intervals of ``regions`` gave no sequence on ``names``."""
    if not intervals.chroms:
        return f"{regions} holds no interval (it has no BED record): give a BED of regions, or leave out --regions"
    on = ", ".join(sorted(intervals.chroms)[:10]) + (", ..." if len(intervals.chroms) > 10 else "")
    if not any(genome.has(c) for c in intervals.chroms):
        return f"{regions}: none of its chromosomes ({on}) is in {genome.path}"
    return (f"{regions} has no interval inside {', '.join(names)} (its intervals lie on {on}): "
            f"choose chromosomes that it covers")


def stitch_windows(codes: np.ndarray, chroms: Sequence, starts: np.ndarray) -> Tuple[List[np.ndarray], int]:
    """Overlapping windows (n, L) back into the genomic stretches they cover, each base once:
    sorted by (chromosome, start); a window that overlaps or touches the stretch so far extends
    it (its overlap must agree), any other starts a new stretch. Returns (stretches, windows
    whose overlap disagreed)."""
    chroms = np.asarray(chroms, dtype=object)
    starts = np.asarray(starts, dtype=np.int64)
    if not len(codes):
        return [], 0
    _, chrom_id = np.unique(chroms, return_inverse=True)
    order = np.lexsort((starts, chrom_id))
    L = codes.shape[1]
    out, parts, disagree = [], [], 0
    cur_chrom, end, recent = None, 0, None  # recent: the stretch's last L bases
    for i in order:
        s, row = int(starts[i]), codes[i]
        if cur_chrom == chrom_id[i] and s <= end:
            overlap = min(end - s, L)
            if np.array_equal(recent[len(recent) - overlap:], row[:overlap]):
                if overlap < L:
                    parts.append(row[overlap:])
                    recent = np.concatenate([recent, row[overlap:]])[-L:]
                end = max(end, s + L)
                continue
            disagree += 1
        if parts:
            out.append(np.concatenate(parts))
        parts, cur_chrom, end, recent = [row], chrom_id[i], s + L, row
    out.append(np.concatenate(parts))
    return out, disagree


def dataset_sequences(path: str, split: str) -> Tuple[List[np.ndarray], Dict]:
    """The sequences of one split of a dnaseq dataset (stitched, see :func:`stitch_windows`) or
    of a DeepSEA ``.mat`` file (windows as given), and a summary."""

    splits = available_splits(path)
    if split not in splits:
        raise ValueError(f"{path} has no split {split!r}; it has {', '.join(splits) or 'none'}")
    src = open_split(path, split, in_memory=False)
    try:
        codes = src.read(np.arange(len(src)))[0] if len(src) else np.zeros((0, src.info.seq_len), np.uint8)
        coordinates = getattr(src, "coordinates", None)
        if coordinates is not None:
            chroms, starts, _ = coordinates()
            seqs, disagree = stitch_windows(codes, chroms, starts)
            how = "stitched"
        else:
            seqs, disagree, chroms = list(codes), 0, []
            how = "windows as given (no coordinates: overlaps counted twice)"
    finally:
        src.close()
    names = sorted(set(chroms))
    return seqs, {"split": split, "windows": len(codes), "window_size": int(codes.shape[1]),
                  "stretches": len(seqs), "how": how, "overlaps_disagreeing": disagree,
                  "chromosomes": names, "bases": _bases(seqs),
                  "where": f"split {split!r} of {path} ({', '.join(names) or 'no coordinates'})"}


# -- the command's work ------------------------------------------------------------------------------
def lm_baseline(out: str, reference: Optional[str] = None, train_chromosomes: Optional[Sequence[str]] = None,
                test_chromosomes: Optional[Sequence[str]] = None, regions: Optional[str] = None,
                data: Optional[str] = None, held_out_split: str = "test", max_k: int = MAX_ORDER,
                smoothing: str = "kn", progress: bool = False,
                echo: Optional[Callable[[str], None]] = None) -> Dict:
    """``dnaseq lm-baseline``: fit orders 0..max_k on the training sequences, score held-out bits
    per base for each, and write ``out.tsv`` (the table), ``out.png`` (bits per base vs k),
    ``out.json`` (settings, counts, seconds, best k) and ``out.best.npz`` (the best order's model).
    Sequences come from ``reference`` (+ chromosome lists, optional ``regions``) or ``data`` (a
    dataset: split ``train`` against ``held_out_split``). Returns the JSON's dict, plus ``table_frame``
    (the table as a DataFrame)."""

    if (reference is None) == (data is None):
        raise ValueError("give either a reference FASTA (with training and held-out chromosomes) or a dataset")
    if not 0 <= int(max_k) <= MAX_ORDER:
        raise ValueError(f"max_k must be 0..{MAX_ORDER}, not {max_k}")
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"unknown smoothing {smoothing!r}; choose {' or '.join(SMOOTHINGS)}")
    prepare_output_prefix(out)
    t_start = time.perf_counter()
    if reference is not None:
        if not train_chromosomes or not test_chromosomes:
            raise ValueError("a reference FASTA needs --train-chromosomes and --test-chromosomes")
        both = sorted(set(train_chromosomes) & set(test_chromosomes))
        if both:
            raise ValueError(f"chromosome {both[0]} is both a training and a held-out chromosome")
        train, train_info = fasta_sequences(reference, train_chromosomes, regions)
        test, test_info = fasta_sequences(reference, test_chromosomes, regions)
        source = {"reference": os.path.abspath(reference), "regions": regions and os.path.abspath(regions),
                  "train_chromosomes": train_info["chromosomes"], "test_chromosomes": test_info["chromosomes"]}
    else:
        if held_out_split == "train":
            raise ValueError("the held-out split cannot be the training split")
        train, train_info = dataset_sequences(data, "train")
        test, test_info = dataset_sequences(data, held_out_split)
        source = {"data": os.path.abspath(data), "train_split": "train", "held_out_split": held_out_split,
                  "stitching": "overlapping windows joined back into genomic stretches, each base once"}
    if train_info["bases"] == 0:
        raise ValueError(f"no training base: {train_info['where']} holds only N")
    if test_info["bases"] == 0:
        raise ValueError(f"no held-out base: {test_info['where']} holds only N")
    seconds = {"read": time.perf_counter() - t_start}
    if echo:
        echo(f"read {train_info['bases']:,} training and {test_info['bases']:,} held-out bases "
             f"in {seconds['read']:.1f} s")
    result = fit_baseline(train, test, max_k, smoothing, progress=progress, echo=echo)
    seconds.update(result.seconds)
    table, best_k = result.table, result.best_k
    paths = {"table": f"{out}.tsv", "figure": f"{out}.png", "summary": f"{out}.json", "model": f"{out}.best.npz"}
    table.to_csv(paths["table"], sep="\t", index=False, float_format="%.6g")
    result.model.save(paths["model"], k=best_k)
    # matplotlib costs a second of start-up: imported only here, when the figure is drawn
    from ..plots.figures import plot_ngram_bits
    plot_ngram_bits(table, paths["figure"])
    seconds["total"] = time.perf_counter() - t_start
    summary = {
        "command": "lm-baseline", "dnaseq_version": __version__,
        "settings": {**source, "max_k": int(max_k), "smoothing": smoothing, "smoothing_rule": SMOOTHINGS[smoothing],
                     "breaks": "N ends every k-mer; a base with r < k bases since a break is predicted "
                               "by the order-r model; N is never scored"},
        "counts": {"train": {k: v for k, v in train_info.items() if k != "where"},
                   "held_out": {k: v for k, v in test_info.items() if k != "where"},
                   "train_bases": int(table.train_bases.iloc[0]), "held_out_bases": int(table.held_out_bases.iloc[0])},
        "discounts": result.model.discounts(),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "best_k": best_k, "best_bits_per_base": result.best_bits_per_base,
        "best_perplexity": 2.0 ** result.best_bits_per_base,
        "table": json.loads(table.to_json(orient="records")),
        "files": paths,
    }
    write_json(paths["summary"], summary, indent=2)
    summary["table_frame"] = table
    return summary
