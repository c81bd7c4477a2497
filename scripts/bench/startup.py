"""Start-up time of the ``dnaseq`` command and the package: medians over repeated runs, for this
checkout and (optionally) another one, in one run so both see the same machine.

    python scripts/bench/startup.py --before ../base      # ../base: e.g. `git worktree add ../base 3cccc2b`

Each case runs in a fresh ``python`` process with ``PYTHONPATH`` set to the checkout, the way the
installed ``dnaseq`` script starts (``from dnaseq.cli import main``):

* ``dnaseq --help``, ``dnaseq score-variants --help``, ``dnaseq --version``
* ``import dnaseq`` and ``import dnaseq; dnaseq.Genome``
* ``dnaseq score-variants`` of the 14 GIAB variants of ``../shared/data/vcf/giab_tiny`` (the
  12 kb chr22 excerpt) with a checkpoint of the quick-start architecture (configs/quickstart.yaml;
  untrained weights: the time does not depend on them), end to end.

The checkpoint is written once by this checkout's code (checkpoint files are the same for both).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GIAB = ROOT.parent / "shared" / "data" / "vcf" / "giab_tiny"
MAIN = "import sys; from dnaseq.cli import main; sys.exit(main())"


def make_checkpoint(path: Path) -> None:
    code = f"""
import yaml, torch, pytorch_lightning as pl
from dnaseq import SequenceModel
cfg = yaml.safe_load(open({str(ROOT / 'configs' / 'quickstart.yaml')!r}))["model"]
cfg.pop("wide_fit", None)  # a fit needs training data; the architecture is what is timed
torch.manual_seed(0)
m = SequenceModel(seq_len=1000, n_features=8, **cfg)
t = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=0)
t.strategy.connect(m)
t.save_checkpoint({str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   capture_output=True)


def cases(ckpt: Path, out: Path):
    vcf = GIAB / "NA12878.chr22.tiny.giab.vcf"
    return [
        ("dnaseq --help", ["-c", MAIN, "--help"]),
        ("dnaseq score-variants --help", ["-c", MAIN, "score-variants", "--help"]),
        ("dnaseq --version", ["-c", MAIN, "--version"]),
        ("import dnaseq", ["-c", "import dnaseq"]),
        ("import dnaseq; dnaseq.Genome", ["-c", "import dnaseq; dnaseq.Genome"]),
        ("score-variants, 14 variants, quick-start model",
         ["-c", MAIN, "score-variants", "-m", str(ckpt), "--vcf", str(vcf), "-r", str(GIAB / "q.fa"),
          "-o", str(out / "giab{run}"), "-q"]),  # a new output per run: outputs are never overwritten
    ]


def time_case(root: Path, argv, runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}
    times = []
    for run in range(runs):
        args = [a.replace("{run}", f"_{root.name}_{run}") for a in argv]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd=root)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0,):
            raise SystemExit(f"{root}: {' '.join(argv[2:])} exited {proc.returncode}:\n{proc.stderr[-1500:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="another checkout to compare (e.g. a worktree of 0.1.0)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    roots = ([("before", args.before.resolve())] if args.before else []) + [("after", ROOT)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "quickstart_arch.ckpt"
        make_checkpoint(ckpt)
        rows = []
        for name, argv in cases(ckpt, tmp):
            rows.append((name, [time_case(root, argv, args.runs) for _, root in roots]))
    head = " | ".join(f"{label} (s)" for label, _ in roots)
    print(f"medians of {args.runs} runs; python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print(f"| case | {head} |" + (" ratio |" if len(roots) == 2 else ""))
    print("|---|" + "---|" * len(roots) + ("---|" if len(roots) == 2 else ""))
    for name, times in rows:
        cells = " | ".join(f"{t:.2f}" for t in times)
        ratio = f" {times[0] / times[1]:.1f}x |" if len(times) == 2 else ""
        print(f"| {name} | {cells} |{ratio}")


if __name__ == "__main__":
    main()
