"""DDP training proven on 2 CPU processes (gloo): same weights as 1 process at the same global
batch, validation AUROC gathered across ranks equal to the single-process value, every window
to exactly one rank, and a 2-node x 8-GPU launch config that parses."""
import json
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml

from dnaseq.data.datamodule import ChunkShuffleSampler
from dnaseq.training.runs import resolve_run_dir
from tests.conftest import ROOT, build_slice_dataset, run_cli

WEIGHT_TOL = 1e-5  # float reduction order differs between one batch of 32 and two averaged halves


@pytest.mark.parametrize("n,batch,world", [(1000, 100, 3), (1003, 64, 2), (97, 10, 4), (5, 2, 4), (64, 16, 4)])
@pytest.mark.parametrize("even", [True, False])
def test_every_window_goes_to_exactly_one_rank(n, batch, world, even):
    parts = [ChunkShuffleSampler(n, batch, chunk_rows=7, seed=1, num_replicas=world, rank=r, even=even)
             for r in range(world)]
    batches = [list(p) for p in parts]
    assert [len(b) for b in batches] == [len(p) for p in parts]
    if even:  # DDP needs the same number of steps on every rank
        assert len({len(b) for b in batches}) == 1
    rows = np.concatenate([np.concatenate(b) for b in batches if b])
    assert set(rows.tolist()) == set(range(n))
    padded = even and n % batch and (n - (n // batch // world * world) * batch) < world
    if not padded:  # no window twice (only a remainder smaller than the rank count is padded)
        assert len(rows) == n


def _config(path, data, batch):
    cfg = {"seed_everything": 5,
           "model": {"arch": "conv_recurrent", "lr": 0.003,
                     "arch_args": {"conv_filters": [8], "conv_widths": 19, "pool_sizes": 13, "conv_dropout": 0.0,
                                   "rnn_type": "gru", "rnn_hidden": 8, "head_hidden": [16],
                                   "readout_dropout": 0.0}},
           "data": {"data": str(data), "batch_size": batch, "rc_augment": False},
           "trainer": {"max_epochs": 1, "limit_train_batches": 4, "limit_val_batches": 2,
                       "enable_progress_bar": False, "accelerator": "cpu"}}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_slice_dataset(tmp_path_factory.mktemp("ddp"))


def test_two_ddp_processes_train_like_one_at_the_same_global_batch(data, tmp_path):
    one = _config(tmp_path / "one.yaml", data, 32)
    two = _config(tmp_path / "two.yaml", data, 16)  # per rank: 2 x 16 = 32 windows per step
    run_cli("train", "--config", one, "--trainer.default_root_dir", tmp_path / "runs", cwd=tmp_path)
    proc = run_cli("train", "--config", two, "--trainer.default_root_dir", tmp_path / "runs",
                   "--trainer.devices", "2", "--trainer.strategy", "ddp", cwd=tmp_path)
    assert proc.stdout.count("run folder:") == 1  # rank 0 reports; both ranks used one folder
    a = torch.load(tmp_path / "runs" / "one" / "version_0" / "last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "runs" / "two" / "version_0" / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 4
    diff = max((a["state_dict"][k].float() - b["state_dict"][k].float()).abs().max().item() for k in a["state_dict"])
    moved = max((a["state_dict"][k].float()).abs().max().item() for k in a["state_dict"])
    assert diff < WEIGHT_TOL and moved > 0, diff


VALIDATE = textwrap.dedent('''
    import json, sys
    import pytorch_lightning as pl
    import dnaseq
    ckpt, data, devices, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    model = dnaseq.load_model(ckpt)
    dm = dnaseq.DNADataModule(data, batch_size=16)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
                         logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False)
    result = trainer.validate(model, datamodule=dm, verbose=False)
    if trainer.global_rank == 0:
        json.dump({"metrics": result, "batches": trainer.num_val_batches}, open(out, "w"))
''')


def test_validation_auroc_is_gathered_not_recomputed(tiny_checkpoint, data, tmp_path):
    import subprocess
    script = tmp_path / "validate.py"
    script.write_text(VALIDATE)
    out = {}
    for devices in (1, 2):
        path = tmp_path / f"v{devices}.json"
        subprocess.run([sys.executable, str(script), str(tiny_checkpoint), str(data), str(devices), str(path)],
                       check=True, cwd=tmp_path, capture_output=True, env={"PYTHONPATH": str(ROOT),
                                                                         **__import__("os").environ})
        out[devices] = json.loads(path.read_text())
    one, two = out[1]["metrics"][0]["valid_auroc"], out[2]["metrics"][0]["valid_auroc"]
    assert out[2]["batches"][0] < out[1]["batches"][0]  # each rank validated only its share
    assert abs(one - two) < 1e-6, (one, two)


def test_two_node_eight_gpu_config_parses(monkeypatch):
    from dnaseq.training.train import parse_config
    cfg = parse_config(["--config", str(ROOT / "configs" / "danq_2x8gpu.yaml")])
    assert cfg.trainer.devices == 8 and cfg.trainer.num_nodes == 2 and cfg.trainer.strategy == "ddp"
    assert cfg.trainer.precision == "bf16-mixed" and cfg.model.arch == "danq" and cfg.save_every_n_steps == 2000
    # every rank of a SLURM job (or a torchrun job) names the same run folder
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "16", "SLURM_PROCID": "9"}
    assert resolve_run_dir("runs", "danq_2x8gpu", None, env=slurm)[0].endswith("danq_2x8gpu/job_4242")
    elastic = {"WORLD_SIZE": "16", "RANK": "3", "TORCHELASTIC_RUN_ID": "exp1"}
    assert resolve_run_dir("runs", "danq_2x8gpu", None, env=elastic)[0].endswith("job_exp1")
    from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
    for key, value in {**slurm, "SLURM_NODELIST": "gpu[01-02]", "SLURM_LOCALID": "1", "SLURM_NNODES": "2",
                       "SLURM_NODEID": "1", "SLURM_JOB_NAME": "dnaseq-danq", "SLURM_NTASKS_PER_NODE": "8"}.items():
        monkeypatch.setenv(key, value)
    assert SLURMEnvironment.detect()
    env = SLURMEnvironment()
    assert env.world_size() == 16 and env.global_rank() == 9 and env.node_rank() == 1
    assert not TorchElasticEnvironment.detect()
