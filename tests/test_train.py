
import json

import pytest
import torch
import yaml

import dnaseq
from tests.conftest import build_slice_dataset, run_cli
from tests.train_helpers import checkpoint_metadata

TINY_MODEL = {"arch": "conv_recurrent",
              "arch_args": {"conv_filters": [8], "conv_widths": 19, "pool_sizes": 13, "rnn_type": "gru",
                            "rnn_hidden": 8, "head_hidden": [16]}}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A real dataset from the shipped dm3 slice (chr2L:1-400,000, 8 features)."""
    return build_slice_dataset(tmp_path_factory.mktemp("tiny"))


def write_config(path, data, ckpt_dir, **trainer):
    cfg = {"seed_everything": 7, "model": {**TINY_MODEL, "lr": 0.003},
           "data": {"data": str(data), "batch_size": 32},
           "trainer": {"max_epochs": 1, "enable_progress_bar": False, "accelerator": "cpu",
                       "logger": [{"class_path": "pytorch_lightning.loggers.CSVLogger",
                                   "init_args": {"save_dir": str(ckpt_dir.parent / "logs")}}], **trainer},
           "checkpoint": {"dirpath": str(ckpt_dir)}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_subprocess_checkpoint_is_self_contained(tiny_dataset, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt")
    proc = run_cli("train", "--config", cfg)
    assert "best checkpoint:" in proc.stdout
    last = tmp_path / "ckpt" / "last.ckpt"
    assert last.exists() and (tmp_path / "ckpt" / "best.ckpt").exists()
    meta = checkpoint_metadata(str(last))
    assert meta["base_order"] == "ACGT" and meta["version"] == dnaseq.__version__
    hp = meta["hyper_parameters"]
    assert hp["n_features"] == 8 and hp["seq_len"] == 1000 and hp["feature_names"][0] == "BEAF_Kc"
    assert hp["arch"] == "conv_recurrent" and hp["arch_args"]["rnn_type"] == "gru"
    model = dnaseq.load_model(str(last))
    assert not model.training and model.feature_names[0] == "BEAF_Kc" and model.feature_groups[0] == "TF"
    with torch.no_grad():
        p = model.predict_proba(dnaseq.one_hot("ACGT" * 250))
    assert p.shape == (1, 8) and ((p >= 0) & (p <= 1)).all()
    # metrics were logged by the CSV logger
    metrics = next((tmp_path / "logs").rglob("metrics.csv")).read_text()
    assert "valid_auroc" in metrics and "train_loss_epoch" in metrics


def test_resume_from_last_continues_epoch_and_step(tiny_dataset, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt")
    run_cli("train", "--config", cfg, "--model.lr_scheduler", "cosine")
    first = checkpoint_metadata(str(tmp_path / "ckpt" / "last.ckpt"))
    proc = run_cli("train", "--config", cfg, "--model.lr_scheduler", "cosine", "--ckpt_path", "last",
                   "--trainer.max_epochs", "2")
    second = checkpoint_metadata(str(tmp_path / "ckpt" / "last.ckpt"))
    assert first["epoch"] == 0 and second["epoch"] == 1
    assert second["global_step"] == 2 * first["global_step"] > 0
    # the one-epoch cosine had ended at learning rate 0: the added epoch would have trained nothing
    assert "the cosine schedule planned for 1 epoch(s) is stretched to 2 (learning rate now 0.0015" in proc.stderr


def test_a_cosine_schedule_stretched_follows_the_longer_curve():
    from dnaseq.training.optim import stretch_cosine

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)  # the end of a 1-epoch curve
    assert stretch_cosine(sched, 1) is None and stretch_cosine(None, 3) is None
    assert "stretched to 3" in stretch_cosine(sched, 3)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(2):
        opt.step()
        sched.step()
        rates.append(opt.param_groups[0]["lr"])
    assert rates == pytest.approx([0.75, 0.25, 0.0])  # (1 + cos(pi t / 3)) / 2 for t = 1, 2, 3


def test_same_seed_gives_identical_weights(tiny_dataset, tmp_path):
    from dnaseq.training.train import main
    states = []
    for run in ("a", "b"):
        cfg = write_config(tmp_path / f"{run}.yaml", tiny_dataset, tmp_path / run / "ckpt",
                           limit_train_batches=4, limit_val_batches=2)
        assert main(["--config", str(cfg), "--data.rc_augment", "true"]) == 0
        states.append(torch.load(tmp_path / run / "ckpt" / "last.ckpt", weights_only=False)["state_dict"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_config_errors_are_one_clear_line(tiny_dataset, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt")
    bad = run_cli("train", "--config", cfg, "--trainer.max_epohcs", "3", check=False)
    assert bad.returncode == 2 and "did you mean 'trainer.max_epochs'" in bad.stderr
    assert "usage:" not in bad.stderr
    text = cfg.read_text().replace("lr: 0.003", "lrate: 0.003")
    (tmp_path / "typo.yaml").write_text(text)
    typo = run_cli("train", "--config", tmp_path / "typo.yaml", check=False)
    assert typo.returncode == 2 and "lrate" in typo.stderr and "'model.lr'" in typo.stderr
    missing = run_cli("train", "--config", cfg, "--data.data", tmp_path / "absent.h5", check=False)
    assert missing.returncode == 1 and "absent.h5" in missing.stderr and "Traceback" not in missing.stderr


def test_the_python_train_raises_what_the_command_prints(tiny_dataset, tmp_path, capsys):
    """dnaseq.train: a usage error is a ValueError naming it (it ended the caller's process with
    SystemExit(2) and a usage dump); paths and numbers in the list, or one string, work."""
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt")
    for args in (["--config", cfg, "--trainer.max_epohcs", 3], f"--config {cfg} --trainer.max_epohcs 3"):
        with pytest.raises(ValueError, match="did you mean 'trainer.max_epochs'"):
            dnaseq.train(args)
    assert "usage:" not in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="config file not found: .*absent.yaml"):
        dnaseq.train(["--config", tmp_path / "absent.yaml"])


def test_feature_count_mismatch_names_both_numbers(tiny_dataset, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=2,
                       limit_val_batches=1)
    run_cli("train", "--config", cfg)
    fa = tmp_path / "g.fa"
    from dnaseq.sequence.genome import write_fasta
    write_fasta(fa, {"chr1": "ACGT" * 1000})
    bed = tmp_path / "p.bed"
    bed.write_text("chr1\t0\t500\n")
    other = tmp_path / "other.h5"
    dnaseq.build_dataset(str(fa), [dnaseq.Feature("a", "TF", str(bed)), dnaseq.Feature("b", "TF", str(bed))],
                         str(other), valid_fraction=0.3, test_fraction=0.3, progress=False)
    with pytest.raises(ValueError, match=r"predicts 8 features but .* has 2"):
        dnaseq.evaluate(str(tmp_path / "ckpt" / "last.ckpt"), str(other), plots=False, progress=False)
    resumed = run_cli("train", "--config", cfg, "--data.data", other, "--ckpt_path", "last", check=False)
    assert resumed.returncode == 1
    assert "8" in resumed.stderr and "2" in resumed.stderr and "features" in resumed.stderr


@pytest.mark.parametrize("optimizer,scheduler", [("sgd", "step"), ("rmsprop", "plateau"), ("adamw", "cosine")])
def test_optimizers_and_schedulers_from_config(tiny_dataset, tmp_path, optimizer, scheduler):
    from dnaseq.training.train import main
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=2,
                       limit_val_batches=1)
    assert main(["--config", str(cfg), "--model.optimizer", optimizer, "--model.lr_scheduler", scheduler,
                 "--model.pos_weight", "auto", "--trainer.gradient_clip_val", "0.5"]) == 0
    model = dnaseq.load_model(str(tmp_path / "ckpt" / "last.ckpt"))
    assert model.hparams.optimizer == optimizer
    assert (model.pos_weight_t >= 1).all() and model.pos_weight_t.max() > 1


def test_any_torch_optimizer_and_scheduler_as_class_path(tiny_dataset, tmp_path):
    """Lightning's class_path / init_args form reaches every torch.optim class; short names stay."""
    import json

    import torch

    from dnaseq.training.train import main
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=2,
                       limit_val_batches=2, max_epochs=2)
    opt = {"class_path": "torch.optim.NAdam", "init_args": {"momentum_decay": 0.003}}
    sched = {"class_path": "ExponentialLR", "init_args": {"gamma": 0.5}}
    assert main(["--config", str(cfg), "--model.optimizer", json.dumps(opt), "--model.lr_scheduler",
                 json.dumps(sched), "--model.lr", "0.01"]) == 0
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    group = ckpt["optimizer_states"][0]["param_groups"][0]
    assert group["momentum_decay"] == 0.003 and abs(group["lr"] - 0.01 * 0.5 ** 2) < 1e-12
    assert ckpt["lr_schedulers"][0]["gamma"] == 0.5
    model = dnaseq.load_model(str(tmp_path / "ckpt" / "last.ckpt"))
    assert model.hparams.optimizer["class_path"] == "torch.optim.NAdam"
    with pytest.raises(ValueError, match="not a subclass of Optimizer"):
        dnaseq.SequenceModel(optimizer={"class_path": "torch.nn.Linear"})
    with pytest.raises(ValueError, match="cannot import"):
        dnaseq.SequenceModel(lr_scheduler={"class_path": "NoSuchLR"})
    dnaseq.SequenceModel(optimizer={"class_path": "NAdam"}, lr_scheduler="torch.optim.lr_scheduler.StepLR")


