#!/usr/bin/env python
"""Variant scoring with local recomputation (dnaseq.models.fast_ism.edited_logits) vs full passes.

For DeepSEA and DanQ (1000 bp, 919 features, random weights, eval mode) and a batch of SNVs at
the window centre, times

  full:         a full forward pass of REF and ALT on both strands (4 passes of the batch);
  local:        REF in full on both strands, ALT recomputed locally on both strands
                (``edited_logits`` once per strand);
  local_1call:  the same with both strands in one ``edited_logits`` call (2B rows, starts L//2
                and L-1-L//2: one group, one span);
  *_rnnfull:    the same two with ``fast_ism.LOCAL_RECURRENCE = False``: the conv tower is local
                but the recurrent layer (DanQ's BiLSTM) and the head run in full for every ALT
                (the behaviour before the local recurrence). For DeepSEA (no recurrence) these
                run the very same code as local / local_1call: a check that nothing changed.

Every window is 1000 bp; "windows/s" counts the 4 x batch windows (REF, ALT x 2 strands) a
batch of variants needs, so variants/s = windows/s / 4. Repetitions are interleaved and the
median is reported.

    python scripts/bench/local_edit.py [--batch 128] [--reps 5] [--threads 2] [--archs deepsea,danq]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import dnaseq  # noqa: E402
from dnaseq.models import fast_ism  # noqa: E402
from dnaseq.models.fast_ism import edited_logits, supported  # noqa: E402
from dnaseq.sequence.onehot import reverse_complement_one_hot  # noqa: E402


def make_batch(batch: int, seq_len: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(batch, seq_len)).astype(np.uint8)
    x = dnaseq.one_hot(codes).float()
    c = seq_len // 2
    alt_base = torch.from_numpy((codes[:, c].astype(np.int64) + rng.integers(1, 4, size=batch)) % 4)
    alt = torch.nn.functional.one_hot(alt_base, 4).float()[:, :, None]  # (B, 4, 1)
    return x, alt


@torch.no_grad()
def run_full(model, x, alt, c):
    alt_x = x.clone()
    alt_x[:, :, c:c + 1] = alt
    rc, rc_alt = reverse_complement_one_hot(x), reverse_complement_one_hot(alt_x)
    return model(x), model(alt_x), model(rc), model(rc_alt)


def run_local(model, x, alt, c):
    L = x.shape[-1]
    rc = reverse_complement_one_hot(x)
    ref_f, alt_f = edited_logits(model, x, c, alt)
    ref_r, alt_r = edited_logits(model, rc, L - 1 - c, alt.flip(1))
    return ref_f, alt_f, ref_r, alt_r


def run_local_one_call(model, x, alt, c):
    L = x.shape[-1]
    B = x.shape[0]
    both = torch.cat([x, reverse_complement_one_hot(x)])
    starts = torch.tensor([c] * B + [L - 1 - c] * B)
    ref, out = edited_logits(model, both, starts, torch.cat([alt, alt.flip(1)]))
    return ref[:B], out[:B], ref[B:], out[B:]


def rnn_full(fn):
    """``fn`` with the recurrent layer run in full for every ALT row."""
    def run(*args):
        fast_ism.LOCAL_RECURRENCE = False
        try:
            return fn(*args)
        finally:
            fast_ism.LOCAL_RECURRENCE = True
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", default="deepsea,danq")
    ap.add_argument("--seq-len", type=int, default=1000)
    ap.add_argument("--features", type=int, default=919)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    c = args.seq_len // 2
    x, alt = make_batch(args.batch, args.seq_len)
    n_windows = 4 * args.batch
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch} SNVs at {c}, "
          f"{args.seq_len} bp, {args.features} features; median of {args.reps}")
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        model = dnaseq.build_model(arch, args.seq_len, args.features).eval()
        assert supported(model)
        ways = {"full": run_full, "local_rnnfull": rnn_full(run_local), "local": run_local,
                "local_1call_rnnfull": rnn_full(run_local_one_call), "local_1call": run_local_one_call}
        # warm-up and correctness
        full = run_full(model, x, alt, c)
        for name in list(ways)[1:]:
            got = ways[name](model, x, alt, c)
            err = max(float((a - b).abs().max()) for a, b in zip(got, full))
            print(f"  {arch} {name}: max |logit - full| = {err:.2e}")
        times = {k: [] for k in ways}
        for _ in range(args.reps):
            for name, fn in ways.items():
                t = time.perf_counter()
                fn(model, x, alt, c)
                times[name].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in ways:
            print(f"{arch:8s} {name:20s} {med[name]:7.3f} s/batch  {n_windows / med[name]:8.1f} windows/s  "
                  f"{args.batch / med[name]:7.1f} variants/s  (runs: {', '.join(f'{t:.2f}' for t in times[name])})")
        print(f"{arch:8s} speed-up over full: local {med['full'] / med['local']:.2f}x "
              f"(recurrence in full: {med['full'] / med['local_rnnfull']:.2f}x); one call for both strands "
              f"{med['full'] / med['local_1call']:.2f}x (recurrence in full: "
              f"{med['full'] / med['local_1call_rnnfull']:.2f}x)")


if __name__ == "__main__":
    main()
