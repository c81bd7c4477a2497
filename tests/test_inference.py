"""The one inference path: run settings from the checkpoint, caller's model left as found,
ordered output, and the same rows on 2 DDP processes (gloo, CPU) as on 1."""
import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

import dnaseq
import dnaseq.settings
from dnaseq.inference import engine
from dnaseq.inference.predictor import predict_codes, settings
from dnaseq.models.strand import StrandWrapper
from dnaseq.settings import resolve_strand
from tests.conftest import run_cli

ARCH = {"conv_filters": [8], "conv_widths": 11, "pool_sizes": 10, "rnn_type": "gru", "rnn_hidden": 4,
        "head_hidden": [8]}


def save(model, path):
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(model)
    trainer.save_checkpoint(str(path))
    return path


@pytest.mark.parametrize("fill,rc", [(0.0, False), (0.25, True)])
def test_fill_and_strand_come_from_the_checkpoint(tmp_path, fill, rc):
    torch.manual_seed(0)
    model = dnaseq.SequenceModel("conv_recurrent", ARCH, seq_len=200, n_features=3, fill=fill,
                                  strand="both" if rc else "forward")
    loaded = dnaseq.load_model(str(save(model, tmp_path / "m.ckpt")))
    s = settings(loaded)
    assert s.fill == fill and s.strand == ("both" if rc else "forward")
    meta = torch.load(str(tmp_path / "m.ckpt"), weights_only=False)["dnaseq"]
    assert meta["fill"] == fill and meta["strand"] == s.strand
    codes = np.random.default_rng(0).integers(0, 5, (5, 200)).astype(np.uint8)  # with N
    got = predict_codes(loaded, codes)
    with torch.no_grad():
        expect = StrandWrapper(loaded.model.eval(), s.strand)(dnaseq.one_hot(codes, fill=fill)).numpy()
        other = StrandWrapper(loaded.model, s.strand)(dnaseq.one_hot(codes, fill=0.25 - fill + 0.0)).numpy()
    np.testing.assert_allclose(got, expect, atol=1e-6)
    assert not np.allclose(got, other)  # the fill actually matters for windows with N
    fwd = predict_codes(loaded, codes, strand="forward")
    with torch.no_grad():
        np.testing.assert_allclose(fwd, torch.sigmoid(loaded.model(dnaseq.one_hot(codes, fill=fill))).numpy(),
                                   atol=1e-6)


def test_train_links_data_fill_to_the_model(tmp_path, shipped_dataset):
    from dnaseq.training.train import build_cli
    cli = build_cli(["--data.data", str(shipped_dataset), "--data.fill", "0", "--model.arch", "conv_recurrent",
                     "--model.arch_args", json.dumps(ARCH), "--trainer.logger", "false",
                     "--trainer.default_root_dir", str(tmp_path)])
    assert cli.model.fill == 0.0


def test_strand_modes():
    assert resolve_strand(None, True) == "both" and resolve_strand("as-trained", False) == "forward"
    assert resolve_strand("forward", True) == "forward" and resolve_strand("both", False) == "both"
    with pytest.raises(ValueError, match="unknown strand"):
        resolve_strand("reverse", False)


def test_callers_model_is_left_as_found():
    model = dnaseq.SequenceModel("conv_recurrent", ARCH, seq_len=200, n_features=3)
    model.train()
    model.model.conv[0].eval()  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    predict_codes(model, np.zeros((3, 200), np.uint8))
    assert [m.training for m in model.modules()] == before
    assert next(model.parameters()).device.type == "cpu"


class _Sink:
    def __init__(self):
        self.got = []

    def write(self, meta, out):
        self.got.append((meta, out["x"].copy()))


