#!/usr/bin/env python
"""One command, one table: what dnaseq does on a GPU (or, with ``--tiny``, a quick check of the
same code path on the CPU, run by the test suite so this script cannot rot).

    python scripts/bench/gpu.py                     # on a GPU machine: about 5 minutes on one H100
    python scripts/bench/gpu.py --tiny --device cpu  # tiny sizes, any machine (tests/test_bench_gpu.py)

Rows (each names the device it ran on):

* training throughput of DanQ and DeepSEA at their published sizes (1000 bp, 919 features) in
  windows/s, fp32 (``32-true``) and ``bf16-mixed``, batch 512, through dnaseq's own Lightning
  path, with batches from the on-disk HDF5 (uint8 codes, 2 loader workers, pinned memory; one-hot
  made on the device) and from memory; the loader's share of a step (the on-disk loader alone,
  seconds per batch, over the training step's seconds per batch) and the projected time of one
  4.4M-window epoch (DeepSEA's training set);
* ``score-variants`` variants/s (both strands, local recomputation) for both architectures at
  fp32 and bf16-mixed, from a checkpoint on disk to scores on disk;
* ISM seconds per 1000 bp sequence for both (forward strand, fp32);
* selene-sdk's variants/s on the same device and the ratio, when ``--peers-venv`` holds it
  (``scripts/bench/variants.py`` builds that venv; a machine with no network cannot).

Weights are random (speed does not depend on them); the genome is random sequence. The table is
also written as JSON (``--out``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dnaseq  # noqa: E402
from dnaseq.settings import RunOptions  # noqa: E402
from train_throughput import _Timer, make_data  # noqa: E402  (the bench scripts beside this one)
from variants import ensure_peers, make_inputs, run_peer, save_checkpoint  # noqa: E402

EPOCH_WINDOWS = 4_400_000  # DeepSEA's training windows
ARCHS = ("danq", "deepsea")
PRECISIONS = ("32-true", "bf16-mixed")


def accelerator(device: str) -> str:
    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return {"cuda": "gpu"}.get(device, device)


def device_name(acc: str) -> str:
    if acc == "gpu":
        return torch.cuda.get_device_name(0)
    return f"CPU ({torch.get_num_threads()} threads)"


def _sync(acc: str) -> None:
    if acc == "gpu":
        torch.cuda.synchronize()


def train_windows_per_s(arch, data, batch, steps, warmup, acc, precision, in_memory, workers, features):
    """Windows/s of dnaseq's training step (Lightning, one device) after ``warmup`` steps."""
    import pytorch_lightning as pl

    from dnaseq.data.datamodule import DNADataModule
    from dnaseq.training.task import SequenceModel

    pl.seed_everything(0, verbose=False)
    dm = DNADataModule(data, batch_size=batch, in_memory=in_memory, num_workers=0 if in_memory else workers,
                       pin_memory=acc == "gpu")
    model = SequenceModel(arch, seq_len=1000, n_features=features)
    timer = _Timer(warmup)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=warmup + steps, limit_val_batches=0, accelerator=acc,
                         devices=1, precision=precision, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer.callback],
                         num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    return timer.steps * batch / (timer.t1 - timer.t0)


def loader_windows_per_s(data, batch, batches, workers, acc) -> float:
    """Windows/s of the on-disk loader alone: uint8 batches into (pinned) host memory, then the
    device, with the one-hot expansion the training step does."""
    from dnaseq.data.datamodule import DNADataModule, expand_batch

    dm = DNADataModule(data, batch_size=batch, in_memory=False, num_workers=workers, pin_memory=acc == "gpu")
    dm.setup("fit")
    dev = torch.device("cuda" if acc == "gpu" else "cpu")
    t0, n = None, 0
    for i, (codes, labels) in enumerate(dm.train_dataloader()):
        if i == 1:  # the first batch starts the workers
            _sync(acc)
            t0 = time.perf_counter()
        if i >= 1:
            expand_batch(codes.to(dev, non_blocking=True), labels.to(dev, non_blocking=True))
            n += len(codes)
        if i == batches:
            break
    _sync(acc)
    return n / (time.perf_counter() - t0)


def score_variants_per_s(ckpt, vcf, fa, out, n, acc, precision, batch) -> float:
    from dnaseq.apply.variants import score_variants
    run = RunOptions(accelerator=acc, devices=1, precision=precision, batch_size=batch, progress=False)
    score_variants(ckpt, vcf, fa, out, scores=("diff", "logit_diff"), strand="both", run=run)  # warm-up
    t = time.perf_counter()
    score_variants(ckpt, vcf, fa, out + "_timed", scores=("diff", "logit_diff"), strand="both", run=run)
    return n / (time.perf_counter() - t)


