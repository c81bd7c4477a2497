#!/usr/bin/env python
"""score-variants and ISM speed against selene-sdk and tangermeme, and score-variants memory.
Targets (issue 8): score-variants / selene-sdk variants/s >= 2.5 on DeepSEA and >= 1.5 on DanQ;
ISM / tangermeme >= 5 on DeepSEA and >= 2 on DanQ; RSS growth under 1 GB scoring 1,000,000 SNVs
with a small model.

    python scripts/bench/variants.py [--variants 300] [--ism-seqs 1] [--million 1000000]
                                     [--peers-venv .bench-venv] [--skip-peers]

Peers are installed into a separate virtual environment (``--peers-venv``, created with
``--system-site-packages`` so it reuses this torch): tangermeme from its wheel; selene-sdk with
``--no-deps`` (it pins torch<=2.3.1), its run-time needs by hand and ``setuptools<81`` (it
imports ``pkg_resources``). Both tools get the same randomly initialised DeepSEA / DanQ weights,
the same VCF and the same reference. Strand averaging is on for both score-variants runs
(selene: ``NonStrandSpecific(mode="mean")``) and off for both ISM runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import dnaseq  # noqa: E402
from dnaseq.sequence.genome import write_fasta  # noqa: E402
from dnaseq.sequence.vcf import write_vcf  # noqa: E402


def save_checkpoint(arch: str, path: str, n_features: int = 919, seq_len: int = 1000, **arch_args) -> str:
    import pytorch_lightning as pl
    torch.manual_seed(0)
    model = dnaseq.SequenceModel(arch, arch_args, seq_len=seq_len, n_features=n_features)
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    torch.save(model.model.state_dict(), path + ".state_dict.pt")
    return path


def make_inputs(tmp: str, n_variants: int):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), size=200_000))
    fa = str(write_fasta(os.path.join(tmp, "g.fa"), {"chr1": seq}))
    dnaseq.Genome(fa).close()  # index once, outside the timings
    positions = np.sort(rng.choice(np.arange(2000, 198_000), size=n_variants, replace=False))
    records = [("chr1", int(p) + 1, f"v{i}", seq[p], "ACGT"[("ACGT".index(seq[p]) + 1) % 4])
               for i, p in enumerate(positions)]
    vcf = write_vcf(os.path.join(tmp, "v.vcf"), records, {"chr1": len(seq)})
    return fa, vcf, seq


PEER_SCRIPT = textwrap.dedent('''
    import json, sys, time, os
    import numpy as np, torch
    sys.path.insert(0, {root!r})
    from dnaseq.models import build_model
    args = json.loads(sys.argv[1])
    out = {{}}
    torch.set_num_threads(args["threads"])
    if args["task"] == "selene":
        from selene_sdk.predict import AnalyzeSequences
        from selene_sdk.sequences import Genome
        from selene_sdk.utils import NonStrandSpecific

        class SeleneModel(torch.nn.Module):  # the same network, (N, 4, L) in, probabilities out
            def __init__(self):
                super().__init__()
                self.net = build_model(args["arch"], 1000, 919)
            def forward(self, x):
                return torch.sigmoid(self.net(x if x.shape[1] == 4 else x.transpose(1, 2)))

        wrapped = args["weights"] + ".selene.pt"  # a Selene checkpoint of the weights, made untimed
        setup = SeleneModel()
        setup.net.load_state_dict(torch.load(args["weights"]))
        torch.save(NonStrandSpecific(setup, mode="mean").state_dict(), wrapped)
        del setup
        t = time.perf_counter()  # from a checkpoint on disk to scores on disk, as dnaseq is timed
        model = NonStrandSpecific(SeleneModel(), mode="mean")
        features = [f"feature_{{i}}" for i in range(919)]
        an = AnalyzeSequences(model, trained_model_path=wrapped, sequence_length=1000,
                              features=features, batch_size=128, use_cuda=args.get("cuda", False),
                              reference_sequence=Genome(args["fasta"]), write_mem_limit=5000)
        an.variant_effect_prediction(args["vcf"], save_data=["diffs", "logits"], output_dir=args["out"],
                                     output_format="tsv")
        out["seconds"] = time.perf_counter() - t
    else:
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis
        model = build_model(args["arch"], 1000, 919).eval()
        model.load_state_dict(torch.load(args["weights"]))
        class Prob(torch.nn.Module):
            def __init__(self, m):
                super().__init__(); self.m = m
            def forward(self, x):
                return torch.sigmoid(self.m(x))
        x = torch.from_numpy(np.load(args["onehot"]))
        saturation_mutagenesis(Prob(model), x[:1], batch_size=args["batch"], device="cpu", verbose=False)
        t = time.perf_counter()
        saturation_mutagenesis(Prob(model), x, batch_size=args["batch"], device="cpu", verbose=False)
        out["seconds"] = (time.perf_counter() - t) / len(x)
    print("RESULT " + json.dumps(out))
''')


def ensure_peers(venv: str) -> str:
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    pip = [py, "-m", "pip", "install", "-q"]
    probe = subprocess.run([py, "-c", "import tangermeme.saturation_mutagenesis, selene_sdk.predict"], capture_output=True)
    if probe.returncode:
        subprocess.run(pip + ["setuptools<81", "wheel", "cython<3.1", "numba", "memelite", "seaborn",
                              "logomaker", "pyBigWig", "plotly", "statsmodels", "pyfaidx", "click",
                              "pytabix", "ruamel.yaml", "figwig", "h5py", "scikit-learn", "matplotlib", "pandas", "pyyaml"], check=True)
        subprocess.run(pip + ["--no-deps", "tangermeme"], check=True)
        subprocess.run(pip + ["--no-deps", "--no-build-isolation", "selene-sdk"], check=True)
    return py


def run_peer(py: str, tmp: str, **args) -> dict:
    script = os.path.join(tmp, "peer.py")
    with open(script, "w") as fh:
        fh.write(PEER_SCRIPT.format(root=ROOT))
    args.setdefault("threads", torch.get_num_threads())
    proc = subprocess.run([py, script, json.dumps(args)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"peer run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def bench_score_variants(ckpt, vcf, fa, tmp, n):
    from dnaseq.apply.variants import score_variants
    t = time.perf_counter()
    score_variants(ckpt, vcf, fa, os.path.join(tmp, "dnaseq_sv"), scores=("diff", "logit_diff"),
                   batch_size=128, progress=False, strand="both")
    return n / (time.perf_counter() - t)


def bench_ism(ckpt, onehot, batch):
    from dnaseq.apply.ism import ism
    model = dnaseq.load_model(ckpt)
    ism(model, onehot[:1], batch_size=batch, strand="forward")  # warm-up
    t = time.perf_counter()
    ism(model, onehot, batch_size=batch, strand="forward")
    return (time.perf_counter() - t) / len(onehot)


def write_million_inputs(tmp: str, n: int) -> None:
    """The small model (8 features, 200 bp), a 2 Mbp random genome and ``n`` SNVs on it, in ``tmp``."""
    from dnaseq.sequence.genome import Genome
    save_checkpoint("conv_recurrent", os.path.join(tmp, "small.ckpt"), n_features=8, seq_len=200,
                    conv_filters=[16], conv_widths=9, pool_sizes=10, rnn_type="none",
                    readout="max", head_hidden=[16])
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), size=2_000_000))
    fa = str(write_fasta(os.path.join(tmp, "big.fa"), {"chr1": seq}))
    Genome(fa).close()
    with open(os.path.join(tmp, "million.vcf"), "w") as fh:
        fh.write("#CHROM\tPOS\tID\tREF\tALT\n")
        for i, p in enumerate(rng.integers(1, 2_000_000, size=n)):
            b = seq[p - 1]
            fh.write(f"chr1\t{p}\tm{i}\t{b}\t{'ACGT'[('ACGT'.index(b) + 1) % 4]}\n")


def make_million_inputs(tmp: str, n: int) -> None:
    """:func:`write_million_inputs` in a child process, so the process that scores starts clean."""
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); from variants import "
                                          f"write_million_inputs; write_million_inputs({tmp!r}, {int(n)})"],
                   check=True, capture_output=True)


def bench_million(tmp, n):
    """Score n generated SNVs with a small model. Inputs are made in one child process and
    scored in a fresh one, whose RSS growth is measured from just before scoring starts."""
    make_million_inputs(tmp, n)
    score = textwrap.dedent(f'''
        import os, resource, sys, time
        sys.path.insert(0, {ROOT!r})
        from dnaseq.apply.variants import score_variants
        import dnaseq
        tmp = {tmp!r}
        def rss_mb():
            with open("/proc/self/status") as fh:
                return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) / 1024
        base = rss_mb()
        t = time.perf_counter()
        s = score_variants(os.path.join(tmp, "small.ckpt"), os.path.join(tmp, "million.vcf"),
                           os.path.join(tmp, "big.fa"), os.path.join(tmp, "million"), fmt="hdf5",
                           scores=("diff",), batch_size=1024, chunk_size=8192, progress=False)
        dt = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("MILLION", s.rows, dt, base, peak, peak - base)
    ''')
    proc = subprocess.run([sys.executable, "-c", score], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("MILLION"):
            _, rows, dt, base, peak, growth = line.split()
            return int(rows), float(dt), float(base), float(peak), float(growth)
    raise RuntimeError(proc.stderr[-3000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=300)
    ap.add_argument("--ism-seqs", type=int, default=1)
    ap.add_argument("--ism-batch", type=int, default=256)
    ap.add_argument("--million", type=int, default=1_000_000)
    ap.add_argument("--peers-venv", default=os.path.join(ROOT, ".bench-venv"))
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--only", default="sv,ism,million")
    args = ap.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        fa, vcf, seq = make_inputs(tmp, args.variants)
        ckpts = {a: save_checkpoint(a, os.path.join(tmp, f"{a}.ckpt")) for a in ("deepsea", "danq")}
        py = None if args.skip_peers else ensure_peers(args.peers_venv)
        print(f"torch threads {torch.get_num_threads()}")
        if "sv" in only:
            for arch in ("deepsea", "danq"):
                ours = bench_score_variants(ckpts[arch], vcf, fa, tmp, args.variants)
                line = f"score-variants {arch:7}, {args.variants} SNVs, both strands: dnaseq {ours:7.1f} variants/s"
                if py:
                    sel = run_peer(py, tmp, task="selene", arch=arch, weights=ckpts[arch] + ".state_dict.pt",
                                   fasta=fa, vcf=vcf, out=os.path.join(tmp, f"selene_out_{arch}"))
                    theirs = args.variants / sel["seconds"]
                    target = 2.5 if arch == "deepsea" else 1.5
                    line += (f" | selene-sdk {theirs:7.1f} variants/s | ratio {ours / theirs:.2f} "
                             f"(target >= {target})")
                print(line, flush=True)
        if "ism" in only:
            rng = np.random.default_rng(3)
            codes = rng.integers(0, 4, size=(args.ism_seqs, 1000)).astype(np.uint8)
            onehot = dnaseq.one_hot(codes).contiguous()
            np.save(os.path.join(tmp, "x.npy"), onehot.numpy())
            for arch in ("deepsea", "danq"):
                ours = bench_ism(ckpts[arch], onehot, args.ism_batch)
                line = f"ISM {arch:7}: dnaseq {ours:6.2f} s/sequence (1000 bp x 3 alternatives)"
                if py:
                    tg = run_peer(py, tmp, task="tangermeme", arch=arch, weights=ckpts[arch] + ".state_dict.pt",
                                  onehot=os.path.join(tmp, "x.npy"), batch=args.ism_batch)
                    line += f" | tangermeme {tg['seconds']:6.2f} s/sequence | ratio {tg['seconds'] / ours:.2f} " \
                        f"(target >= {5 if arch == 'deepsea' else 2})"
                print(line, flush=True)
        if "million" in only and not args.skip_million:
            rows, dt, base, peak, growth = bench_million(tmp, args.million)
            print(f"{rows:,} SNVs, small model (200 bp, 8 features), HDF5 output: {dt:.0f} s "
                  f"({rows / dt:,.0f} variants/s), RSS {base:.0f} MB before -> {peak:.0f} MB peak, "
                  f"growth {growth:.0f} MB (target < 1024 MB)", flush=True)


if __name__ == "__main__":
    main()