def test_engine_keeps_unit_order_and_builds_lazily():
    built = []

    def produce():
        for i in range(7):
            def unit(i=i):
                built.append(i)
                return {"x": torch.full((2,), float(i)), "meta": f"u{i}"}
            yield unit

    info = engine.run(torch.nn.Identity(), produce, lambda net, u: {"x": u["x"] * 2}, _Sink,
                      engine.RunOptions(accelerator="cpu", progress=False))
    assert info.is_main and [m for m, _ in info.sink.got] == [f"u{i}" for i in range(7)]
    assert [float(x[0]) for _, x in info.sink.got] == [2.0 * i for i in range(7)] and built == list(range(7))


def test_progress_off_a_terminal_is_lines_with_an_eta(capsys, monkeypatch):
    """Without a terminal a long run prints a line per tenth of its units with an ETA (no carriage
    returns), a run under 10 s prints nothing, and stage lines appear only when progress is wanted."""
    clock = iter(range(0, 1000, 3))  # 3 s per unit
    monkeypatch.setattr(dnaseq.settings.time, "monotonic", lambda: next(clock))
    info = engine.run(torch.nn.Identity(), lambda: ({"x": torch.zeros(1), "meta": i} for i in range(20)),
                      lambda net, u: u, _Sink,
                      engine.RunOptions(accelerator="cpu", progress=False, progress_lines=True, label="design"),
                      total=20)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(info.sink.got) == 20 and "\r" not in "".join(lines)
    assert lines[0].startswith("design: 4 of 20 units (20%) in 12 s, about 48 s left"), lines
    assert lines[-1].startswith("design: 20 of 20 units (100%)") and len(lines) == 9
    monkeypatch.setattr(dnaseq.settings.time, "monotonic", lambda: 0.0)
    engine.run(torch.nn.Identity(), lambda: ({"x": torch.zeros(1), "meta": i} for i in range(5)), lambda net, u: u,
               _Sink, engine.RunOptions(accelerator="cpu", progress=False, progress_lines=True), total=5)
    engine.RunOptions(progress=False).say("not shown: the Python API's default")
    engine.RunOptions(progress=False, progress_lines=True, label="motifs").say("TOMTOM")
    assert capsys.readouterr().err == "motifs: TOMTOM\n"


def test_empty_input_still_makes_the_sink():
    info = engine.run(torch.nn.Identity(), lambda: iter(()), lambda net, u: u, _Sink,
                      engine.RunOptions(accelerator="cpu", progress=False))
    assert info.is_main and info.sink.got == []


