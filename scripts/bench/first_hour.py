#!/usr/bin/env python
"""What a new user sees on the rough edges issue 33 named, at two checkouts in one go: exit
status and the last line printed (plus what the outputs hold where that is the answer), as a
Markdown table.

    git worktree add ../before33 48a7276     # the commit before the first issue-33 change
    python scripts/bench/first_hour.py --before ../before33 [--out results/first_hour.md]

Every case runs ``python -m dnaseq.cli ...`` in a fresh process with ``PYTHONPATH`` set to the
checkout, on the shipped ``data/dm3_slice`` and ``data/dm3_insulators.h5`` (nothing
downloaded), with stderr a pipe (not a terminal), as in a log or a pipeline. The model is the
quick-start architecture with untrained weights, written once by this checkout. ``train`` runs
the quick-start config cut to a few batches; the Ctrl-C case sends SIGINT 10 s after the model
summary is printed (training has started).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "dm3_insulators.h5"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from failure_modes import before_after  # noqa: E402  (the same table, the same checkpoint)


def _ckpts(d: Path) -> str:
    runs = d / "runs" / "t"
    found = sorted(p.relative_to(d).as_posix() for p in runs.rglob("*.ckpt")) if runs.exists() else []
    return "checkpoints: " + (", ".join(found) if found else "none")


def _names(prefix: Path) -> str:
    path = Path(f"{prefix}.tsv")
    if not path.exists():
        return "no output"
    t = pd.read_csv(path, sep="\t", nrows=2)
    return "first rows named " + ", ".join(map(str, t.iloc[:, 0]))


def cases(d: Path, ckpt: Path):
    """(what, command shown, argument lists run in order (the last is reported), SIGINT once
    training runs, extra(output) -> text or None)."""
    fa = str(d / "slice" / "dm3_chr2L_400k.fa.gz")
    m, o = str(ckpt), d / "out"
    (d / "v.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
                             + "".join(f"chr2L\t{p}\tv{p}\tG\tA\n" for p in range(20_001, 60_000, 4_000)))
    (d / "named.bed").write_text("chr2L\t65717\t65959\tBEAF_peak_1\nchr2L\t120000\t120400\tenhancer_2\n")
    shutil.copy(ROOT / "configs" / "quickstart.yaml", d / "tiny.yaml")
    (d / "runs" / "qs" / "version_0").mkdir(parents=True)  # a run folder as `dnaseq train` lays it out
    shutil.copy(ckpt, d / "runs" / "qs" / "version_0" / "last.ckpt")
    train = ["train", "--config", str(d / "tiny.yaml"), "--data.data", str(DATA),
             "--trainer.default_root_dir", str(d / "runs" / "t"), "--trainer.enable_progress_bar", "false",
             "--data.num_workers", "0"]
    short = ["--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2"]
    predict = ["predict", "-m", m, "-r", fa, "--regions", str(d / "named.bed"), "-q"]
    return [
        ("an abbreviated option", "score-variants --vc v.vcf (for --vcf)",
         [["score-variants", "-m", m, "-r", fa, "--vc", str(d / "v.vcf"), "-o", str(o / "abbrev"), "-q"]],
         False, None),
        ("a misspelt Lightning option", "train --trainer.max_epoch 1 (for max_epochs)",
         [train + short + ["--trainer.max_epoch", "1"]], False, None),
        ("a missing dataset", "evaluate --data missing.h5",
         [["evaluate", "-m", m, "--data", str(d / "missing.h5"), "-o", str(o / "ev"), "-q"]], False, None),
        ("a missing config", "train --config missing.yaml",
         [["train", "--config", str(d / "missing.yaml")]], False, None),
        ("Ctrl-C in train", "train (quick-start config), SIGINT once training runs",
         [train + ["--trainer.max_epochs", "50"]], True, lambda out: _ckpts(d)),
        ("an earlier output", "predict -o same twice (the second run reported)",
         [predict + ["-o", str(o / "twice")], predict + ["-o", str(o / "twice")]], False, None),
        ("an unwritable output", "predict -o /proc/preds",
         [predict + ["-o", "/proc/preds"]], False, None),
        ("compare off a terminal", "compare A B --data (stderr to a file)",
         [["compare", m, m, "--data", str(DATA), "--split", "test", "-o", str(o / "cmp")]], False,
         lambda out: f"{out.count(chr(13))} carriage returns in its output"),
        ("BED names", "predict --regions named.bed", [predict + ["-o", str(o / "names")]], False,
         lambda out: _names(o / "names")),
        ("a run folder given as the checkpoint", "predict -m runs/qs (holds version_0)",
         [["predict", "-m", str(d / "runs" / "qs"), "-r", fa, "--regions", str(d / "named.bed"),
           "-o", str(o / "folder"), "-q"]], False, None),
    ]


def run_case(checkout: Path, work: Path, argvs, interrupt: bool, extra):
    for stale in ("out", "runs/t"):
        shutil.rmtree(work / stale, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONWARNINGS": "ignore"}
    for argv in argvs:
        p = subprocess.Popen([sys.executable, "-m", "dnaseq.cli", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env, cwd=work)
        if interrupt:  # SIGINT 10 s after the model summary (training has started), whatever it prints
            lines, started = [], threading.Event()

            def read():
                for line in p.stdout:
                    lines.append(line)
                    if "params" in line.lower():
                        started.set()
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            started.wait(timeout=180)
            time.sleep(10)
            p.send_signal(signal.SIGINT)
            p.wait(timeout=300)
            reader.join(timeout=30)
            out = "".join(lines)
        else:
            out, _ = p.communicate(timeout=600)
    lines = [ln for ln in out.replace("\r", "\n").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else "(nothing printed)"
    msg = (f"traceback ({len(lines)} lines) ending: " if "Traceback" in out else "") + last
    msg = msg.replace(str(work) + "/", "").replace(str(ROOT) + "/", "")
    msg = (msg[:200] + "...") if len(msg) > 203 else msg
    if extra is not None:
        msg += f" [{extra(out)}]"
    return p.returncode, msg.replace(str(work) + "/", "").replace("|", "\\|")


if __name__ == "__main__":
    before_after(__doc__, "what", cases, run_case)
