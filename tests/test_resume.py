"""Training survives a hard kill: SIGKILL mid-epoch, resume with --ckpt_path last, and the final
weights are bitwise those of a run that was never stopped (dropout and reverse-complement
augmentation on, so the random streams and the data order must both be restored)."""
import json

import pandas as pd
import pytest
import torch
import yaml

from dnaseq.data.datamodule import ChunkShuffleSampler
from tests.conftest import ROOT, build_slice_dataset, run_cli
from tests.train_helpers import checkpoint_metadata

KILL = json.dumps([{"class_path": "tests.train_helpers.KillAtStep", "init_args": {"step": 11}}])


def _config(path, data):
    cfg = {"seed_everything": 11,
           "model": {"arch": "conv_recurrent", "lr": 0.003, "lr_scheduler": "cosine",
                     "arch_args": {"conv_filters": [8], "conv_widths": 19, "pool_sizes": 13, "conv_dropout": 0.2,
                                   "rnn_type": "gru", "rnn_hidden": 8, "head_hidden": [16],
                                   "readout_dropout": 0.3}},
           "data": {"data": str(data), "batch_size": 16, "rc_augment": True},
           "trainer": {"max_epochs": 2, "limit_train_batches": 8, "limit_val_batches": 2,
                       "enable_progress_bar": False, "accelerator": "cpu", "log_every_n_steps": 1}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    data = build_slice_dataset(tmp_path)
    cfg = _config(tmp_path / "resume.yaml", data)
    env = {"PYTHONPATH": str(ROOT)}
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    run_cli("train", "--config", cfg, "--trainer.default_root_dir", whole, "--save_every_n_steps", "2",
            cwd=tmp_path, env=env)
    killed = run_cli("train", "--config", cfg, "--trainer.default_root_dir", broken, "--save_every_n_steps", "2",
                     "--trainer.callbacks", KILL, cwd=tmp_path, env=env, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run = broken / "resume" / "version_0"
    saved = checkpoint_metadata(str(run / "last.ckpt"))
    assert saved["global_step"] == 10 and saved["epoch"] == 1  # mid-epoch 1 (8 steps per epoch)
    resumed = run_cli("train", "--config", cfg, "--trainer.default_root_dir", broken, "--save_every_n_steps", "2",
                      "--ckpt_path", "last", cwd=tmp_path, env=env)
    assert f"run folder: {run}" in resumed.stdout or str(run) in resumed.stdout
    assert "not resumable" not in resumed.stderr
    a = torch.load(whole / "resume" / "version_0" / "last.ckpt", weights_only=False)
    b = torch.load(run / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 16
    assert a["state_dict"].keys() == b["state_dict"].keys()
    diffs = {k: (a["state_dict"][k].float() - b["state_dict"][k].float()).abs().max().item() for k in a["state_dict"]}
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"]), diffs
    # the best-checkpoint and early-stopping records continued too
    best = [v for k, v in b["callbacks"].items() if k.startswith("ModelCheckpoint") and "valid_auroc" in k]
    best_a = [v for k, v in a["callbacks"].items() if k.startswith("ModelCheckpoint") and "valid_auroc" in k]
    assert best[0]["best_model_score"] == best_a[0]["best_model_score"]



def test_ctrl_c_inside_a_training_step_then_resume_trains_every_batch_once(tmp_path):
    """Ctrl-C after the loader handed out a batch but before the model trained on it: the resumed
    run used to skip that batch, end the epoch one batch short, skip its validation and stop with
    Lightning's "valid_auroc which is not available". Now it trains that batch, validates every
    epoch and ends with the weights of a run that was never stopped."""
    data = build_slice_dataset(tmp_path)
    cfg = _config(tmp_path / "resume.yaml", data)
    env = {"PYTHONPATH": str(ROOT)}
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    stop = json.dumps([{"class_path": "tests.train_helpers.InterruptAtStep", "init_args": {"step": 11}}])
    run_cli("train", "--config", cfg, "--trainer.default_root_dir", whole, cwd=tmp_path, env=env)
    stopped = run_cli("train", "--config", cfg, "--trainer.default_root_dir", broken, "--trainer.callbacks", stop,
                      cwd=tmp_path, env=env, check=False)
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    run = broken / "resume" / "version_0"
    assert checkpoint_metadata(str(run / "last.ckpt"))["global_step"] == 11
    resumed = run_cli("train", "--config", cfg, "--trainer.default_root_dir", broken, "--ckpt_path", "last",
                      cwd=tmp_path, env=env, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = torch.load(whole / "resume" / "version_0" / "last.ckpt", weights_only=False)
    b = torch.load(run / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 16 and a["epoch"] == b["epoch"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    metrics = pd.read_csv(run / "metrics.csv")
    assert sorted(metrics.dropna(subset=["valid_auroc"]).epoch.unique()) == [0, 1]


@pytest.mark.parametrize("callback", ["InterruptAfterBackward", "InterruptBeforeProcessed"])
def test_ctrl_c_anywhere_in_a_step_resumes_to_the_same_weights(tmp_path, callback):
    """Ctrl-C after the batch drew its dropout masks (the resumed run drew others: the batch start's
    random states are now restored), and after its optimizer step was counted but not the batch
    (the resumed run trained it again: one step too many, as a new user's real Ctrl-C showed)."""
    data = build_slice_dataset(tmp_path)
    cfg = _config(tmp_path / "resume.yaml", data)
    env = {"PYTHONPATH": str(ROOT)}
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    stop = json.dumps([{"class_path": f"tests.train_helpers.{callback}", "init_args": {"step": 11}}])
    run_cli("train", "--config", cfg, "--trainer.default_root_dir", whole, cwd=tmp_path, env=env)
    stopped = run_cli("train", "--config", cfg, "--trainer.default_root_dir", broken, "--trainer.callbacks", stop,
                      cwd=tmp_path, env=env, check=False)
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    run = broken / "resume" / "version_0"
    run_cli("train", "--config", cfg, "--trainer.default_root_dir", broken, "--ckpt_path", "last", cwd=tmp_path,
            env=env)
    a = torch.load(whole / "resume" / "version_0" / "last.ckpt", weights_only=False)
    b = torch.load(run / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 16
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_sampler_state_resumes_the_same_order():
    full = ChunkShuffleSampler(500, 32, chunk_rows=40, seed=5, mix_chunks=3)
    full.set_epoch(2)
    batches = [b.tolist() for b in full]
    part = ChunkShuffleSampler(500, 32, chunk_rows=40, seed=5, mix_chunks=3)
    part.set_epoch(2)
    it = iter(part)
    for _ in range(5):
        next(it)
    part.consumed = 5  # the data module counts batches the model took
    fresh = ChunkShuffleSampler(500, 32, chunk_rows=40, seed=5, mix_chunks=3)
    fresh.load_state_dict(part.state_dict())
    assert [b.tolist() for b in fresh] == batches[5:]
    done = ChunkShuffleSampler(500, 32, chunk_rows=40, seed=5, mix_chunks=3)
    done.load_state_dict({**part.state_dict(), "consumed": len(full)})  # saved at the epoch's end
    assert done.epoch == 3 and done.skip == 0


def test_two_runs_in_one_python_process_get_two_folders(tmp_path, monkeypatch):
    """The folder handed to Lightning's child ranks must not leak into the caller's next run
    (it did: a second dnaseq.train() call, or any `dnaseq train` subprocess started later, wrote
    into the first run's folder)."""
    import os

    from dnaseq.training.runs import RUN_DIR_ENV, resolve_run_dir
    from dnaseq.training.train import run_training
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    data = build_slice_dataset(tmp_path)
    args = ["--config", str(_config(tmp_path / "twice.yaml", data)), "--trainer.default_root_dir", str(tmp_path / "r"),
            "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    first, second = run_training(args), run_training(args)
    assert first.run_dir != second.run_dir
    assert [os.path.basename(c.run_dir) for c in (first, second)] == ["version_0", "version_1"]
    assert (tmp_path / "r" / "twice" / "version_1" / "last.ckpt").exists()
    assert RUN_DIR_ENV not in os.environ
    # an inherited folder is trusted by ranks Lightning started (LOCAL_RANK > 0), by nothing else
    assert resolve_run_dir("runs", "x", None, env={RUN_DIR_ENV: "old"})[0] != "old"
    assert resolve_run_dir("runs", "x", None, env={RUN_DIR_ENV: "old", "LOCAL_RANK": "1"})[0] == "old"


def test_resume_continues_the_run_folder_metrics_csv(tmp_path, monkeypatch):
    """Lightning's CSV logger deleted metrics.csv of a resumed run folder (earlier epochs lost)."""
    import pandas as pd

    from dnaseq.training.runs import RUN_DIR_ENV
    from dnaseq.training.train import run_training
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    data = build_slice_dataset(tmp_path)
    args = ["--config", str(_config(tmp_path / "log.yaml", data)), "--trainer.default_root_dir", str(tmp_path / "r"),
            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
    first = run_training(args + ["--trainer.max_epochs", "1"])
    again = run_training(args + ["--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert again.run_dir == first.run_dir
    metrics = pd.read_csv(tmp_path / "r" / "log" / "version_0" / "metrics.csv")
    assert sorted(metrics.epoch.dropna().unique().astype(int)) == [0, 1]
    assert metrics.valid_auroc.notna().sum() == 2  # one validation per epoch, both kept