def test_evaluate_on_two_ddp_processes_equals_one(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint.parent / "tiny.h5"
    one = tmp_path / "one"
    two = tmp_path / "two"
    run_cli("evaluate", "-m", tiny_checkpoint, "-d", data, "-o", one, "--save-predictions", "-q",
            "--accelerator", "cpu", "--batch-size", "16")
    proc = run_cli("evaluate", "-m", tiny_checkpoint, "-d", data, "-o", two, "--save-predictions", "-q",
                   "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--batch-size", "16")
    assert proc.stdout.count("ROC AUC") == 1  # only rank 0 reports
    import h5py
    with h5py.File(one / "predictions.h5") as a, h5py.File(two / "predictions.h5") as b:
        np.testing.assert_allclose(a["probabilities"][:], b["probabilities"][:], atol=1e-6)
        assert np.array_equal(a["labels"][:], b["labels"][:])
    assert (one / "metrics_per_feature.tsv").read_text() == (two / "metrics_per_feature.tsv").read_text()


@pytest.mark.parametrize("arch,kwargs", [
    ("conv_recurrent", dict(conv_filters=[8, 8], conv_widths=[9, 5], pool_sizes=[4, 2], rnn_type="gru",
                            rnn_hidden=4, readout="flatten", head_hidden=[8])),
    ("conv_recurrent", dict(conv_filters=[8, 8], conv_widths=[9, 5], pool_sizes=[4, 2], rnn_type="none",
                            readout="flatten", head_hidden=[8])),
])
@pytest.mark.parametrize("strand", ["forward", "both"])
def test_pair_step_equals_full_passes(arch, kwargs, strand):
    """Substitutions by local recomputation and indels by full passes give full-pass probabilities."""
    from dnaseq.inference.pairs import pair_step
    torch.manual_seed(0)
    net = dnaseq.build_model(arch, 200, 5, **kwargs).eval()
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 4, (6, 200)).astype(np.uint8)
    ref[0, 90:95] = 4
    alt_full = ref.copy()
    sub_rows, starts, widths, subs = [0, 1, 2, 4], [100, 100, 99, 0], [1, 1, 3, 1], []
    for r, s, k in zip(sub_rows, starts, widths):
        a = (ref[r, s:s + k] + 1) % 4
        alt_full[r, s:s + k] = a
        subs.append(np.pad(a, (0, 3 - k)))
    full_rows = [3, 5]
    for r in full_rows:  # e.g. an insertion re-centred: a shifted window
        alt_full[r] = np.roll(ref[r], 3)
    unit = {"ref": torch.from_numpy(ref), "sub_rows": torch.tensor(sub_rows), "sub_start": torch.tensor(starts),
            "sub_len": torch.tensor(widths), "sub_alt": torch.from_numpy(np.stack(subs).astype(np.uint8)),
            "full_rows": torch.tensor(full_rows), "full_alt": torch.from_numpy(alt_full[full_rows])}
    with torch.no_grad():
        out = pair_step(0.25, strand, 3)(net, unit)
        wrapped = StrandWrapper(net, strand)
        np.testing.assert_allclose(out["ref"].numpy(), wrapped(dnaseq.one_hot(ref)).numpy(), atol=1e-6)
        np.testing.assert_allclose(out["alt"].numpy(), wrapped(dnaseq.one_hot(alt_full)).numpy(), atol=1e-6)


def _scores(path):
    import pandas as pd
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan"], dtype={"chrom": str, "id": str})


SAUREUS = "tests/data/saureus"


def test_score_variants_local_equals_full_passes(tiny_checkpoint, tmp_path):
    """SNVs/MNVs by local recomputation and indels by full passes give the full-pass numbers
    (the real S. aureus VCF has SNVs and indels), on both strands."""
    from pathlib import Path

    from dnaseq.apply.variants import score_variants
    d = Path(__file__).resolve().parents[1] / SAUREUS
    vcf, fa = str(d / "Saureus_RN4220_vs_NCTC8325_C-Sibelia_variant.vcf.gz"), str(d / "Saureus_NCTC8325_NC_007795.fa.gz")
    kw = dict(scores=("ref", "alt"), progress=False, strand="both", chunk_size=32)
    score_variants(str(tiny_checkpoint), vcf, fa, str(tmp_path / "local"), **kw)
    score_variants(str(tiny_checkpoint), vcf, fa, str(tmp_path / "full"), local=False, **kw)
    a, b = _scores(tmp_path / "local.tsv"), _scores(tmp_path / "full.tsv")
    assert (a.status == "scored").sum() > 50 and a.indel.astype(str).str.contains("True").any()
    num = [c for c in a.columns if ":" in c]
    np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), atol=1e-6)


