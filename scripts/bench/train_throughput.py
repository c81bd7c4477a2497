#!/usr/bin/env python
"""Training throughput of DanQ and DeepSEA through dnaseq's Lightning path versus a bare PyTorch
loop over the same model, data and batches, in the same run.
Target (issue 3): Lightning / bare >= 0.95 on CPU at batch 64.

    python scripts/bench/train_throughput.py [--steps 20] [--batch-size 64] [--device cpu]
        [--precision 32-true] [--models danq,deepsea]

Both paths read uint8 windows from the same HDF5 file (synthetic random sequence, 919 labels, so
the models are their published size) and expand them to one-hot on the device. On a GPU pass
``--device cuda --precision bf16-mixed --batch-size 512`` to get sequences/s, peak GPU memory
and the implied time of one 4.4M-sequence DeepSEA epoch.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch


def make_data(path: str, n: int, features: int = 919, length: int = 1000) -> None:
    from dnaseq.data.dataset import DatasetWriter
    rng = np.random.default_rng(0)
    with DatasetWriter(path, length, features) as w:
        for split in ("train", "valid"):
            codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
            labels = (rng.random((n, features)) < 0.05).astype(np.uint8)
            w.append(split, codes, labels, 0, np.arange(n), np.zeros(n))
        w.set_attrs(features=[f"f{i}" for i in range(features)], groups=["TF"] * features,
                    chroms=["synthetic"], window_size=length, bin_size=200)


class _Timer:
    """Times training batches after ``warmup`` steps (Lightning callback)."""

    def __init__(self, warmup: int):
        import pytorch_lightning as pl

        timer = self

        class CB(pl.Callback):
            def on_train_batch_start(self, trainer, module, batch, idx):
                if idx == warmup:
                    if torch.cuda.is_available():
                        torch.cuda.synchronize()
                    timer.t0 = time.perf_counter()

            def on_train_batch_end(self, trainer, module, outputs, batch, idx):
                # stop at the last timed batch, like the bare loop: epoch teardown is not a step
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                timer.steps = idx + 1 - warmup
                timer.t1 = time.perf_counter()

        self.callback = CB()
        self.t0 = self.t1 = None
        self.steps = 0


def lightning_steps_per_s(arch, data, batch, steps, warmup, device, precision):
    import pytorch_lightning as pl

    from dnaseq.data.datamodule import DNADataModule
    from dnaseq.training.task import SequenceModel

    pl.seed_everything(0, verbose=False)
    dm = DNADataModule(data, batch_size=batch, in_memory=True)
    model = SequenceModel(arch, seq_len=1000, n_features=dm.n_features)
    timer = _Timer(warmup)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=warmup + steps, limit_val_batches=0,
                         accelerator=device, devices=1, precision=precision, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer.callback], num_sanity_val_steps=0)
    torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
    trainer.fit(model, datamodule=dm)
    return timer.steps / (timer.t1 - timer.t0)


def bare_steps_per_s(arch, data, batch, steps, warmup, device, precision):
    from dnaseq.data.datamodule import DNADataModule, expand_batch
    from dnaseq.models import build_model

    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "gpu" else device)
    dm = DNADataModule(data, batch_size=batch, in_memory=True)
    model = build_model(arch, 1000, dm.n_features).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16"))
    t0 = None
    for i, (codes, labels) in enumerate(dm.train_dataloader()):
        if i == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        if i == warmup + steps:
            break
        x, y = expand_batch(codes.to(dev, non_blocking=True), labels.to(dev, non_blocking=True))
        with autocast:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="cpu or gpu")
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--models", default="danq,deepsea")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "bench.h5")
        make_data(data, args.batch_size * (args.steps + args.warmup + 1))
        print(f"device {args.device}, precision {args.precision}, batch {args.batch_size}, "
              f"{args.steps} timed steps after {args.warmup} warm-up, torch threads {torch.get_num_threads()}")
        for arch in args.models.split(","):
            # interleave the two paths and keep each one's best run, so a noisy neighbour or a
            # cold start penalises neither
            light, bare = 0.0, 0.0
            for _ in range(args.repeats):
                bare = max(bare, bare_steps_per_s(arch, data, args.batch_size, args.steps, args.warmup,
                                                  args.device, args.precision))
                light = max(light, lightning_steps_per_s(arch, data, args.batch_size, args.steps, args.warmup,
                                                         args.device, args.precision))
            line = (f"{arch:8}: lightning {light:7.2f} steps/s ({light * args.batch_size:8.0f} seq/s) | "
                    f"bare {bare:7.2f} steps/s ({bare * args.batch_size:8.0f} seq/s) | ratio {light / bare:.3f}")
            if torch.cuda.is_available() and args.device == "gpu":
                peak = torch.cuda.max_memory_allocated() / 2**30
                epoch_min = 4_400_000 / (light * args.batch_size) / 60
                line += f" | peak GPU mem {peak:.1f} GiB | 4.4M-seq epoch {epoch_min:.1f} min"
            print(line, flush=True)


if __name__ == "__main__":
    main()
