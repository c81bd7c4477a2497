"""What every command does the same way: no abbreviated options, one exit-status convention
(0 done, 1 error, 2 usage, 3 nothing produced, 130 interrupted), Ctrl-C in train keeps the run
and says how to continue, and a config's run folder given as a checkpoint names its runs."""
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import torch

from dnaseq.sequence.genome import Genome
from tests.conftest import ROOT, build_slice_dataset, run_cli


@pytest.mark.parametrize("argv,expect", [
    (["score-variants", "-m", "m.ckpt", "--vc", "v.vcf", "-r", "g.fa", "-o", "x"], "--vcf"),  # --vc is not --vcf
    (["predict", "-m", "m.ckpt", "--region", "r.bed", "-r", "g.fa", "-o", "x"], "--region"),
    (["background", "-m", "m.ckpt", "-r", "g.fa", "-o", "b.h5", "--chunk", "5"], "--chunk"),
])
def test_options_are_never_abbreviated(argv, expect):
    proc = run_cli(*argv, check=False)
    assert proc.returncode == 2 and expect in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv,expect", [
    (["build-dataset", "-r", "g.fa", "--peaks", "pk.bed", "-o", "d.h5"], "--peaks: expects NAME=PATH"),
    (["build-dataset", "-r", "g.fa", "-o", "d.h5"], "no peak files given: pass --manifest FILE or --peaks"),
    (["ism", "-m", "m.ckpt", "-r", "g.fa", "--region", "c:1-10", "--region", "c:11-20", "-o", "i.h5"],
     "--region was given twice ('c:1-10' and 'c:11-20'); it takes one value"),
    (["generate", "-m", "m.ckpt", "-o", "g", "--strategies", "greedy,sample:0"], "strategy 'sample:0': use greedy"),
    (["generate", "-m", "m.ckpt", "-o", "g", "-L", "0"], "argument --length/-L: expected at least 1, not 0"),
    (["predict", "-m", "m.ckpt", "-r", "g.fa", "--chroms", "c", "-o", "p", "--batch-size", "0"],
     "argument --batch-size: expected at least 1, not 0"),
    (["score-variants", "-m", "m.ckpt", "-r", "g.fa", "--vcf", "v.vcf", "-o", "s", "--chunk-size", "-3"],
     "argument --chunk-size: expected at least 1, not -3"),
    (["design", "-m", "m.ckpt", "--random", "2", "--objective", "f1", "-o", "d", "--max-edits", "x"],
     "argument --max-edits: expected a whole number, not 'x'"),
    (["score-variants", "-m", "m.ckpt", "-r", "g.fa", "--vcf", "v.vcf", "-o", "s", "--scores", ""],
     "argument --scores: expected one or more comma-separated names"),
    (["score-variants", "-m", "m.ckpt", "-r", "g.fa", "--vcf", "v.vcf", "-o", "s", "--evalue-threshold", "0.05"],
     "--evalue-threshold counts features below an e-value: it needs --background"),
    (["score-variants", "-m", "m.ckpt", "-r", "g.fa", "--vcf", "v.vcf", "-o", "s", "--evalue-threshold", "0"],
     "argument --evalue-threshold: expected a number > 0"),
    (["background", "-m", "m.ckpt", "-r", "g.fa", "--vcf", "v.vcf", "-o", "b.h5", "--chromosomes", "c", "-n", "5"],
     "-n, --chromosomes choose the random SNVs drawn without --vcf"),
    (["background", "-m", "m.ckpt", "-r", "g.fa", "-o", "b.h5", "--ts-tv", "0"], "argument --ts-tv: expected a number > 0"),
    (["generate", "-m", "m.ckpt", "-o", "g", "--chroms", "c"], "--chroms goes with the comparison with the genome"),
    (["generate", "-m", "m.ckpt", "-o", "g", "--seed", "-1"], "argument --seed: expected at least 0, not -1"),
    (["lm-baseline", "-r", "g.fa", "-o", "l"], "--reference needs --train-chromosomes and --test-chromosomes"),
])
def test_a_missing_or_malformed_option_is_a_usage_error(argv, expect, tmp_path):
    (tmp_path / "g.fa").write_text(">c\n" + "ACGT" * 500 + "\n")
    (tmp_path / "m.ckpt").write_bytes(b"")  # inputs that exist: the options are what is wrong
    (tmp_path / "v.vcf").write_text("")
    proc = run_cli(*argv, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and expect in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "m.ckpt", "v.vcf"]


