import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dnaseq.apply.compare import compare_evaluations
from dnaseq.apply.evaluate import evaluate_predictions, feature_metrics, load_evaluation, summarize
from tests.conftest import DATA, build_slice_dataset, run_cli
from tests.test_train import write_config


def test_auc_values_computed_by_hand():
    # feature 0: scores 0.1 0.4 0.35 0.8 with labels 0 0 1 1 -> of the 4 (pos, neg) pairs,
    # 3 are ordered correctly -> ROC AUC 0.75; ranking by score: 0.8(+) 0.4(-) 0.35(+) 0.1(-)
    # -> precision at each positive: 1/1, 2/3 -> AP = (1 + 2/3) / 2 = 0.8333
    # feature 1: perfectly ranked -> 1.0 and 1.0
    labels = np.array([[0, 0], [0, 0], [1, 1], [1, 1]])
    probs = np.array([[0.1, 0.1], [0.4, 0.2], [0.35, 0.7], [0.8, 0.9]])
    t = feature_metrics(labels, probs, ["a", "b"], ["TF", "DNase"])
    assert t.roc_auc.tolist() == pytest.approx([0.75, 1.0])
    assert t.pr_auc.tolist() == pytest.approx([(1 + 2 / 3) / 2, 1.0])
    assert t.n_pos.tolist() == [2, 2] and t.n_neg.tolist() == [2, 2]


def test_features_without_positives_or_negatives_keep_their_row():
    labels = np.array([[0, 1, 1], [0, 1, 0], [0, 1, 1]])
    probs = np.array([[0.1, 0.2, 0.9], [0.2, 0.3, 0.1], [0.3, 0.1, 0.8]])
    t = feature_metrics(labels, probs, ["none", "all", "ok"], ["TF", "TF", "Histone"])
    assert len(t) == 3
    assert np.isnan(t.roc_auc[0]) and t.note[0] == "no positives in this split"
    assert np.isnan(t.pr_auc[1]) and t.note[1] == "no negatives in this split"
    assert t.roc_auc[2] == 1.0 and t.note[2] == ""
    s = summarize(t).set_index("group")
    assert s.loc["TF", "features"] == 2 and s.loc["TF", "scored"] == 0 and np.isnan(s.loc["TF", "roc_auc_mean"])
    assert s.loc["all", "scored"] == 1 and s.loc["all", "roc_auc_mean"] == 1.0


def test_labels_and_predictions_that_cannot_be_scored_are_refused_by_name():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 2)) < 0.2).astype(np.uint8)
    p = rng.random((200, 2))
    nan = p.copy()
    nan[3, 1] = np.nan
    for args, expect in [((y * 2, p, ["a", "b"]), "labels must be 0 or 1 .* found 2"),  # was n_pos doubled
                         ((p, p, ["a", "b"]), "labels must be 0 or 1 .* threshold soft labels first"),
                         ((y[:, 0], p[:, 0], ["a"]), r"must be 2-D .* reshape\(-1, 1\)"),
                         ((y, nan, ["a", "b"]), "1 values that are NaN or infinite .* window 3, feature 'b'"),
                         ((y, p, ["a", "b"], ["TF"]), "1 feature groups for 2 features")]:
        with pytest.raises(ValueError, match=expect):
            evaluate_predictions(*args)
    same = [evaluate_predictions(labels, p, ["a", "b"]).table.roc_auc.tolist()
            for labels in (y, y.astype(bool), y.astype(np.float32), y.astype(np.int64))]
    assert all(s == same[0] for s in same)


def test_group_summary_mean_and_median():
    t = pd.DataFrame({"feature": list("abcde"), "group": ["TF", "TF", "TF", "DNase", "DNase"],
                      "n_pos": 1, "n_neg": 1, "roc_auc": [0.6, 0.7, 0.95, 0.8, 0.9],
                      "pr_auc": [0.1, 0.2, 0.6, 0.3, 0.5], "note": ""})
    s = summarize(t).set_index("group")
    assert s.loc["TF", "roc_auc_mean"] == pytest.approx(0.75)
    assert s.loc["TF", "roc_auc_median"] == pytest.approx(0.7)
    assert s.loc["DNase", "pr_auc_mean"] == pytest.approx(0.4)
    assert s.loc["all", "roc_auc_median"] == pytest.approx(0.8)


def test_compare_refuses_different_features():
    lab = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    a = evaluate_predictions(lab, np.random.default_rng(0).random((4, 2)), ["x", "y"])
    b = evaluate_predictions(lab, np.random.default_rng(1).random((4, 2)), ["x", "z"])
    with pytest.raises(ValueError, match="different features"):
        compare_evaluations(a, b)
    c = compare_evaluations(a, a)
    assert c.stats["roc_auc"]["a_better"] == 0 and c.stats["roc_auc"]["mean_diff"] == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("trained")
    data = build_slice_dataset(d, valid_fraction=0.3, test_fraction=0.3, seed=2)
    ckpts = []
    for seed in (1, 2):
        cfg = write_config(d / f"c{seed}.yaml", data, d / f"ckpt{seed}")
        run_cli("train", "--config", cfg, "--seed_everything", seed)
        ckpts.append(d / f"ckpt{seed}" / "last.ckpt")
    return data, ckpts