def ism_seconds_per_kb(ckpt, acc, positions: int, batch: int) -> float:
    from dnaseq.apply.ism import ism
    model = dnaseq.load_model(ckpt)
    onehot = dnaseq.one_hot(np.random.default_rng(3).integers(0, 4, size=(1, 1000)).astype(np.uint8))
    run = RunOptions(accelerator=acc, devices=1, batch_size=batch, progress=False)
    ism(model, onehot, strand="forward", positions=range(8), run=run)  # warm-up
    _sync(acc)
    t = time.perf_counter()
    ism(model, onehot, strand="forward", positions=range(positions), run=run)
    _sync(acc)
    return (time.perf_counter() - t) * 1000 / positions


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--device", default="auto", help="auto (a GPU when there is one), gpu or cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: checks the code path in about a minute")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--variants", type=int, default=4000)
    ap.add_argument("--peers-venv", default=os.path.join(ROOT, ".bench-venv"),
                    help="a venv with selene-sdk (scripts/bench/variants.py makes it); skipped when absent")
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "bench_gpu.json"))
    args = ap.parse_args(argv)
    features, ism_positions = 919, 1000
    if args.tiny:
        args.batch_size, args.steps, args.warmup, args.variants = 4, 1, 1, 8
        features, ism_positions = 16, 4
    acc = accelerator(args.device)
    dev = device_name(acc)
    rows = []
    import pytorch_lightning  # noqa: F401  (first: importing it resets its loggers' levels)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric"):  # one table, no banners
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    # every combination on a device; with --tiny each code path once (fp32 and bf16, disk and memory)
    plan = list(itertools.product(ARCHS, PRECISIONS)) if not args.tiny else list(zip(ARCHS, PRECISIONS))
    sources = ("disk", "memory")

    def row(what, value, unit, note=""):
        rows.append({"what": what, "value": value, "unit": unit, "device": dev, "note": note})
        print(f"{what:<58} {value:>12,.1f} {unit:<14} {note}", flush=True)

    print(f"dnaseq {dnaseq.__version__}, torch {torch.__version__}, device {dev}, batch {args.batch_size}, "
          f"{args.steps} timed steps after {args.warmup}")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "windows.h5")
        make_data(data, args.batch_size * (args.steps + args.warmup + 2), features=features)
        loader = loader_windows_per_s(data, args.batch_size, args.steps, args.workers, acc)
        row("on-disk loader alone (uint8 -> one-hot on the device)", loader, "windows/s",
            f"{args.workers} workers")
        for i, (arch, precision) in enumerate(plan):
            for source in (sources if not args.tiny else sources[i % 2:i % 2 + 1]):
                w = train_windows_per_s(arch, data, args.batch_size, args.steps, args.warmup, acc, precision,
                                        source == "memory", args.workers, features)
                note = f"4.4M-window epoch {EPOCH_WINDOWS / w / 60:.1f} min"
                if source == "disk":
                    note += f"; loader share {w / loader:.0%} of a step"
                row(f"train {arch} {precision}, batch {args.batch_size}, from {source}", w, "windows/s", note)
        fa, vcf, _ = make_inputs(tmp, args.variants)
        ckpts = {a: save_checkpoint(a, os.path.join(tmp, f"{a}.ckpt"), n_features=features) for a in ARCHS}
        peer = None
        if os.path.exists(os.path.join(args.peers_venv, "bin", "python")) and not args.tiny:
            try:
                peer = ensure_peers(args.peers_venv)
            except Exception as exc:  # no network on the device machine: report, do not stop
                print(f"selene-sdk not available ({exc}); its rows are left out", file=sys.stderr)
        for arch in ARCHS:
            for precision in (p for a, p in plan if a == arch):
                v = score_variants_per_s(ckpts[arch], vcf, fa, os.path.join(tmp, f"sv_{arch}_{precision}"),
                                         args.variants, acc, precision, 256 if not args.tiny else 4)
                row(f"score-variants {arch} {precision}, both strands, {args.variants:,} SNVs", v, "variants/s")
            if peer:
                sel = run_peer(peer, tmp, task="selene", arch=arch, weights=ckpts[arch] + ".state_dict.pt",
                               fasta=fa, vcf=vcf, out=os.path.join(tmp, f"selene_{arch}"), cuda=acc == "gpu")
                theirs = args.variants / sel["seconds"]
                ours = next(r["value"] for r in rows if r["what"].startswith(f"score-variants {arch} 32-true"))
                row(f"selene-sdk score-variants {arch} fp32, both strands", theirs, "variants/s",
                    f"dnaseq / selene-sdk {ours / theirs:.2f}")
            s = ism_seconds_per_kb(ckpts[arch], acc, ism_positions, 256 if not args.tiny else 4)
            row(f"ISM {arch} fp32, forward strand", s, "s per 1000 bp",
                f"timed on {ism_positions} positions" if ism_positions < 1000 else "")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"device": dev, "tiny": args.tiny, "batch_size": args.batch_size, "rows": rows}, fh, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