def test_focal_loss_weighs_easy_windows_less():
    import torch
    torch.manual_seed(0)
    arch = {"conv_filters": [4], "conv_widths": 5, "pool_sizes": 4, "rnn_type": "none", "readout": "max",
            "head_hidden": [4]}
    bce = dnaseq.SequenceModel("conv_recurrent", arch, seq_len=50, n_features=3, pos_weight=5.0)
    focal = dnaseq.SequenceModel("conv_recurrent", arch, seq_len=50, n_features=3, pos_weight=5.0,
                                 loss="Focal", focal_gamma=2.0)
    flat = dnaseq.SequenceModel("conv_recurrent", arch, seq_len=50, n_features=3, pos_weight=5.0,
                                loss="focal", focal_gamma=0.0)
    logits = torch.tensor([[4.0, -4.0, 0.0], [-3.0, 2.0, 0.5]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(flat._train_loss(logits, y), bce._train_loss(logits, y))  # gamma 0 is BCE
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=torch.full((3,), 5.0),
                                                               reduction="none")
    p_t = torch.where(y > 0, torch.sigmoid(logits), 1 - torch.sigmoid(logits))
    assert torch.allclose(focal._train_loss(logits, y), ((1 - p_t) ** 2 * per).mean())
    assert focal.hparams.loss == "focal"
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        dnaseq.SequenceModel("conv_recurrent", arch, seq_len=50, n_features=3, loss="hinge")


def test_kmer_l2_is_added_to_the_training_loss_only():
    import warnings

    import torch
    torch.manual_seed(0)
    arch = {"conv_filters": [4], "conv_widths": 5, "pool_sizes": 4, "rnn_type": "none", "readout": "max",
            "head_hidden": [4], "kmer_k": 3, "kmer_l2": 0.01}
    task = dnaseq.SequenceModel("conv_recurrent", arch, seq_len=50, n_features=3)
    w = task.model.wide.linear.weight
    assert torch.allclose(task.model.penalty(), 0.01 * w.pow(2).sum())
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (5, 50)), 4).float().transpose(1, 2)
    y = (torch.rand(5, 3) > 0.5).float()
    with warnings.catch_warnings():  # self.log without a trainer
        warnings.simplefilter("ignore")
        torch.manual_seed(1)
        loss = task.training_step((x, y), 0)
        torch.manual_seed(1)
        plain = task._train_loss(task(x), y)
    assert torch.allclose(loss - plain, task.model.penalty())
    loss.backward()
    assert w.grad is not None
    no_l2 = dnaseq.SequenceModel("conv_recurrent", {**arch, "kmer_l2": 0.0}, seq_len=50, n_features=3)
    assert no_l2.model.penalty() is None
    with pytest.raises(ValueError, match="kmer_l2"):
        dnaseq.SequenceModel("conv_recurrent", {**arch, "kmer_l2": -1.0}, seq_len=50, n_features=3)


