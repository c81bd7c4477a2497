"""`dnaseq tune`: real tiny searches on the shipped dm3 slice (a few training batches per trial)."""
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import ROOT, build_slice_dataset, run_cli

TINY = {"seed_everything": 7,
        "model": {"arch": "conv_recurrent", "lr": 0.003,
                  "arch_args": {"conv_filters": [8], "conv_widths": 19, "pool_sizes": 13, "rnn_type": "gru",
                                "rnn_hidden": 8, "head_hidden": [16]}},
        "data": {"batch_size": 32},
        "trainer": {"max_epochs": 2, "accelerator": "cpu"}}
SEARCH = """\
model.lr: {type: float, low: 1e-4, high: 1.0e-2, log: true}
model.arch_args.rnn_hidden: {type: int, low: 4, high: 12, step: 4}
model.arch_args.conv_filters: {type: categorical, choices: [[8], [12]]}
model.arch_args.rnn_type: [gru, lstm]
"""
# two training batches, two validation batches (an integer 1 would read as the fraction 1.0: all)
FAST = {"trainer.max_epochs": 1, "trainer.limit_train_batches": 2, "trainer.limit_val_batches": 2,
        "trainer.num_sanity_val_steps": 0}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    data = build_slice_dataset(d)
    config = d / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "data": str(data)}}, sort_keys=False))
    search = d / "search.yaml"
    search.write_text(SEARCH)
    return SimpleNamespace(dir=d, config=config, search=search)


@pytest.fixture(scope="module")
def search_run(setup):
    """Three trials through the Python API, recording every split the trials open."""
    import dnaseq.data.datamodule
    from dnaseq.training.tune import tune

    opened = []
    real, threads = dnaseq.data.datamodule.open_split, torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on shared cores: a thread pool only spins
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(dnaseq.data.datamodule, "open_split",
                       lambda data, split, **kw: opened.append(split) or real(data, split, **kw))
            result = tune(setup.config, setup.search, 3, setup.dir / "out", seed=0, overrides=FAST)
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(result=result, opened=opened, out=setup.dir / "out")


def test_three_trials_write_table_and_best_config(search_run, setup):
    from dnaseq.training.train import parse_config

    table, best_path = search_run.result
    assert list(table.number) == [0, 1, 2] and (table.state == "complete").all()
    assert table.value.between(0, 1).all() and (table.epochs == 1).all()
    assert list(table.columns) == ["number", "state", "value", "model.lr", "model.arch_args.rnn_hidden",
                                   "model.arch_args.conv_filters", "model.arch_args.rnn_type", "duration_s",
                                   "epochs", "run_dir", "note"]
    on_disk = pd.read_csv(search_run.out / "trials.tsv", sep="\t")
    assert len(on_disk) == 3 and np.allclose(on_disk.value, table.value)
    assert (search_run.out / "trials.png").stat().st_size > 0
    runs = [str(r) for r in table.run_dir]
    assert len(set(runs)) == 3 and all(r.startswith(str(search_run.out / "runs")) for r in runs)
    assert all((setup.dir / r / "best.ckpt").exists() for r in runs)
    # best_config.yaml: the base config with the best trial's values, a config `dnaseq train` takes
    best = table.loc[table.value.idxmax()]
    cfg = parse_config(["--config", best_path])
    assert cfg.model.lr == pytest.approx(best["model.lr"])
    assert cfg.model.arch_args["rnn_hidden"] == best["model.arch_args.rnn_hidden"]
    assert cfg.model.arch_args["conv_filters"] == best["model.arch_args.conv_filters"]
    assert cfg.model.arch_args["rnn_type"] == best["model.arch_args.rnn_type"]
    assert cfg.model.arch_args["head_hidden"] == [16] and cfg.trainer.max_epochs == 2  # overrides stay out
    assert f"trial {int(best.number)}" in open(best_path).read().splitlines()[0]
    # trained on train, scored on valid, never opened test
    assert "test" not in search_run.opened and {"train", "valid"} <= set(search_run.opened)


def test_same_seed_draws_the_same_parameters(search_run, setup):
    from dnaseq.training.tune import make_study, read_search_space

    space = read_search_space(setup.search)

    def draws(seed):
        study = make_study(seed)
        study.optimize(lambda t: [p.suggest(t) for p in space] and 0.5, n_trials=3)
        return [{p.key: p.decode(t.params[p.key]) for p in space} for t in study.trials]

    table = search_run.result.table
    searched = [{p.key: row[p.key] for p in space} for _, row in table.iterrows()]
    assert draws(0) == draws(0)
    assert [d["model.lr"] for d in draws(0)] == pytest.approx([d["model.lr"] for d in searched])
    assert [{k: v for k, v in d.items() if k != "model.lr"} for d in draws(0)] == \
        [{k: v for k, v in d.items() if k != "model.lr"} for d in searched]
    assert [d["model.lr"] for d in draws(1)] != [d["model.lr"] for d in draws(0)]


