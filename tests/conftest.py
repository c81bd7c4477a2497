import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from tests.forkserver import ForkServer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shipped_dataset() -> Path:
    path = DATA / "dm3_insulators.h5"
    assert path.exists(), "run scripts/make_shipped_data.py"
    return path


@pytest.fixture
def dm3_slice(tmp_path) -> Path:
    """A copy of the shipped real dm3 slice (FASTA + 8 peak files + manifest)."""
    dst = tmp_path / "dm3_slice"
    shutil.copytree(DATA / "dm3_slice", dst, ignore=shutil.ignore_patterns("*.fai", "*.gzi"))
    return dst


def build_slice_dataset(folder: Path, name: str = "tiny.h5", **options) -> Path:
    """Copy the shipped real dm3 slice into ``folder`` and build a dataset from it."""
    import dnaseq
    shutil.copytree(DATA / "dm3_slice", folder / "slice", ignore=shutil.ignore_patterns("*.fai", "*.gzi"),
                    dirs_exist_ok=True)
    out = folder / name
    dnaseq.build_dataset(str(folder / "slice" / "dm3_chr2L_400k.fa.gz"),
                         dnaseq.read_manifest(str(folder / "slice" / "manifest.tsv")), str(out),
                         **{"max_n_fraction": 0.0, "valid_fraction": 0.2, "test_fraction": 0.2, "seed": 1,
                            "progress": False, **options})
    return out


_SERVER: Optional[ForkServer] = None


def _fork_server() -> Optional[ForkServer]:
    """The session's fork server (tests/forkserver.py), started on first use; None where it
    cannot run (no ``socket.send_fds``) or ``DNASEQ_TEST_FORK=0`` asks for fresh processes."""
    global _SERVER
    if os.environ.get("DNASEQ_TEST_FORK", "1") == "0" or not hasattr(socket, "send_fds"):
        return None
    if _SERVER is None:
        folder = tempfile.mkdtemp(prefix="dnaseq-fork-")
        _SERVER = ForkServer(Path(folder))
        atexit.register(shutil.rmtree, folder, True)
        atexit.register(_SERVER.close)  # runs first (last registered)
    return _SERVER


def run_cli(*args, cwd=None, check=True, timeout=600, env=None, fork=None):
    """Run ``dnaseq`` in a process of its own, as a user would (``env``: extra environment
    variables). By default the process is forked from the session's fork server, which has
    imported dnaseq once (tests/forkserver.py); a fresh ``python -m dnaseq.cli`` when ``env`` is
    given (it may matter at import time), for DDP (any ``strategy`` / ``devices`` option: Lightning
    starts the other ranks from ``sys.argv``), or with ``fork=False``."""
    args = [str(a) for a in args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    ddp = any("strategy" in a or "ddp" in a or a.endswith("devices") for a in args)
    server = _fork_server() if fork is not False and not env and not ddp else None
    if server is not None:
        proc = server.run(args, cwd=cwd, env=full_env, timeout=timeout)
    else:
        proc = subprocess.run([sys.executable, "-m", "dnaseq.cli", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"dnaseq {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A small conv+GRU model trained two steps on a real dm3 slice dataset (8 features, 1000 bp)."""
    import pytorch_lightning as pl

    import dnaseq
    d = tmp_path_factory.mktemp("ckpt")
    data = build_slice_dataset(d)
    pl.seed_everything(3, verbose=False)
    dm = dnaseq.DNADataModule(str(data), batch_size=16)
    model = dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [8], "conv_widths": 11, "pool_sizes": 10,
                                                    "rnn_type": "lstm", "rnn_hidden": 4, "head_hidden": [8]},
                                 seq_len=dm.seq_len, n_features=dm.n_features, feature_names=dm.feature_names,
                                 feature_groups=dm.feature_groups)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         default_root_dir=str(d))
    trainer.fit(model, datamodule=dm)
    path = d / "tiny.ckpt"
    trainer.save_checkpoint(str(path))
    return path