def test_evaluate_cli_writes_tables_plots_and_predictions(trained, tmp_path):
    data, (ckpt, _) = trained
    out = tmp_path / "eval"
    proc = run_cli("evaluate", "--checkpoint", ckpt, "--data", data, "--out", out, "--save-predictions", "-q")
    # the tiny config validates on the forward strand: "as trained" is the forward strand
    assert "ROC AUC" in proc.stdout and "forward strand only" in proc.stdout
    table = pd.read_csv(out / "metrics_per_feature.tsv", sep="\t")
    assert len(table) == 8 and {"feature", "group", "n_pos", "n_neg", "roc_auc", "pr_auc", "note"} <= set(table.columns)
    # features with no positives in this tiny split are listed with the reason, not dropped
    for r in table.itertuples():
        if r.n_pos == 0:
            assert np.isnan(r.roc_auc) and "no positives" in r.note
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["meta"]["strand"] == "forward" and summary["summary"][-1]["group"] == "all"
    for png in ("curves.png", "auc_by_group.png"):
        with Image.open(out / png) as im:
            im.verify()
            assert im.format == "PNG"
    import h5py
    with h5py.File(out / "predictions.h5") as h5:
        assert h5["probabilities"].shape == h5["labels"].shape == (summary["meta"]["windows"], 8)
    both = run_cli("evaluate", "-m", ckpt, "-d", data, "--strand", "both", "-q")
    assert "averaged over both strands" in both.stdout


def test_compare_cli_on_two_trained_checkpoints(trained, tmp_path):
    data, (a, b) = trained
    run_cli("evaluate", "-m", a, "-d", data, "-o", tmp_path / "A", "-q")
    run_cli("evaluate", "-m", b, "-d", data, "-o", tmp_path / "B", "-q")
    proc = run_cli("compare", tmp_path / "A", tmp_path / "B", "--out", tmp_path / "cmp")
    assert "A better on" in proc.stdout and "median A-B" in proc.stdout
    with Image.open(tmp_path / "cmp" / "comparison.png") as im:
        assert im.format == "PNG"
    stats = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["stats"]
    assert 0 <= stats["roc_auc"]["a_better_share"] <= 1
    direct = run_cli("compare", a, b, "--data", data)
    assert "A better on" in direct.stdout
    assert "\r" not in direct.stderr and "it/s" not in direct.stderr  # stderr is a pipe: no progress bars
    # results over different features are refused with a clear message
    ev = load_evaluation(str(tmp_path / "B"))
    ev.table.loc[0, "feature"] = "renamed"
    ev.write(str(tmp_path / "C"))
    bad = run_cli("compare", tmp_path / "A", tmp_path / "C", check=False)
    assert bad.returncode == 1 and "different features" in bad.stderr and "renamed" in bad.stderr


def test_single_sweep_metrics_equal_sklearn_scorers():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from dnaseq.training.metrics import roc_and_pr_auc
    rng = np.random.default_rng(4)
    for n, rate in ((50, 0.3), (5000, 0.02)):
        y = (rng.random(n) < rate).astype(np.uint8)
        p = np.round(rng.random(n) * 0.5 + y * 0.3, 2).astype(np.float32)  # many ties
        roc, ap = roc_and_pr_auc(y, p)
        assert roc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert ap == pytest.approx(average_precision_score(y, p), abs=1e-12)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bed", "checkpoint"])
def test_damaged_dataset_is_one_line_naming_file_and_damage(tiny_checkpoint, tmp_path, damage):
    """A dataset cut short by an interrupted copy (or a text file called .h5) used to end in
    h5py's OSError and a traceback; now evaluate and info say which file and what is wrong (a
    file of another known kind by its name)."""
    bad = tmp_path / "bad.h5"
    if damage == "truncated":
        bad.write_bytes((DATA / "dm3_insulators.h5").read_bytes()[:30000])
        expected = "cannot read it as an HDF5 dataset (truncated file"
    elif damage == "garbage":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
        expected = "cannot read it as an HDF5 dataset (file signature not found); it is damaged or not an HDF5 file"
    elif damage == "bed":
        bad.write_text("chr2L\t10\t20\n")
        expected = "this is a BED file, not an HDF5 dataset; give the .h5 file that dnaseq build-dataset wrote"
    else:
        bad.write_bytes(open(tiny_checkpoint, "rb").read())
        expected = "this is a model checkpoint, not an HDF5 dataset"
    for args in (["evaluate", "-m", tiny_checkpoint, "-d", bad, "-o", tmp_path / "ev"], ["info", bad]):
        proc = run_cli(*args, check=False)
        err = proc.stderr.strip()
        assert proc.returncode == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert f"{bad}: {expected}" in err, err
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_a_dataset_from_a_newer_dnaseq_is_one_line(tiny_checkpoint, tmp_path):
    """Issue 32, item 3: a dataset whose format is newer than this dnaseq reads is refused by
    evaluate, info and train's data module, naming the file, its version and what to do."""
    import shutil

    import h5py
    newer = tmp_path / "newer.h5"
    shutil.copy(DATA / "dm3_insulators.h5", newer)
    with h5py.File(newer, "r+") as h5:
        h5.attrs["format_version"] = 99
        h5.attrs["dnaseq_version"] = "9.0.0"
    for args in (["evaluate", "-m", tiny_checkpoint, "-d", newer, "-o", tmp_path / "ev"], ["info", newer]):
        proc = run_cli(*args, check=False)
        err = proc.stderr.strip()
        assert proc.returncode == 1 and len(err.splitlines()) == 1, err
        assert f"{newer} was written by dnaseq 9.0.0 in dataset format 99; this dnaseq reads formats up to 1" in err


