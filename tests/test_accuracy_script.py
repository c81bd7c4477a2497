"""scripts/accuracy.py's paired half-sample spread: how far a split's windows decide a comparison."""
import os
import sys

import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import accuracy  # noqa: E402


def _draw(rng, n=4000, prevalence=0.03):
    y = (rng.random(n) < prevalence).astype(np.int8)
    return y, y * 1.0 + rng.normal(size=n), y * 0.8 + rng.normal(size=n)


def test_half_sample_spread_matches_the_spread_between_independent_splits():
    rng = np.random.default_rng(0)
    # the truth: how much the PR AUC difference varies between independent test splits
    truth = np.std([average_precision_score(y, m) - average_precision_score(y, b)
                    for y, m, b in (_draw(rng) for _ in range(200))], ddof=1)
    estimates, ahead = [], []
    for _ in range(5):  # what one split's half-samples say, on a few splits
        y, m, b = _draw(rng)
        sd, frac = accuracy.paired_spread(y, [m], b, "pr", draws=200, seed=1)
        estimates.append(sd)
        ahead.append(frac)
    assert 0.6 < np.mean(estimates) / truth < 1.6, (np.mean(estimates), truth)
    assert np.mean(ahead) > 0.6  # the stronger model is ahead in most half-samples


def test_identical_models_have_no_spread_and_are_never_ahead():
    rng = np.random.default_rng(2)
    y, m, _ = _draw(rng)
    assert accuracy.paired_spread(y, [m, m], m, "roc", draws=50) == (0.0, 0.0)
