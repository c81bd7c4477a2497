"""scripts/accuracy.py's paired half-sample spread: how far a split's windows decide a comparison."""
import os
import sys

import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import accuracy  # noqa: E402


def _draw(rng, n_blocks=800, per_block=5, prevalence=0.03):
    """Windows in runs of ``per_block`` neighbours that share label and noise (as overlapping
    windows over one peak do); scores of a stronger model and a weaker baseline."""
    y = np.repeat((rng.random(n_blocks) < prevalence).astype(np.int8), per_block)
    shared = np.repeat(rng.normal(size=(2, n_blocks)), per_block, axis=1)
    noise = 0.5 * rng.normal(size=(2, len(y)))
    blocks = np.repeat(np.arange(n_blocks), per_block)
    return y, y * 2.0 + shared[0] + noise[0], y * 1.2 + shared[1] + noise[1], blocks


def test_half_samples_of_blocks_match_the_spread_between_independent_splits():
    rng = np.random.default_rng(0)
    # the truth: how much the PR AUC difference varies between independent test splits
    truth = np.std([average_precision_score(y, m) - average_precision_score(y, b)
                    for y, m, b, _ in (_draw(rng) for _ in range(200))], ddof=1)
    by_block, by_window, ahead = [], [], []
    for _ in range(4):  # what one split's half-samples say, on a few splits
        y, m, b, blocks = _draw(rng)
        sd, frac = accuracy.paired_spread(y, [m], b, "pr", blocks=blocks, draws=150, seed=1)
        by_block.append(sd)
        ahead.append(frac)
        by_window.append(accuracy.paired_spread(y, [m], b, "pr", draws=150, seed=1)[0])
    assert 0.6 < np.mean(by_block) / truth < 1.6, (np.mean(by_block), truth)
    # single windows ignore what neighbours share: their spread is too small by about sqrt(5)
    assert np.mean(by_window) < 0.7 * np.mean(by_block), (by_window, by_block)
    assert np.mean(ahead) > 0.6  # the stronger model is ahead in most half-samples


def test_identical_models_have_no_spread_and_one_class_gives_nan():
    rng = np.random.default_rng(2)
    y, m, _, blocks = _draw(rng)
    assert accuracy.paired_spread(y, [m, m], m, "roc", blocks=blocks, draws=50) == (0.0, 0.0)
    sd, frac = accuracy.paired_spread(np.zeros_like(y), [m], m, "pr", draws=50)  # no positives: no loop forever
    assert np.isnan(sd) and np.isnan(frac)


def test_genome_blocks_split_by_chromosome_and_block():
    chrom = np.array(["chr1", "chr1", "chr1", "chr2", "chr2"])
    start = np.array([0, 9_800, 10_000, 0, 25_000])
    ids = accuracy.genome_blocks(chrom, start, block_bp=10_000)
    assert ids[0] == ids[1] and len({ids[1], ids[2], ids[3], ids[4]}) == 4