def test_score_variants_on_two_ddp_processes_equals_one(tiny_checkpoint, tmp_path):
    from pathlib import Path
    d = Path(__file__).resolve().parents[1] / SAUREUS
    args = ["score-variants", "-m", tiny_checkpoint, "--vcf", d / "Saureus_RN4220_vs_NCTC8325_C-Sibelia_variant.vcf.gz",
            "-r", d / "Saureus_NCTC8325_NC_007795.fa.gz", "--chunk-size", "16", "-q", "--accelerator", "cpu"]
    run_cli(*args, "-o", tmp_path / "one")
    proc = run_cli(*args, "-o", tmp_path / "two", "--devices", "2", "--strategy", "ddp")
    assert proc.stdout.count("output rows") == 1
    a, b = _scores(tmp_path / "one.tsv"), _scores(tmp_path / "two.tsv")
    assert len(a) == 109 and a.iloc[:, :12].equals(b.iloc[:, :12])  # same rows, same order, same statuses
    np.testing.assert_allclose(a.iloc[:, 12:].to_numpy(float), b.iloc[:, 12:].to_numpy(float), atol=1e-6)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_score_variants_resume_after_sigkill(tiny_checkpoint, tmp_path, sig):
    """Kill a run mid-way with SIGKILL (or stop it with Ctrl-C), resume it: no duplicated and no
    missing rows."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from dnaseq.sequence.genome import write_fasta
    from dnaseq.sequence.vcf import write_vcf
    N = 20_000  # so that the run is far from its end when the signal comes
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), 50_000))
    fa = write_fasta(tmp_path / "g.fa", {"chr1": seq})
    pos = np.sort(rng.integers(1, 50_000, N))
    vcf = write_vcf(str(tmp_path / "v.vcf"), [("chr1", int(p), f"v{i}", seq[p - 1], "ACGT"[("ACGT".index(seq[p - 1]) + 1) % 4])
                                              for i, p in enumerate(pos)])
    args = ["score-variants", "-m", tiny_checkpoint, "--vcf", vcf, "-r", fa, "--chunk-size", "50", "-q",
            "--scores", "diff", "--accelerator", "cpu"]
    cmd = [sys.executable, "-m", "dnaseq.cli", *map(str, args), "-o", str(tmp_path / "cut")]
    # a shell's background job (`cmd &`) starts with SIGINT ignored and children inherit that, so
    # Ctrl-C would never reach the run: give it the default disposition, as a terminal's command has
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = tmp_path / "cut.tsv.partial"
    deadline = time.time() + 300
    while time.time() < deadline:
        if partial.exists() and partial.read_bytes().count(b"\n") > 300:
            break
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    err = proc.communicate()[1]
    if sig == "SIGINT":
        assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "cut.tsv").exists(), "the run ended before it could be killed: make the VCF bigger"
    done = partial.read_bytes().count(b"\n") - 1
    assert 0 < done < N
    run_cli(*args, "-o", tmp_path / "cut", "--resume")
    run_cli(*args, "-o", tmp_path / "whole")
    a, b = _scores(tmp_path / "cut.tsv"), _scores(tmp_path / "whole.tsv")
    assert a.id.tolist() == b.id.tolist() == [f"v{i}" for i in range(N)]
    np.testing.assert_allclose(a.iloc[:, 12:].to_numpy(float), b.iloc[:, 12:].to_numpy(float), atol=1e-7)
    assert not partial.exists() and not os.path.exists(str(partial) + ".json")
    summary = json.loads((tmp_path / "cut.summary.json").read_text())
    assert summary["rows"] == N and summary["statuses"] == {"scored": N}


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    """`kill PID` (SIGTERM, also what `timeout` sends) stopped nothing: Lightning's handler only
    sets a flag that its predict loop never reads. Now the run stops after the unit in flight and
    the caller gets KeyboardInterrupt, as with Ctrl-C (run in a process of its own)."""
    import subprocess
    import sys
    code = """
import os, signal, sys, torch
from dnaseq.inference import engine
done = []
class Sink:
    def write(self, meta, out):
        done.append(meta)
def produce():
    for i in range(50):
        if i == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        yield {"x": torch.zeros(1), "meta": i}
try:
    engine.run(torch.nn.Identity(), produce, lambda net, u: u, Sink,
               engine.RunOptions(accelerator="cpu", progress=False))
except KeyboardInterrupt:
    print("interrupted after", len(done), "units")
    sys.exit(0)
print("ran to the end:", len(done))
sys.exit(1)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr[-2000:]
    n = int(p.stdout.split("interrupted after ")[1].split()[0])
    assert n < 10, p.stdout