@pytest.mark.parametrize("text,expected", [
    ("model.lrr: {type: float, low: 0.001, high: 0.01}", "did you mean 'model.lr'"),
    ("model.lr: {type: floatt, low: 0.001, high: 0.01}", "model.lr: unknown type 'floatt'; did you mean 'float'"),
    ("model.lr: {type: float, low: 0.1, high: 0.01}", "model.lr: 'low' (0.1) is above 'high' (0.01)"),
    ("model.lr: {type: float, low: 0, high: 0.01, log: true}", "model.lr: a log scale needs 'low' > 0"),
    ("model.lr: {type: float, low: fast, high: 0.01}", "model.lr: 'low' must be a number"),
    ("model.lr: {type: categorical, choices: [fast, 0.01]}", "invalid value 'fast' for 'model.lr'"),
    ("model.arch_args.rnn_hiden: {type: int, low: 4, high: 8}", "did you mean 'model.arch_args.rnn_hidden'"),
    ("model.arch_args.rnn_hidden: {type: int, low: 4.5, high: 8}", "'low' must be a whole number"),
    ("model.arch_args.rnn_type: {type: categorical}", "categorical needs 'choices'"),
    ("model.lr: {type: float, low: 0.001, high: 0.01, steps: 2}", "float takes no 'steps'"),
    ("model.lr.x: [1, 2]", "'model.lr' takes one value"),
    ("data.val_split: [valid, test]", "never read the test split"),
    ("- model.lr", "expected a mapping of config keys"),
    ("model.lr: {type: float, low: [0.1", "not valid YAML"),
])
def test_bad_search_file_is_one_line_naming_file_and_key(setup, tmp_path, text, expected):
    from dnaseq.training.tune import check_search

    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "\n")
    with pytest.raises(ValueError) as info:
        check_search(setup.config, bad)
    message = str(info.value)
    assert expected in message and str(bad) in message and "\n" not in message


def test_bad_overrides_and_the_shipped_search_space(setup):
    from dnaseq.training.tune import check_search

    with pytest.raises(ValueError, match="did you mean 'trainer.max_epochs'"):
        check_search(setup.config, setup.search, {"trainer.max_epoch": 1})
    with pytest.raises(ValueError, match="must not look at the test split"):
        check_search(setup.config, setup.search, {"data.val_split": "test"})
    space, _ = check_search(ROOT / "configs" / "quickstart.yaml", ROOT / "configs" / "search_quickstart.yaml")
    assert {"model.lr", "model.arch_args.conv_filters", "model.arch_args.kmer_l2", "model.arch_args.kmer_dropout",
            "data.jitter", "model.pos_weight_cap"} <= {p.key for p in space}
    space, _ = check_search(ROOT / "configs" / "quickstart.yaml", ROOT / "configs" / "search_quickstart_pr.yaml")
    assert {p.key for p in space} == {"model.pos_weight_cap", "model.arch_args.kmer_l2", "model.arch_args.kmer_dropout"}
    space, _ = check_search(ROOT / "configs" / "quickstart.yaml", ROOT / "configs" / "search_quickstart_wide.yaml")
    assert {p.key: p.choices for p in space}["model.wide_fit"] == ("none", "frozen")


def test_pruning_reports_each_validation_and_stops_the_trial():
    from dnaseq.training.tune import PruneOnReport, mean_pr_auc, mean_pr_lift

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.7))
    trial = study.ask()
    callback = PruneOnReport(trial, "valid_auroc")
    trainer = SimpleNamespace(sanity_checking=True, callback_metrics={"valid_auroc": torch.tensor(0.2)})
    callback.on_validation_end(trainer, None)  # the sanity check is not an epoch
    trainer.sanity_checking, trainer.callback_metrics = False, {"valid_auroc": torch.tensor(0.9)}
    callback.on_validation_end(trainer, None)
    trainer.callback_metrics = {"valid_auroc": torch.tensor(0.6)}
    with pytest.raises(optuna.TrialPruned, match="after 2 validation"):
        callback.on_validation_end(trainer, None)
    assert callback.values == pytest.approx([0.9, 0.6])
    assert study.trials[0].intermediate_values == pytest.approx({0: 0.9, 1: 0.6})
    from sklearn.metrics import average_precision_score
    y = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]])
    p = np.array([[0.9, 0.1, 0.2], [0.3, 0.2, 0.8], [0.4, 0.3, 0.1], [0.5, 0.4, 0.3]])
    assert mean_pr_auc(y, p) == pytest.approx(np.mean([average_precision_score(y[:, j], p[:, j]) for j in (0, 2)]))
    # each feature's PR AUC over its positive fraction (both 1/2 here), in doublings; feature 1 has no positives
    lift = np.mean([np.log2(average_precision_score(y[:, j], p[:, j]) / 0.5) for j in (0, 2)])
    assert mean_pr_lift(y, p) == pytest.approx(lift)
    assert mean_pr_lift(np.array([[1], [0], [0], [0]]), np.array([[0.9], [0.1], [0.2], [0.3]])) == pytest.approx(2.0)