def test_train_takes_no_prefix_of_an_option_and_missing_files_are_errors(tmp_path):
    config = ROOT / "configs" / "quickstart.yaml"
    proc = run_cli("train", "--config", config, "--trainer.max_epoch", "2", check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "did you mean 'trainer.max_epochs'" in proc.stderr
    data = ROOT / "data" / "dm3_insulators.h5"
    for arg, hint in [("--model.arch_args.conv_width", "did you mean 'conv_widths'"),
                      ("--model.arch", "did you mean 'conv_recurrent'")]:  # a misspelt name in the config
        value = "conv_recurent" if arg == "--model.arch" else "9"
        proc = run_cli("train", "--config", config, "--data.data", data, arg, value, check=False, cwd=tmp_path)
        assert proc.returncode == 2 and hint in proc.stderr, proc.stderr
    proc = run_cli("train", "--config", config, "--data.data", data, "--data.batch_size", "0", check=False, cwd=tmp_path)
    assert proc.returncode == 1 and "data.batch_size must be a whole number >= 1, got 0" in proc.stderr
    assert not list(tmp_path.rglob("version_*"))  # a run that never started leaves no run folder
    proc = run_cli("train", "--config", tmp_path / "nope.yaml", check=False, cwd=tmp_path)
    assert proc.returncode == 1 and "config file not found" in proc.stderr  # as every missing input
    proc = run_cli("train", "--config", config, "--data.data", tmp_path / "nope.h5", check=False, cwd=tmp_path)
    assert proc.returncode == 1 and "nope.h5" in proc.stderr
    proc = run_cli("score-variants", "-m", tmp_path / "m.ckpt", "--vcf", tmp_path / "v.vcf", "-r", tmp_path / "g.fa",
                   "-o", tmp_path / "x", check=False)
    assert proc.returncode == 1 and "not found" in proc.stderr


def test_ctrl_c_while_a_command_starts_is_one_line(tmp_path):
    """Ctrl-C a second in, while torch and Lightning are still importing: one line and 130, no traceback."""
    args = ["train", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--trainer.max_epochs", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "dnaseq.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130 and "dnaseq train: interrupted" in out and "Traceback" not in out, out


def test_ctrl_c_in_train_saves_the_run_and_says_how_to_continue(tmp_path):
    data = build_slice_dataset(tmp_path)
    args = ["train", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--data.data", str(data),
            "--data.batch_size", "16", "--trainer.max_epochs", "500", "--trainer.limit_val_batches", "1",
            "--model.arch_args.conv_filters", "[8]", "--model.arch_args.kmer_k", "0", "--model.wide_fit", "none",
            "--early_stopping.patience", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dnaseq.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:  # the second epoch line: a run with a checkpoint to keep
        if line.startswith("epoch 2/"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) == 130, rest
    last = tmp_path / "runs" / "quickstart" / "version_0" / "last.ckpt"
    assert "interrupted at epoch" in rest and f"--ckpt_path {last.relative_to(tmp_path)}" in rest
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] >= 2  # the run as it stopped
    # the printed command continues it (two more epochs here)
    command = shlex.split(rest.split("Continue it with:")[1].strip().splitlines()[0])
    assert command[:2] == ["dnaseq", "train"]
    cont = run_cli(*command[1:], "--trainer.max_epochs", str(state["epoch"] + 2), cwd=tmp_path)
    assert "run folder: runs/quickstart/version_0" in cont.stdout
    after = torch.load(last, map_location="cpu", weights_only=False)
    assert after["global_step"] > state["global_step"]


def test_a_config_folder_given_as_a_checkpoint_names_its_runs(tiny_checkpoint, tmp_path):
    for n in (0, 2, 10):
        (tmp_path / "runs" / "cfg" / f"version_{n}").mkdir(parents=True)
        shutil.copy(tiny_checkpoint, tmp_path / "runs" / "cfg" / f"version_{n}" / "best.ckpt")
    (tmp_path / "runs" / "cfg" / "version_11").mkdir()  # a run killed before its first checkpoint
    (tmp_path / "g.fa").write_text(">chr1\n" + "ACGT" * 300 + "\n")
    proc = run_cli("ism", "-m", tmp_path / "runs" / "cfg", "--reference", tmp_path / "g.fa", "--region",
                   "chr1:1-10", "-o", tmp_path / "x.h5", check=False)
    assert proc.returncode == 1
    assert "pass one run, e.g. " + str(tmp_path / "runs" / "cfg" / "version_10") in proc.stderr


@pytest.mark.parametrize("command,output", [
    (["predict", "--fasta", "{fa}", "-o", "{out}/p"], "p.tsv"),
    (["score-variants", "--vcf", "{vcf}", "-r", "{fa}", "-o", "{out}/s"], "s.tsv"),
    (["ism", "--fasta", "{fa}", "-o", "{out}/i.h5"], "i.h5"),
    (["attribute", "--fasta", "{fa}", "--method", "saliency", "-o", "{out}/a.h5"], "a.h5"),
    (["design", "--fasta", "{fa}", "--objective", "+BEAF_Kc", "--max-edits", "1", "--chains", "1", "--out", "{out}/d"],
     "d.trajectory.tsv"),
])
def test_earlier_outputs_are_kept_unless_overwrite(tiny_checkpoint, tmp_path, command, output):
    fa = tmp_path / "s.fa"
    fa.write_text(">s\n" + "ACGT" * 250 + "\n")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\ns\t500\t.\tA\tG\t.\t.\t.\n")
    args = [a.format(fa=fa, vcf=vcf, out=tmp_path / "out") for a in command]
    run_cli(args[0], "-m", tiny_checkpoint, *args[1:], "-q")
    path = tmp_path / "out" / output
    path.write_bytes(b"an earlier result")
    again = run_cli(args[0], "-m", tiny_checkpoint, *args[1:], "-q", check=False)
    assert again.returncode == 1 and "exists from an earlier run: pass --overwrite" in again.stderr
    assert path.read_bytes() == b"an earlier result"
    if args[0] in ("predict", "score-variants"):  # --resume of a finished run: nothing left to continue
        again = run_cli(args[0], "-m", tiny_checkpoint, *args[1:], "-q", "--resume", check=False)
        assert again.returncode == 1 and "--resume:" in again.stderr and "is already complete" in again.stderr
    run_cli(args[0], "-m", tiny_checkpoint, *args[1:], "-q", "--overwrite")
    assert path.read_bytes() != b"an earlier result"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_a_gpu_asked_for_on_a_machine_without_one_is_one_line(tiny_checkpoint, tmp_path):
    import dnaseq

    reference = ROOT / "data" / "dm3_slice" / "dm3_chr2L_400k.fa.gz"
    (tmp_path / "r.bed").write_text("chr2L\t155000\t156000\tx\n")
    proc = run_cli("predict", "-m", tiny_checkpoint, "-r", reference, "--regions", tmp_path / "r.bed", "-o",
                   tmp_path / "p", "--accelerator", "gpu", check=False)
    assert proc.returncode == 1 and "a GPU was asked for" in proc.stderr and "sees none" in proc.stderr
    assert "Traceback" not in proc.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["r.bed"]
    proc = run_cli("train", "--config", ROOT / "configs" / "quickstart.yaml", "--data.data",
                   ROOT / "data" / "dm3_insulators.h5", "--trainer.accelerator", "gpu", check=False, cwd=tmp_path)
    assert proc.returncode == 1 and "use --trainer.accelerator cpu" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(ValueError, match="map_location='cuda', but torch sees no GPU"):
        dnaseq.load_model(tiny_checkpoint, map_location="cuda")
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                    "chr2L\t155500\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(ValueError, match="a GPU was asked for"):
        dnaseq.score_variants(tiny_checkpoint, tmp_path / "v.vcf", reference, tmp_path / "s", device="cuda")
    assert not list(tmp_path.glob("s.*"))  # nothing that looks like output


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for a pipe and a process substitution")
def test_inputs_given_as_pipes_are_read_whole(tiny_checkpoint, tmp_path):
    """A pipe is empty the second time it is read, and readers look twice (content sniffing, a
    VCF counted, then read): ``--vcf /dev/stdin`` read as 'empty (0 bytes)' and peaks from
    ``<(...)`` built an all-negative feature with exit 0. Pipes are now copied first."""
    fa = tiny_checkpoint.parent / "slice" / "dm3_chr2L_400k.fa.gz"
    with Genome(str(fa)) as genome:
        refs = [genome.fetch_text("chr2L", p - 1, p).upper() for p in (60001, 60101)]
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"chr2L\t60001\tv1\t{refs[0]}\tN\t.\t.\t.\nchr2L\t60101\tv2\t{refs[1]}\tN\t.\t.\t.\n")
    peaks = tiny_checkpoint.parent / "slice" / "BEAF_Kc_Bushey_2009.bed"
    dnaseq = f"{shlex.quote(sys.executable)} -m dnaseq.cli"
    script = (f"cat {vcf} | {dnaseq} score-variants -m {tiny_checkpoint} -r {fa} --vcf /dev/stdin -o {tmp_path}/s -q"
              f" && {dnaseq} build-dataset -r {fa} --peaks 'BEAF:TF='<(cat {peaks}) "
              f"--regions <(printf 'chr2L\\t0\\t400000\\n') -o {tmp_path}/d.h5 -q --max-n-fraction 0.5")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    assert proc.returncode == 0, proc.stderr
    assert "2 output rows" in proc.stdout and "empty" not in proc.stderr
    import dnaseq as api
    positives = api.read_info(str(tmp_path / "d.h5")).attrs["summary"]["positives"]["train"]
    assert positives[0] > 0 and "outside --regions" not in proc.stdout
    assert not list((tmp_path / "tmp").iterdir())  # the copies are removed


def test_spooled_pipes_are_named_in_args_and_argv(tmp_path, monkeypatch):
    from argparse import Namespace

    from dnaseq.cli.common import spool_pipes

    def pipe(text: str) -> str:
        r, w = os.pipe()
        os.write(w, text.encode())
        os.close(w)
        return f"/dev/fd/{r}"
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    vcf, peaks, cls, fa = pipe("vcf text"), pipe("peaks text"), pipe("class text"), pipe(">s\nACGT\n")
    plain = tmp_path / "plain.bed"
    plain.write_text("x")
    args = Namespace(vcf=vcf, peaks=[f"A:TF={peaks}", f"B={plain}"], classes=[cls], reference=fa, out="o")
    monkeypatch.setattr(sys, "argv", ["dnaseq", "x", "--vcf", vcf, "--peaks", f"A:TF={peaks}", f"--classes={cls}",
                                      f"-r{fa}", "-o", "o"])
    folder = spool_pipes(args)
    assert os.path.dirname(folder) == str(tmp_path)
    assert open(args.vcf).read() == "vcf text" and open(args.reference).read() == ">s\nACGT\n"
    assert args.peaks[0].startswith("A:TF=" + folder) and open(args.peaks[0][5:]).read() == "peaks text"
    assert args.peaks[1] == f"B={plain}" and open(args.classes[0]).read() == "class text"
    assert sys.argv == ["dnaseq", "x", "--vcf", args.vcf, "--peaks", args.peaks[0], f"--classes={args.classes[0]}",
                        f"-r{args.reference}", "-o", "o"]
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(ValueError, match="is a pipe: its relative peak paths"):
        spool_pipes(Namespace(manifest=f"/dev/fd/{r}"), rewrite_argv=False)
    assert spool_pipes(Namespace(vcf=str(plain)), rewrite_argv=False) is None
