import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def run_cli(*args, cwd=None, check=True, timeout=600):
    """Run ``dnaseq`` in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "dnaseq.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"dnaseq {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc
