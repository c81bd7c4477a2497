"""E-values against a background (dnaseq.apply.calibration): exact and sketched distributions,
their properties, Simes' combination, and the file."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnaseq.apply.calibration import (BINS, Background, Distribution, default_tail, edges_for, simes)


def exact_evalues(background: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(1 + #background >= |x|) / (1 + n), by brute force, per feature."""
    b, x = np.abs(background).astype(np.float32), np.abs(x).astype(np.float32)
    return (1 + (b[None, :, :] >= x[:, None, :]).sum(axis=1)) / (1 + len(b))


def test_exact_when_the_tail_holds_everything():
    rng = np.random.default_rng(0)
    bg = rng.normal(0, 0.05, (500, 3))
    d = Distribution(3, tail=1000, edges=edges_for("diff"))
    for chunk in np.array_split(bg, 7):
        d.add(chunk)
    assert d.n == 500 and d.exact
    x = np.concatenate([bg[:50], rng.normal(0, 0.1, (50, 3)), np.zeros((1, 3)), np.ones((1, 3))])
    np.testing.assert_allclose(d.evalues(x), exact_evalues(bg, x))
    assert np.all(d.evalues(np.zeros((1, 3))) == 1.0)  # an effect of 0: every background value is as large
    np.testing.assert_allclose(d.evalues(np.ones((1, 3))), 1 / 501)  # larger than all: the smallest e-value


def test_sketch_is_exact_in_the_tail_and_close_in_the_bulk():
    rng = np.random.default_rng(1)
    bg = np.abs(rng.standard_t(3, (20_000, 2))) * 0.01
    d = Distribution(2, tail=200, edges=edges_for("diff"))
    for chunk in np.array_split(bg, 13):
        d.add(chunk)
    assert not d.exact and len(d.sorted_tail()) == 200
    x = np.abs(rng.standard_t(3, (2000, 2))) * 0.01
    got, want = d.evalues(x), exact_evalues(bg, x)
    tail_min = d.sorted_tail()[0]
    in_tail = x > tail_min
    assert in_tail.sum() > 20
    np.testing.assert_allclose(got[in_tail], want[in_tail])  # exact above the kept values
    # below: interpolation inside one bin of ~1% relative width
    rel = np.abs(got[~in_tail] - want[~in_tail]) / want[~in_tail]
    assert rel.max() < 0.03, rel.max()
    assert got.min() >= 1 / (1 + d.n) and got.max() <= 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), tail=st.integers(1, 60), seed=st.integers(0, 10_000),
       scale=st.sampled_from([1e-8, 1e-4, 0.01, 0.3]))
def test_evalues_are_monotone_never_zero_never_above_one(n, tail, seed, scale):
    rng = np.random.default_rng(seed)
    bg = rng.exponential(scale, (n, 2)).clip(0, 1)
    bg[rng.random(bg.shape) < 0.2] = 0.0  # ties at zero, as saturated outputs give
    d = Distribution(2, tail=tail, edges=edges_for("diff"))
    d.add(bg)
    x = np.sort(np.concatenate([rng.exponential(scale, 300), bg[:, 0], [0.0, 1.0, 2.0]]))
    e = d.evalues(np.stack([x, x], axis=1))
    assert np.all(e > 0) and np.all(e <= 1)
    assert np.all(np.diff(e, axis=0) <= 1e-12), "e-values must not rise with |effect|"
    np.testing.assert_allclose(d.evalues(-np.stack([x, x], axis=1)), e)  # the sign of the effect is ignored


def test_nan_rows_stay_nan_and_bad_effects_are_refused():
    d = Distribution(2, tail=10, edges=edges_for("diff"))
    d.add(np.array([[0.1, 0.2], [0.3, 0.4]]))
    e = d.evalues(np.array([[np.nan, np.nan], [0.2, 0.2]]))
    assert np.isnan(e[0]).all() and np.isfinite(e[1]).all()
    with pytest.raises(ValueError, match="finite"):
        d.add(np.array([[np.nan, 0.1]]))
    with pytest.raises(ValueError, match="expected"):
        d.add(np.zeros((3, 5)))


def test_simes():
    e = np.array([[0.01, 0.5, 1.0, 1.0], [0.02, 0.02, 0.02, 0.02], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(simes(e), [0.04, 0.02, 1.0])
    # one strong feature among many untouched ones keeps Bonferroni's F * min, not a mean's dilution
    one = np.full((1, 919), 1.0)
    one[0, 5] = 1e-5
    np.testing.assert_allclose(simes(one), [919e-5])


def test_default_tail_is_bounded():
    assert default_tail(8, 2) == 100_000
    assert default_tail(919, 2) * 919 * 2 <= 1 << 25
    assert default_tail(100_000, 3) == 1000


def test_file_round_trip_and_refusals(tmp_path):
    rng = np.random.default_rng(2)
    prov = {"model_fingerprint": "abc", "features": ["f1", "f2"], "reference_checksum": "r1", "strand": "both",
            "window": 1000, "fill": 0.25, "checkpoint": "m.ckpt", "reference": "ref.fa"}
    bg = Background.empty(["f1", "f2"], ["diff", "logit_diff"], prov, tail=50)
    for _ in range(3):
        v = rng.normal(0, 0.05, (40, 2))
        bg.distributions["diff"].add(v)
        bg.distributions["logit_diff"].add(v * 10)
    path = tmp_path / "bg.h5"
    bg.save(str(path))
    back = Background.load(str(path))
    assert back.n == 120 and back.features == ["f1", "f2"] and back.scores == ["diff", "logit_diff"]
    assert back.distributions["diff"].hist.shape == (BINS, 2)
    x = rng.normal(0, 0.05, (30, 2))
    np.testing.assert_allclose(back.distributions["diff"].evalues(x), bg.distributions["diff"].evalues(x))
    back.check_matches(prov)
    with pytest.raises(ValueError, match="another checkpoint .*m.ckpt"):
        back.check_matches({**prov, "model_fingerprint": "zzz"})
    with pytest.raises(ValueError, match=r"another strand \(both in the background, forward here\)"):
        back.check_matches({**prov, "strand": "forward"})
    with pytest.raises(ValueError, match="another reference .*ref.fa.*; another window"):
        back.check_matches({**prov, "reference_checksum": "r2", "window": 2000})
    # summary columns: the smallest e-value and its feature, the count below the threshold, Simes
    values = {"diff": np.array([[0.5, 0.0], [np.nan, np.nan]]), "logit_diff": np.array([[5.0, 0.0], [np.nan] * 2])}
    evalues, summary = back.annotate(values, threshold=0.05)
    assert evalues["evalue_diff"][0, 0] == pytest.approx(1 / 121)
    assert summary["min_feature_diff"][0] == "f1" and summary["min_feature_diff"][1] == ""
    assert summary["n_below_diff"][0] == 1 and np.isnan(summary["n_below_diff"][1])
    assert summary["combined_evalue_diff"][0] == pytest.approx(2 / 121)


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all\n"])
def test_files_of_another_kind_are_refused(tmp_path, content):
    path = tmp_path / "bg.h5"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a dnaseq background"):
        Background.load(str(path))
    with pytest.raises(FileNotFoundError, match="background file not found"):
        Background.load(str(tmp_path / "missing.h5"))


def test_an_hdf5_file_that_is_not_a_background(tmp_path, shipped_dataset):
    with pytest.raises(ValueError, match="HDF5 file but not a dnaseq background"):
        Background.load(str(shipped_dataset))
