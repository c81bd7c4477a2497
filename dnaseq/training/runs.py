"""Run folders: every ``dnaseq train`` gets its own folder with stable file names.

``<root>/<config name>/version_<N>/`` holds ``best.ckpt`` (best validation mean ROC AUC),
``last.ckpt`` (rewritten at each epoch end, and every N steps with ``save_every_n_steps``),
``config.yaml`` (the full resolved config) and the loggers' files (``metrics.csv``, TensorBoard
events). ``<root>`` is ``trainer.default_root_dir`` (``runs`` when not given); a config that names
its own checkpoint folder or loggers keeps them.

A run resumed with ``--ckpt_path last`` continues in the folder of its config whose ``last.ckpt``
was written last; ``--ckpt_path FOLDER`` continues in that folder. Processes of one multi-process run
must agree on the folder: ranks started by Lightning (``LOCAL_RANK`` above 0) inherit it from rank 0
through the ``DNASEQ_RUN_DIR`` environment variable, which any other process ignores (a second run
started from a process that trained before must not write into the first run's folder); ranks started together by SLURM or ``torchrun`` name it
after the job (``job_<SLURM_JOB_ID>`` or ``job_<rdzv id>``), which every rank sees alike.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional, Tuple

RUN_DIR_ENV = "DNASEQ_RUN_DIR"
BEST, LAST = "best.ckpt", "last.ckpt"


def run_name(config_paths: List[str]) -> str:
    """The config's file name without extension (``quickstart``), or ``dnaseq`` without one."""
    for p in config_paths:
        if p and os.path.exists(str(p)):
            return Path(str(p)).stem
    return "dnaseq"


def _versions(folder: Path) -> List[Tuple[int, Path]]:
    out = []
    if folder.is_dir():
        for d in folder.iterdir():
            m = re.fullmatch(r"version_(\d+)", d.name)
            if m and d.is_dir():
                out.append((int(m.group(1)), d))
    return sorted(out)


def _job_folder(env) -> Optional[str]:
    """A folder name all ranks of an externally launched multi-process job agree on."""
    if int(env.get("WORLD_SIZE", "1") or 1) <= 1 and int(env.get("SLURM_NTASKS", "1") or 1) <= 1:
        return None
    for key in ("SLURM_JOB_ID", "TORCHELASTIC_RUN_ID"):
        if env.get(key):
            return "job_" + re.sub(r"[^\w.-]", "_", env[key])
    return None


def _started_by_lightning(env) -> bool:
    """This process is a rank that Lightning's launcher started beside rank 0 of this node."""
    try:
        return int(env.get("LOCAL_RANK", "0") or 0) > 0
    except ValueError:
        return False


def resolve_run_dir(root: str, name: str, ckpt_path: Optional[str], env=None) -> Tuple[str, Optional[str]]:
    """(run folder, checkpoint to resume from) for a run of config ``name`` under ``root``."""
    env = os.environ if env is None else env
    if env.get(RUN_DIR_ENV) and _started_by_lightning(env):
        return env[RUN_DIR_ENV], ckpt_path
    base = Path(root) / name
    if ckpt_path and os.path.isdir(ckpt_path):
        last = Path(ckpt_path) / LAST
        if not last.exists():
            raise FileNotFoundError(f"no {LAST} to resume from in the run folder {ckpt_path}")
        return str(ckpt_path), str(last)
    if ckpt_path and os.path.basename(ckpt_path) == LAST and (Path(ckpt_path).parent / "config.yaml").exists():
        return str(Path(ckpt_path).parent), ckpt_path
    if ckpt_path == "last":  # the run of this config whose last.ckpt was written last
        found = [d for d in base.iterdir() if (d / LAST).exists()] if base.is_dir() else []
        resumable = sorted(((d / LAST).stat().st_mtime, str(d)) for d in found)
        if resumable:
            return resumable[-1][1], str(Path(resumable[-1][1]) / LAST)
    job = _job_folder(env)
    if job:
        return str(base / job), ckpt_path
    versions = _versions(base)
    return str(base / f"version_{versions[-1][0] + 1 if versions else 0}"), ckpt_path


def checkpoint_in(path: str) -> str:
    """A checkpoint file from a run folder (its ``best.ckpt``, else ``last.ckpt``) or the path itself."""
    if not os.path.isdir(path):
        return path
    for name in (BEST, LAST):
        if os.path.exists(os.path.join(path, name)):
            return os.path.join(path, name)
    found = sorted(Path(path).glob("*.ckpt"))
    hint = f" (it holds {', '.join(p.name for p in found[:3])}: pass one of them)" if found else ""
    runs = sorted((int(m.group(1)), d) for d in Path(path).iterdir()
                  if d.is_dir() and (m := re.fullmatch(r"version_(\d+)", d.name))
                  and any((d / name).exists() for name in (BEST, LAST)))
    if runs and not found:  # a config's folder: its runs are version_N folders
        listed = ", ".join(str(d) for _, d in runs[-3:])
        hint = (f": it is the folder of a config's runs; pass one run, e.g. {runs[-1][1]} (the newest; runs with "
                f"a checkpoint: {listed}{' ...' if len(runs) > 3 else ''})")
    raise FileNotFoundError(f"no {BEST} or {LAST} in the folder {path}{hint}")