def test_last_checkpoint_is_the_last_epoch_even_when_it_did_not_improve(tiny_dataset, tmp_path):
    """Lightning 2.6's ModelCheckpoint(save_last=True) skips last.ckpt after an epoch that did not
    improve the monitored metric; a resume from it would redo epochs. With lr 0 no epoch improves."""
    import torch

    from dnaseq.training.train import main
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=2,
                       limit_val_batches=1, max_epochs=3)
    assert main(["--config", str(cfg), "--model.lr", "0.0"]) == 0
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    best = torch.load(tmp_path / "ckpt" / "best.ckpt", weights_only=False)
    assert (best["epoch"], best["global_step"]) == (0, 2)
    assert (last["epoch"], last["global_step"]) == (2, 6)


def test_ema_weight_averaging_from_the_config_is_what_the_checkpoint_holds(tiny_dataset, tmp_path):
    """The README's EMA snippet: Lightning's EMAWeightAveraging as a config callback. The checkpoint's
    weights are the average (not the last step's), and load_model runs it."""
    from dnaseq.training.train import main
    ema = {"class_path": "pytorch_lightning.callbacks.EMAWeightAveraging",
           "init_args": {"decay": 0.9, "use_buffers": False}}
    cfg = write_config(tmp_path / "c.yaml", tiny_dataset, tmp_path / "ckpt", limit_train_batches=3,
                       limit_val_batches=2, max_epochs=2, callbacks=[ema])
    assert main(["--config", str(cfg), "--model.arch_args.kmer_k", "3"]) == 0
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    averaged, current = ckpt["state_dict"], ckpt["current_model_state"]
    floats = [k for k, v in averaged.items() if v.is_floating_point() and "norm" not in k and "pos_weight" not in k]
    assert floats and any(not torch.equal(averaged[k], current[k]) for k in floats)
    model = dnaseq.load_model(str(tmp_path / "ckpt" / "last.ckpt"))
    assert all(torch.equal(model.state_dict()[k], averaged[k]) for k in floats)
    assert model.predict_proba("ACGT" * 250).shape == (1, 8)


