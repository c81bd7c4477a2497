"""What the command line prints (issue 11): quiet ordinary training runs with one line per epoch
when output is not a terminal, one-line errors checked before the long work, each option's
default said once, and the list of architectures. Subprocesses where the exit status or the
console itself is what is tested; ``dnaseq.cli.app.main`` in-process for the rest (each subprocess
costs seconds of imports)."""
import argparse
import json
import re

import pytest
import yaml

from dnaseq.cli.app import main as cli_main
from dnaseq.cli.app import make_parser
from tests.conftest import build_slice_dataset, run_cli

FASTA = "slice/dm3_chr2L_400k.fa.gz"
ALL_N = "chr2L:10,001-10,200"  # an assembly gap of the shipped slice
WITH_SEQUENCE = "chr2L:6,001-6,200"
TINY_MODEL = {"arch": "conv_recurrent",
              "arch_args": {"conv_filters": [8], "conv_widths": 19, "pool_sizes": 13, "rnn_type": "gru",
                            "rnn_hidden": 8, "head_hidden": [16]}}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with the shipped slice, a dataset from it and a regular file named ``afile``
    (as root, chmod cannot make a folder unwritable: a path under a file cannot be created)."""
    d = tmp_path_factory.mktemp("console")
    build_slice_dataset(d)
    (d / "afile").write_text("a file where a folder is expected\n")
    return d


def train_config(path, data, **trainer):
    cfg = {"seed_everything": 7, "model": TINY_MODEL, "data": {"data": str(data), "batch_size": 32},
           "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2, "accelerator": "cpu",
                       **trainer}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def error_lines(text):
    return [line for line in text.splitlines() if "error:" in line]


def assert_one_line_error(text, command, *words):
    lines = error_lines(text)
    assert len(lines) == 1 and lines[0].startswith(f"dnaseq {command}: error: "), text
    assert "Traceback" not in text, text
    for w in words:
        assert w in lines[0], (w, lines[0])


# -- training ----------------------------------------------------------------------------------

def test_ordinary_train_run_is_quiet_with_one_line_per_epoch(work, tmp_path):
    cfg = train_config(tmp_path / "tiny.yaml", work / "tiny.h5")
    proc = run_cli("train", "--config", cfg, "--trainer.default_root_dir", tmp_path / "runs", cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "exists and is not empty" not in out  # the run's own folder already holds config.yaml
    assert "log_every_n_steps" not in out and "logging interval" not in out  # 2 batches < 50
    assert "Tip:" not in out and "litlogger" not in out
    assert "\r" not in out and "it/s" not in out  # no progress bars: stdout and stderr are pipes
    epochs = re.findall(r"^epoch 1/1  train_loss \d\.\d{4}  valid_loss \d\.\d{4}  valid_auroc \d\.\d{4}  "
                        r"\d+\.\d s$", proc.stdout, re.M)
    assert len(epochs) == 1, proc.stdout
    assert (tmp_path / "runs" / "tiny" / "version_0" / "best.ckpt").exists()
    metrics = (tmp_path / "runs" / "tiny" / "version_0" / "metrics.csv").read_text()
    assert "train_loss_step" in metrics.splitlines()[0] and re.search(r"\n0,1,,0\.\d+", metrics), metrics


def test_empty_train_split_stops_before_training(work, tmp_path):
    empty = build_slice_dataset(tmp_path, name="empty.h5", valid_chroms=["chr2L"])  # every window in valid
    cfg = train_config(tmp_path / "c.yaml", empty)
    proc = run_cli("train", "--config", cfg, "--trainer.default_root_dir", tmp_path / "runs", check=False,
                   cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_one_line_error(proc.stderr, "train", str(empty), "'train' split has 0 windows")
    assert "Epoch" not in proc.stdout and "run folder:" not in proc.stdout
    assert not list(tmp_path.rglob("*.ckpt"))


def test_unwritable_default_root_dir_is_one_line(work, tmp_path, capsys):
    from dnaseq.training.train import main
    cfg = train_config(tmp_path / "c.yaml", work / "tiny.h5")
    assert main(["--config", str(cfg), "--trainer.default_root_dir", str(work / "afile" / "runs")]) == 1
    err = capsys.readouterr().err
    assert_one_line_error(err, "train", "afile is a file", "--trainer.default_root_dir")


# -- dnaseq models / train --list-models -------------------------------------------------------

def test_models_lists_every_architecture_with_arguments_and_sizes(capsys):
    from dnaseq.models import MODELS
    from dnaseq.training.train import main
    assert cli_main(["models"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) < 100
    heads = {line.split()[0]: line for line in lines if line and not line.startswith(" ")}
    assert set(MODELS) <= set(heads), heads
    assert "52,843,119 (919 features)" in heads["deepsea"]
    assert "46,929,039 (919 features)" in heads["danq"] and "46,929,039 (919 features)" in heads["conv_recurrent"]
    assert all("(8 features)" in heads[name] for name in MODELS if name != "lm")
    assert "DNA language model: the 4 bases at every position" in heads["lm"]
    assert "rnn_type=lstm" in text and "head_hidden=[925]" in text and "filters=[320, 480, 960]" in text
    assert main(["--list-models"]) == 0  # the same listing from `dnaseq train`
    assert capsys.readouterr().out.strip() == text.strip()


# -- help texts --------------------------------------------------------------------------------

def _option_entries(help_text):
    """Each option's entry of an argparse help: its line and the wrapped lines below it."""
    return re.split(r"\n(?=  -)", help_text)[1:]


def test_every_option_says_its_default_once():
    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, command in sub.choices.items():
        if name == "train":  # Lightning's CLI: checked below
            continue
        for entry in _option_entries(command.format_help()):
            assert entry.lower().count("default") <= 1, f"dnaseq {name}: {entry}"
            checked += 1
    assert checked > 100
    ism = sub.choices["ism"].format_help()
    assert "(default: None)" not in ism and "(default: False)" not in ism
    assert re.search(r"--batch-size BATCH_SIZE\s+\(default: 512\)", ism)


def test_an_option_whose_help_gives_0_a_meaning_accepts_0():
    """``--logo-width 0`` (all of it) and ``--influence-windows 0`` (skip it) were refused by a
    whole-number type that wants at least 1, while their help and the docs used them."""
    from dnaseq.cli.common import positive_int

    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    zero_means = re.compile(r"(?<![\d.])0(?: shows|:| to skip| means| turns)")
    found = 0
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.type is None or not action.option_strings or not zero_means.search(action.help or ""):
                continue
            assert action.type is not positive_int, f"dnaseq {name} {action.option_strings[0]}: {action.help}"
            assert action.type("0") == 0
            found += 1
    assert found >= 2


def test_train_help_states_lightning_defaults_once(capsys):
    from dnaseq.training.train import main
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    entries = _option_entries(text)
    assert len(entries) > 50
    assert not [e for e in entries if "Default:" in e and "default:" in e]
    assert "--list-models" in text
    assert "one line per epoch" in text


# -- outputs that cannot be written: one line, before the work ---------------------------------

def test_build_dataset_under_a_file_is_one_line(work, capsys, monkeypatch):
    monkeypatch.chdir(work)  # this used to be a NotADirectoryError traceback
    assert cli_main(["build-dataset", "-r", FASTA, "--manifest", "slice/manifest.tsv", "--out",
                     "afile/sub/ds.h5"]) == 1
    assert_one_line_error(capsys.readouterr().err, "build-dataset", "afile is a file", "--out")
    assert cli_main(["build-dataset", "-r", FASTA, "--manifest", "slice/manifest.tsv", "--out", "slice"]) == 1
    assert_one_line_error(capsys.readouterr().err, "build-dataset", "is a folder", "slice/dataset.h5")