def test_a_corrupt_block_in_a_bgzip_reference_is_one_line(tmp_path):
    """Issue 32, item 3: a BGZF reference with a damaged block in the middle (its index fine)."""
    import shutil
    shutil.copytree(DATA / "dm3_slice", tmp_path / "s")
    fa = tmp_path / "s" / "dm3_chr2L_400k.fa.gz"
    raw = bytearray(fa.read_bytes())
    for k in range(len(raw) // 2, len(raw) // 2 + 200):
        raw[k] ^= 0x5A
    fa.write_bytes(bytes(raw))
    for idx in (tmp_path / "s").glob("*.fa.gz.*"):
        idx.touch()  # the index stays newer than the file: only the block is damaged
    proc = run_cli("build-dataset", "--reference", fa, "--manifest", tmp_path / "s" / "manifest.tsv",
                   "--out", tmp_path / "o.h5", "-q", check=False)
    err = proc.stderr.strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1, err
    assert f"{fa}: cannot read chr2L:" in err and "the file is damaged (a compressed block is corrupt" in err
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()


def test_comparing_evaluations_of_other_windows_warns(caplog):
    import logging

    import pandas as pd

    from dnaseq.apply.compare import compare_evaluations
    from dnaseq.apply.evaluate import Evaluation
    t = pd.DataFrame({"feature": ["a"], "group": ["g"], "roc_auc": [0.7], "pr_auc": [0.3]})
    with caplog.at_level(logging.WARNING):
        compare_evaluations(Evaluation(t, t, {"data": "d.h5", "split": "test"}),
                            Evaluation(t, t, {"data": "d.h5", "split": "test"}))
        assert "different" not in caplog.text  # the same windows: nothing to say
        compare_evaluations(Evaluation(t, t, {"data": "d.h5", "split": "test"}),
                            Evaluation(t, t, {"data": "d.h5", "split": "valid"}))
    assert "the two evaluations are on different split (split: test vs valid)" in caplog.text


def test_outputs_are_matched_to_labels_by_feature_name(tiny_checkpoint, tmp_path, caplog):
    """A dataset listing the checkpoint's features in another order was scored column by column
    (the model's BEAF_Kc output against another feature's labels, under that feature's name)."""
    import dnaseq
    from dnaseq.apply.evaluate import evaluate, output_columns

    slice_dir = tiny_checkpoint.parent / "slice"
    same = tiny_checkpoint.parent / "tiny.h5"
    features = dnaseq.read_manifest(str(slice_dir / "manifest.tsv"))
    reordered = tmp_path / "reordered.h5"
    dnaseq.build_dataset(str(slice_dir / "dm3_chr2L_400k.fa.gz"), features[::-1], str(reordered),
                         max_n_fraction=0.0, valid_fraction=0.2, test_fraction=0.2, seed=1, progress=False)
    a = evaluate(tiny_checkpoint, str(same), progress=False).table.set_index("feature")
    b = evaluate(tiny_checkpoint, str(reordered), progress=False).table.set_index("feature")
    assert list(b.index) == [f.name for f in features[::-1]] and "in another order" in caplog.text
    pd.testing.assert_frame_equal(a.loc[b.index], b, check_exact=False, rtol=1e-6)
    assert not np.allclose(a.roc_auc.to_numpy(), b.roc_auc.to_numpy(), equal_nan=True)  # the order mattered

    assert output_columns(["a", "b", "c"], ["c", "a", "b"], "d.h5").tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match=r"match only in part: the dataset's 'x' are not the checkpoint's, which "
                                         r"has 'c' instead"):
        output_columns(["a", "b", "c"], ["a", "b", "x"], "d.h5")
    assert output_columns(["feature_0", "feature_1"], ["p", "q"], "d.h5").tolist() == [0, 1]
    assert "by position" in caplog.text
    # DeepSEA's list repeats names; an imported checkpoint numbers the repeats: by position
    assert output_columns(["K562|CTCF", "K562|CTCF#2", "x"], ["K562|CTCF", "K562|CTCF", "x"], "d.h5").tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"plot features 'BEAF_kc' are not features of .*tiny.h5, which has 'BEAF_Kc'"):
        evaluate(tiny_checkpoint, str(same), out_dir=str(tmp_path / "ev"), plot_features=["BEAF_kc"], progress=False)
    assert not (tmp_path / "ev").exists()  # refused before predicting or writing anything