def test_one_feature_dataset_trains_validates_and_predicts(tmp_path):
    """One ChIP-seq experiment is the commonest dataset: it trains, validates (valid_auroc) and its
    checkpoint predicts one column (torchmetrics' multilabel AUROC refuses one label)."""
    import shutil

    from tests.conftest import DATA
    shutil.copytree(DATA / "dm3_slice", tmp_path / "slice")
    features = dnaseq.read_manifest(str(tmp_path / "slice" / "manifest.tsv"))[:1]
    data = tmp_path / "one.h5"
    dnaseq.build_dataset(str(tmp_path / "slice" / "dm3_chr2L_400k.fa.gz"), features, str(data), max_n_fraction=0.0,
                         valid_fraction=0.2, test_fraction=0.2, seed=1, progress=False)
    cfg = write_config(tmp_path / "c.yaml", data, tmp_path / "ckpt", limit_train_batches=3)
    run_cli("train", "--config", cfg)
    import pandas as pd
    metrics = pd.read_csv(next((tmp_path / "logs").rglob("metrics.csv")))
    auc = metrics["valid_auroc"].dropna()
    assert len(auc) == 1 and 0.0 <= float(auc.iloc[0]) <= 1.0  # one validation, a real AUROC
    model = dnaseq.load_model(str(tmp_path / "ckpt" / "last.ckpt"))
    assert model.feature_names == [features[0].name]
    assert model.predict_proba("ACGT" * 250).shape == (1, 1)

    # every command that applies a model takes the one-feature checkpoint, at its smallest inputs
    ckpt, fa, out = tmp_path / "ckpt" / "last.ckpt", tmp_path / "slice" / "dm3_chr2L_400k.fa.gz", tmp_path / "out"
    name = features[0].name
    run_cli("evaluate", "-m", ckpt, "--data", data, "--split", "test", "-o", out / "eval", "-q")
    assert json.loads((out / "eval" / "metrics.json").read_text())["features"][0]["feature"] == name
    (tmp_path / "one.bed").write_text("chr2L\t65716\t65959\tpeak\n")
    run_cli("predict", "-m", ckpt, "--regions", tmp_path / "one.bed", "-r", fa, "-o", out / "pred", "-q")
    assert list(pd.read_csv(out / "pred.tsv", sep="\t").columns)[-1] == name
    (tmp_path / "one.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                      "chr2L\t65800\tv\tA\tG\t.\t.\t.\n")
    run_cli("score-variants", "-m", ckpt, "--vcf", tmp_path / "one.vcf", "-r", fa, "-o", out / "v", "-q")
    assert f"diff:{name}" in pd.read_csv(out / "v.tsv", sep="\t").columns
    run_cli("ism", "-m", ckpt, "-r", fa, "--region", "chr2L:65,800-65,810", "-o", out / "ism.h5", "-q")
    run_cli("attribute", "-m", ckpt, "-r", fa, "--region", "chr2L:65,800-65,810", "--method", "saliency",
            "-o", out / "attr.h5", "-q")
    run_cli("design", "-m", ckpt, "--random", "1", "--objective", f"+{name}", "--max-edits", "1", "--chains", "1",
            "--out", out / "d", "-q")
    assert (out / "d.designed.fa").exists()
    run_cli("motifs", "-m", ckpt, "--data", data, "--split", "test", "--influence-windows", "8", "--no-logos",
            "-o", out / "motifs")
    assert set(pd.read_csv(out / "motifs" / "filter_motifs.tsv", sep="\t")["top_feature"]) == {name}
    (tmp_path / "search.yaml").write_text("model.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n")
    fast = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2",
            "trainer.num_sanity_val_steps=0"]
    proc = run_cli("tune", "--config", cfg, "--search", tmp_path / "search.yaml", "--trials", 1, "--out", out / "tune",
                   *[a for f in fast for a in ("--set", f)])
    assert "1 trials (1 complete, 0 pruned, 0 fail)" in proc.stdout, proc.stdout
    assert pd.read_csv(out / "tune" / "trials.tsv", sep="\t").state.tolist() == ["complete"]