@pytest.mark.parametrize("command,args", [
    ("attribute", ["--region", WITH_SEQUENCE, "-r", FASTA, "--out", "afile/sub/a.h5"]),
    ("attribute", ["--region", WITH_SEQUENCE, "-r", FASTA, "--out", "a.h5", "--plot-dir", "afile/plots"]),
    ("motifs", ["-d", "tiny.h5", "--out", "afile/motifs"]),
])
def test_unwritable_interpret_outputs_are_one_line(work, tiny_checkpoint, capsys, monkeypatch, command, args):
    monkeypatch.chdir(work)
    assert cli_main([command, "-m", str(tiny_checkpoint), *args, "--accelerator", "cpu", "-q"]) == 1
    assert_one_line_error(capsys.readouterr().err, command, "afile is a file", "choose another --")
    assert not (work / "a.h5").exists()


# -- score-variants: nothing scored ------------------------------------------------------------

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def test_vcf_whose_chromosomes_all_miss_the_reference_exits_3(work, tiny_checkpoint, tmp_path):
    vcf = tmp_path / "other_genome.vcf"
    vcf.write_text(HEADER + "1\t100\t.\tA\tG\t.\t.\t.\n2\t200\t.\tC\tT\t.\t.\t.\n1\t300\t.\tA\tG\t.\t.\t.\n")
    proc = run_cli("score-variants", "-m", tiny_checkpoint, "--vcf", vcf, "-r", work / FASTA, "-o",
                   tmp_path / "s", "-q", check=False)
    assert proc.returncode == 3, proc.stderr
    assert "VCF chromosomes 1, 2 are not in the reference" in proc.stderr and "(which has chr2L)" in proc.stderr
    assert (tmp_path / "s.tsv").exists()  # outputs and the warning are still written
    summary = json.loads((tmp_path / "s.summary.json").read_text())
    assert summary["statuses"] == {"unknown_chromosome": 3} and summary["warnings"]


def test_empty_vcf_exits_3_nothing_scored(work, tiny_checkpoint, tmp_path, caplog, capsys):
    """A job that scored nothing is not a success (exit 3, the convention of every command), even
    when the VCF simply has no variant: the warning names the file, the (empty) outputs are written."""
    vcf = tmp_path / "empty.vcf"
    vcf.write_text(HEADER)
    assert cli_main(["score-variants", "-m", str(tiny_checkpoint), "--vcf", str(vcf), "-r", str(work / FASTA),
                     "-o", str(tmp_path / "e"), "-q", "--accelerator", "cpu"]) == 3
    assert "no data lines" in caplog.text
    assert f"{vcf} holds no variant record: nothing was scored (exit status 3)" in capsys.readouterr().err
    assert (tmp_path / "e.summary.json").exists()


# -- mostly-N regions warn ---------------------------------------------------------------------

def test_attribute_and_design_warn_on_mostly_n_regions(work, tiny_checkpoint, tmp_path, caplog, monkeypatch, capsys):
    monkeypatch.chdir(work)
    run = ["-m", str(tiny_checkpoint), "-r", FASTA, "--accelerator", "cpu", "-q"]
    assert cli_main(["attribute", *run, "--region", ALL_N, "--out", str(tmp_path / "n.h5")]) == 0
    assert "chr2L:10001-10200 is 100% N" in caplog.text and "attributions" in caplog.text
    caplog.clear()
    assert cli_main(["attribute", *run, "--region", WITH_SEQUENCE, "--out", str(tmp_path / "s.h5")]) == 0
    assert "% N" not in caplog.text
    bed = tmp_path / "gap.bed"
    bed.write_text("chr2L\t10000\t10200\n")
    capsys.readouterr()
    assert cli_main(["design", *run, "--regions", str(bed), "--objective", "+BEAF_Kc", "--strategies", "greedy",
                     "--max-edits", "1", "--no-plot", "--out", str(tmp_path / "d")]) == 1  # nothing to design
    assert re.search(r"chr2L:10001-10200 \(window chr2L:9601-10600\) is \d+% N", caplog.text), caplog.text
    assert "the start sequences are all N: there is no base to edit" in capsys.readouterr().err
    assert not list(tmp_path.glob("d.*"))
