"""model.wide_fit: the k-mer wide part fitted alone before training (dnaseq/training/wide_init.py)."""
import numpy as np
import pytest
import torch

import dnaseq
from dnaseq.data.dataset import open_split
from dnaseq.models.kmers import KmerLinear
from dnaseq.training.wide_init import fit_linear, fit_wide_part
from tests.test_train import TINY_MODEL, tiny_dataset, write_config  # noqa: F401  (module fixture)


def test_fit_linear_is_scikit_learns_weighted_logistic_regression():
    """Mean BCE with pos_weight + l2 ||W||^2 is, per feature, sklearn's L2 logistic regression with
    C = 1 / (2 n F l2) and positives weighted by pos_weight (intercept unpenalised in both)."""
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    n, m, F = 600, 12, 2
    z = rng.normal(size=(n, m)).astype(np.float32)
    true = rng.normal(size=(F, m))
    y = (rng.random((n, F)) < 1 / (1 + np.exp(-(z @ true.T - 2)))).astype(np.float32)
    pw, l2 = np.array([1.0, 4.0]), 2e-3
    w, b, _ = fit_linear(torch.from_numpy(z), torch.from_numpy(y), torch.tensor(pw, dtype=torch.float32), l2,
                         max_iter=500)
    for j in range(F):
        clf = LogisticRegression(C=1 / (2 * n * F * l2), class_weight={0: 1.0, 1: pw[j]}, tol=1e-10, max_iter=5000)
        clf.fit(z, y[:, j])
        np.testing.assert_allclose(w[j].numpy(), clf.coef_[0], atol=2e-3)
        np.testing.assert_allclose(b[j].item(), clf.intercept_[0], atol=2e-3)


def test_fitted_wide_part_ranks_held_out_windows_and_sets_its_standardisation(tiny_dataset):  # noqa: F811
    from sklearn.metrics import roc_auc_score
    train, valid = open_split(str(tiny_dataset), "train"), open_split(str(tiny_dataset), "valid")
    codes, labels = train.read(np.arange(len(train)))
    torch.manual_seed(0)
    wide = KmerLinear(3, labels.shape[1], dropout=0.5)
    report = fit_wide_part(wide, codes, labels, torch.ones(labels.shape[1]), l2=1e-3, fill=0.25)
    assert report["windows"] == len(codes) and np.isfinite(report["loss"])
    assert wide.norm.running_mean.shape == (wide.counts.n,)
    assert torch.isfinite(wide.norm.running_mean).all() and (wide.norm.running_var > 0).any()
    wide.eval()
    vcodes, vlabels = valid.read(np.arange(len(valid)))
    x = torch.nn.functional.one_hot(torch.from_numpy(np.minimum(vcodes, 3).astype(np.int64)), 4).transpose(1, 2)
    with torch.no_grad():
        p = torch.sigmoid(wide(x.float())).numpy()
    scored = [j for j in range(vlabels.shape[1]) if 0 < vlabels[:, j].sum() < len(vlabels)]
    assert scored
    # a 3-mer linear model of a few hundred kb ranks held-out windows better than chance on average
    assert np.mean([roc_auc_score(vlabels[:, j], p[:, j]) for j in scored]) > 0.55


def _wide_state(path):
    state = torch.load(path, weights_only=False)["state_dict"]
    return {k[len("model.wide."):]: v for k, v in state.items() if k.startswith("model.wide.")}


def _hand_fit(data, k=3, l2=1e-3):
    """The fit wide_fit should make: same windows, pos_weight auto (cap 100), kmer_l2."""
    train = open_split(str(data), "train")
    codes, labels = train.read(np.arange(len(train)))
    pos = labels.sum(0).astype(np.float64)
    pw = torch.tensor(np.clip((len(labels) - pos) / np.maximum(pos, 1), 1.0, 100.0), dtype=torch.float32)
    wide = KmerLinear(k, labels.shape[1])
    fit_wide_part(wide, codes, labels, pw, l2=l2, fill=0.25)
    return wide.state_dict()


def _args(cfg, wide_fit, lr="0.003"):
    return ["--config", str(cfg), "--model.arch_args.kmer_k", "3", "--model.arch_args.kmer_l2", "0.001",
            "--model.lr", lr, "--model.weight_decay", "0", "--model.pos_weight", "auto",
            "--model.wide_fit", wide_fit]


def test_wide_fit_start_begins_from_the_fit_and_a_resumed_run_keeps_its_weights(tiny_dataset, tmp_path):  # noqa: F811
    """With lr 0 the checkpoint after one step holds the fit (equal to fitting by hand with the
    same pos_weight and kmer_l2); a run resumed from a checkpoint is not fitted again."""
    from dnaseq.training.train import main
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=1,
                       limit_val_batches=1, max_epochs=1)
    args = _args(cfg, "start", lr="0")
    assert main(args) == 0
    last = tmp_path / "ckpt" / "last.ckpt"
    fitted, hand = _wide_state(last), _hand_fit(tiny_dataset)
    for name in ("linear.weight", "linear.bias"):
        np.testing.assert_allclose(fitted[name].numpy(), hand[name].numpy(), atol=1e-5)
    ckpt = torch.load(last, weights_only=False)
    assert ckpt["hyper_parameters"]["wide_fit"] == "start"
    ckpt["state_dict"]["model.wide.linear.bias"] += 1.0  # a resumed run must not refit this
    torch.save(ckpt, last)
    assert main(args + ["--ckpt_path", "last", "--trainer.max_epochs", "2"]) == 0
    np.testing.assert_allclose(_wide_state(last)["linear.bias"].numpy(), fitted["linear.bias"].numpy() + 1.0,
                               atol=1e-6)


def test_wide_fit_frozen_keeps_the_fit_while_the_deep_part_trains(tiny_dataset, tmp_path):  # noqa: F811
    from dnaseq.training.train import main
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=3,
                       limit_val_batches=1, max_epochs=2)
    assert main(_args(cfg, "frozen")) == 0
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["state_dict"]
    wide, hand = _wide_state(tmp_path / "ckpt" / "last.ckpt"), _hand_fit(tiny_dataset)
    # weights, bias and the standardisation (batch norm running statistics) as fitted
    for name in ("linear.weight", "linear.bias", "norm.running_mean", "norm.running_var"):
        np.testing.assert_allclose(wide[name].numpy(), hand[name].numpy(), atol=1e-5, err_msg=name)
    # while the deep part moved from its initial weights (same seed, no training)
    torch.manual_seed(7)
    fresh = dnaseq.SequenceModel("conv_recurrent", {**TINY_MODEL["arch_args"], "kmer_k": 3}, n_features=8)
    first_conv = [k for k in state if k.startswith("model.conv.") and k.endswith("weight")][0]
    assert state[first_conv].shape == fresh.state_dict()[first_conv].shape
    assert not torch.equal(state[first_conv], fresh.state_dict()[first_conv])
    model = dnaseq.load_model(str(tmp_path / "ckpt" / "last.ckpt"))
    assert model.predict_proba("ACGT" * 250).shape == (1, 8)


def test_wide_fit_needs_a_wide_part_and_a_known_mode():
    with pytest.raises(ValueError, match="kmer_k"):
        dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [8]}, n_features=8, wide_fit="frozen")
    with pytest.raises(ValueError, match="did you mean 'frozen'"):
        dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [8], "kmer_k": 3}, n_features=8, wide_fit="froze")
    with pytest.raises(ValueError, match="wide_fit_windows"):
        dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [8], "kmer_k": 3}, n_features=8,
                             wide_fit="start", wide_fit_windows=0)
