#!/usr/bin/env python
"""Training on the CPU through `dnaseq train`: steps/s with 1 process and with 2 DDP processes
(gloo) at the same global batch, and the cost of step checkpoints (``save_every_n_steps``).
Issue 10 asks for these figures on the 2-core development machine.

    python scripts/bench/ddp_cpu.py [--steps 60] [--batch 128] [--every 10]

The model is the quick start's (configs/quickstart.yaml: conv 64 x 19 + BiLSTM 32) on the shipped
data (data/dm3_insulators.h5). Each run is a real `dnaseq train` subprocess; steps/s is read from
the training-step timestamps that a small callback prints (the first 5 steps are warm-up), so
process start-up, data-module set-up and validation are not counted. With 2 processes each
rank gets half the batch (same global batch), and the 2 cores are shared by the 2 ranks, so on
this machine DDP can only show that it runs, not a speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TIMER = '''
import time
from pytorch_lightning.callbacks import Callback


class StepClock(Callback):
    """Prints the wall time of every optimizer step on rank 0 (used by scripts/bench/ddp_cpu.py)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_rank == 0:
            print(f"STEP {trainer.global_step} {time.perf_counter():.6f}", flush=True)
'''


def run(tmp: str, name: str, steps: int, batch: int, devices: int, every: int = 0) -> dict:
    cfg = yaml.safe_load(open(os.path.join(ROOT, "configs", "quickstart.yaml")))
    cfg["data"]["data"] = os.path.join(ROOT, "data", "dm3_insulators.h5")
    cfg["data"]["batch_size"] = batch // devices
    cfg["trainer"].update({"max_epochs": 1, "limit_train_batches": steps, "limit_val_batches": 2, "accelerator": "cpu",
                           "devices": devices, "enable_progress_bar": False,
                           "strategy": "ddp" if devices > 1 else "auto",
                           "callbacks": [{"class_path": "stepclock.StepClock"}]})
    if every:
        cfg["save_every_n_steps"] = every
    path = os.path.join(tmp, f"{name}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, ROOT]), "PYTHONUNBUFFERED": "1"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dnaseq.cli", "train", "--config", path,
                           "--trainer.default_root_dir", os.path.join(tmp, "runs")],
                          capture_output=True, text=True, env=env, cwd=tmp)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    stamps = [float(line.split()[2]) for line in proc.stdout.splitlines() if line.startswith("STEP ")]
    timed = stamps[5:]
    rate = (len(timed) - 1) / (timed[-1] - timed[0])
    return {"steps_per_s": rate, "windows_per_s": rate * batch, "wall_s": wall, "steps": len(stamps)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128, help="global batch (split across the processes)")
    ap.add_argument("--every", type=int, default=10, help="save_every_n_steps for the checkpoint-cost run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "stepclock.py"), "w") as fh:
            fh.write(TIMER)
        rows = {"1 process": run(tmp, "one", args.steps, args.batch, 1),
                "2 processes (DDP, gloo)": run(tmp, "two", args.steps, args.batch, 2),
                f"1 process, last.ckpt every {args.every} steps": run(tmp, "every", args.steps, args.batch, 1,
                                                                      args.every)}
    for name, r in rows.items():
        print(f"{name:40} {r['steps_per_s']:6.2f} steps/s  {r['windows_per_s']:7.0f} windows/s  "
              f"(global batch {args.batch}, {r['steps']} steps, wall {r['wall_s']:.1f} s)")
    base = rows["1 process"]["steps_per_s"]
    ck = rows[f"1 process, last.ckpt every {args.every} steps"]["steps_per_s"]
    print(f"step-checkpoint overhead: {100 * (base / ck - 1):.1f}% of step time")
    print("RESULT " + json.dumps(rows))


if __name__ == "__main__":
    main()