def test_cli_tune_in_a_subprocess(setup, tmp_path):
    out = tmp_path / "cli"
    fast = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]
    # one thread: two cores shared by several test processes make torch's thread pool spin
    proc = run_cli("tune", "--config", setup.config, "--search", setup.search, "--trials", 2, "--out", out,
                   "--metric", "prlift", "--seed", 3, *fast, cwd=tmp_path, timeout=300, env={"OMP_NUM_THREADS": "1"})
    assert "2 trials (2 complete, 0 pruned, 0 fail)" in proc.stdout and "best: trial" in proc.stdout
    assert f"dnaseq train --config {out / 'best_config.yaml'}" in proc.stdout
    table = pd.read_csv(out / "trials.tsv", sep="\t")
    assert len(table) == 2 and (table.state == "complete").all()
    assert "valid_prlift" in (out / "best_config.yaml").read_text()


def test_cli_bad_search_file_is_one_line(setup, tmp_path, capsys):
    from dnaseq.cli.app import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("model.lr: {type: float, low: 0.1, high: 0.01}\n")
    assert main(["tune", "--config", str(setup.config), "--search", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"dnaseq tune: error: {bad}: model.lr: 'low' (0.1) is above 'high' (0.01)"
    assert main(["tune", "--config", str(setup.config), "--search", str(tmp_path / "absent.yaml"),
                 "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip().endswith(f"search space file not found: {tmp_path / 'absent.yaml'}")


def test_valid_pr_metrics_reuse_validation_forward_pass():
    """ValidPRAUC takes validation_step's probabilities: one forward pass per validation batch
    (it used to call predict_proba again), and the scores equal those of a separate prediction."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from dnaseq.sequence.onehot import one_hot
    from dnaseq.training.task import SequenceModel
    from dnaseq.training.tune import ValidPRAUC, _pr_aucs

    torch.manual_seed(0)
    model = SequenceModel(arch="conv_recurrent", seq_len=60, n_features=3,
                          arch_args={"conv_filters": [4], "conv_widths": 5, "pool_sizes": 4, "rnn_type": "gru",
                                     "rnn_hidden": 4, "head_hidden": []})
    x = one_hot(torch.randint(0, 4, (48, 60), dtype=torch.uint8))
    y = (torch.rand(48, 3) < 0.4).float()
    y[0], y[1] = 1, 0  # both classes in every feature
    calls = []
    model.model.register_forward_hook(lambda *a: calls.append(1))
    callback = ValidPRAUC()
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[callback])
    metrics = trainer.validate(model, DataLoader(TensorDataset(x, y), batch_size=16), verbose=False)[0]
    assert len(calls) == 3  # three batches of 16, one forward pass each
    ap, prevalence = _pr_aucs(y.numpy(), model.predict_proba(x))
    assert metrics["valid_auprc"] == pytest.approx(float(np.mean(ap)), abs=1e-6)
    assert metrics["valid_prlift"] == pytest.approx(float(np.mean(np.log2(ap / prevalence))), abs=1e-5)


def test_cli_a_failed_trial_is_one_line_without_traceback(setup, tmp_path):
    search = tmp_path / "bad_lr.yaml"
    search.write_text("model.lr: [-1.0]\n")  # passes the search-file checks, fails when the optimiser is made
    proc = run_cli("tune", "--config", setup.config, "--search", search, "--trials", 1, "--out", tmp_path / "o",
                   check=False, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Trial 0 failed with parameters: {'model.lr': -1.0} because of the following error: ValueError(" \
        in proc.stderr
    assert proc.stderr.strip().endswith("no trial of 1 finished; the first: ValueError: Invalid learning rate: -1.0")
    assert "Traceback" not in proc.stderr and "Seed set to" not in proc.stderr and "Tip:" not in proc.stderr
    note = pd.read_csv(tmp_path / "o" / "trials.tsv", sep="\t").note[0]
    assert note == "ValueError: Invalid learning rate: -1.0"