def test_one_window_splits_and_a_batch_larger_than_every_split(tmp_path):
    """Issue 32, item 7, the smallest legal sizes: valid and test chromosomes of 1000 bp (one
    window each), a batch size (512) larger than every split, evaluation of a one-window split
    (AUCs undefined: NaN with the reason, never a crash or 0.5) and a FASTA of one record."""
    import shutil

    import pandas as pd

    from dnaseq.sequence.genome import write_fasta
    from tests.conftest import DATA
    shutil.copytree(DATA / "dm3_slice", tmp_path / "slice")
    with dnaseq.Genome(str(tmp_path / "slice" / "dm3_chr2L_400k.fa.gz")) as g:
        codes = g.chromosome_codes("chr2L")
    clean = [i for i in range(0, len(codes) - 1000, 1000) if (codes[i:i + 1000] != 4).all()][:2]
    seq = dnaseq.decode(codes)
    fa = write_fasta(tmp_path / "g.fa", {"chr2L": seq, "chrV": seq[clean[0]:clean[0] + 1000],
                                         "chrT": seq[clean[1]:clean[1] + 1000]})
    data = tmp_path / "d.h5"
    report = dnaseq.build_dataset(str(fa), dnaseq.read_manifest(str(tmp_path / "slice" / "manifest.tsv")),
                                  str(data), valid_chroms=["chrV"], test_chroms=["chrT"], progress=False)
    assert report.windows["valid"] == 1 and report.windows["test"] == 1 and report.windows["train"] < 512
    cfg = write_config(tmp_path / "c.yaml", data, tmp_path / "ckpt")
    text = yaml.safe_load(cfg.read_text())
    text["data"]["batch_size"] = 512
    cfg.write_text(yaml.safe_dump(text))
    run_cli("train", "--config", cfg)
    ckpt = tmp_path / "ckpt" / "last.ckpt"
    assert ckpt.exists()
    proc = run_cli("evaluate", "-m", ckpt, "--data", data, "--split", "test", "-o", tmp_path / "eval", "-q",
                   check=False)
    table = pd.read_csv(tmp_path / "eval" / "metrics_per_feature.tsv", sep="\t")
    assert len(table) == 8 and table["roc_auc"].isna().all(), table  # one window: one class per feature
    assert proc.returncode == 3 and "(no positives in this split)" in proc.stdout, proc.stdout + proc.stderr
    assert "no feature has both positive and negative windows in the test split (1 windows)" in proc.stderr
    one = write_fasta(tmp_path / "one.fa", {"only": seq[clean[0]:clean[0] + 1000]})
    run_cli("predict", "-m", ckpt, "--fasta", one, "-o", tmp_path / "pred", "-q")
    pred = pd.read_csv(tmp_path / "pred.tsv", sep="\t")
    assert len(pred) == 1 and pred["name"].tolist() == ["only"]


def test_an_empty_validation_split_is_named_at_build_and_refused_by_train(tmp_path, caplog):
    """A random split too small for a validation window: build-dataset warns, and train stops
    before the first epoch with one line (Lightning failed after it, with a traceback)."""
    import logging

    from tests.conftest import DATA
    slice_dir = DATA / "dm3_slice"
    data = tmp_path / "v.h5"
    with caplog.at_level(logging.WARNING):
        report = dnaseq.build_dataset(str(slice_dir / "dm3_chr2L_400k.fa.gz"),
                                      dnaseq.read_manifest(str(slice_dir / "manifest.tsv")), str(data),
                                      valid_fraction=0.0005, test_fraction=0.05, max_n_fraction=0, progress=False)
    assert report.windows["valid"] == 0 and report.windows["train"] > 0
    assert "the valid split got no window (--valid-fraction 0.0005" in caplog.text
    proc = run_cli("train", "--config", write_config(tmp_path / "c.yaml", data, tmp_path / "ckpt"), check=False)
    assert proc.returncode == 1 and "the 'valid' split has 0 windows: nothing to validate on" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "ckpt").exists()
