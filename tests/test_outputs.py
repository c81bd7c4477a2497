"""Output files users read (issue 11, "Outputs"): HDF5 booleans, coordinates in predictions.h5,
labelled comparison scatters, zoomed ISM logos with round ticks, and outputs that cannot be
written refused in one line before any prediction."""
import json
import os
import re

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dnaseq.apply.evaluate import evaluate, evaluate_predictions
from dnaseq.apply.variant_writers import read_scores_h5
from dnaseq.apply.variants import score_variants
from dnaseq.cli import app as cli
from dnaseq.sequence.genome import write_fasta
from dnaseq.sequence.vcf import write_vcf
from tests.conftest import DATA, run_cli

SLICE_FA = "slice/dm3_chr2L_400k.fa.gz"  # under the tiny_checkpoint fixture's folder


def _one_error_line(err: str, *names: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and all(n in lines[0] for n in names), err


def test_score_variants_hdf5_stores_real_booleans(tiny_checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), size=3000))
    fa = write_fasta(tmp_path / "g.fa", {"chrT": seq})
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    records = [("chrT", 1500, "snv", seq[1499], other[seq[1499]]),
               ("chrT", 1600, "ins", seq[1599], seq[1599] + "GA"),
               ("chrT", 3, "edge", seq[2], other[seq[2]]),  # window runs off the start: padded
               ("chrT", 2000, "mismatch", other[seq[1999]], other[other[seq[1999]]]),  # VCF REF is wrong
               ("chrZ", 10, "nochrom", "A", "C")]  # REF never compared with the genome
    vcf = write_vcf(str(tmp_path / "v.vcf"), records)
    score_variants(str(tiny_checkpoint), vcf, str(fa), str(tmp_path / "sv"), fmt="hdf5", progress=False)
    with h5py.File(tmp_path / "sv.h5") as h5:
        v = h5["variants"]
        raw = {c: v[c][:] for c in ("ref_match", "indel", "padded", "ref_checked")}
        ids = v["id"].asstr()[:].tolist()
    for c, values in raw.items():
        assert values.dtype == np.bool_, (c, values.dtype)
    row = {vid: i for i, vid in enumerate(ids)}
    assert raw["indel"].tolist() == [vid == "ins" for vid in ids]
    assert raw["padded"].tolist() == [vid == "edge" for vid in ids]
    assert not raw["ref_match"][row["mismatch"]] and raw["ref_match"][row["snv"]]
    assert not raw["ref_checked"][row["nochrom"]] and raw["ref_checked"][row["mismatch"]]
    # the project's reader: numpy bools, and <NA> where the REF was not compared
    table, _, _ = read_scores_h5(str(tmp_path / "sv.h5"))
    assert table.indel.dtype == bool and table.padded.dtype == bool
    assert table.indel.sum() == 1 and table.padded.sum() == 1
    t = table.set_index("id")
    assert str(table.ref_match.dtype) == "boolean"
    assert t.loc["snv", "ref_match"] == True and t.loc["mismatch", "ref_match"] == False  # noqa: E712
    assert pd.isna(t.loc["nochrom", "ref_match"])
    # the TSV keeps its text form
    score_variants(str(tiny_checkpoint), vcf, str(fa), str(tmp_path / "tsv"), progress=False)
    tsv = pd.read_csv(tmp_path / "tsv.tsv", sep="\t", keep_default_na=False, dtype=str).set_index("id")
    assert tsv.loc["ins", "indel"] == "True" and tsv.loc["nochrom", "ref_match"] == ""


def test_predictions_h5_holds_the_datasets_coordinates(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint.parent / "tiny.h5"
    evaluate(str(tiny_checkpoint), str(data), split="test", out_dir=str(tmp_path / "ev"), save_predictions=True,
             plots=False, progress=False)
    with h5py.File(data) as ds:
        chroms = json.loads(ds.attrs["chroms"])
        want_chrom = [chroms[i] for i in ds["test/chrom"][:]]
        want_start = ds["test/start"][:]
        window, bin_size = int(ds.attrs["window_size"]), int(ds.attrs["bin_size"])
    with h5py.File(tmp_path / "ev" / "predictions.h5") as h5:
        n = h5["probabilities"].shape[0]
        assert n == len(want_start) > 0
        assert h5["chrom"].asstr()[:].tolist() == want_chrom
        assert np.array_equal(h5["window_start"][:], want_start)
        assert np.array_equal(h5["window_end"][:], want_start + window)
        flank = (window - bin_size) // 2
        assert np.array_equal(h5["bin_start"][:], want_start + flank)
        assert np.array_equal(h5["bin_end"][:] - h5["bin_start"][:], np.full(n, bin_size))
        assert "0-based" in h5.attrs["coordinates"]
    # a DeepSEA .mat has no coordinates: an attribute says so, and none are made up
    import scipy.io
    rng = np.random.default_rng(1)
    x = np.zeros((6, 4, 1000), np.uint8)
    x[np.arange(6)[:, None], rng.integers(0, 4, (6, 1000)), np.arange(1000)[None, :]] = 1
    y = rng.integers(0, 2, (6, 8)).astype(np.uint8)
    scipy.io.savemat(tmp_path / "test.mat", {"testxdata": x, "testdata": y})
    evaluate(str(tiny_checkpoint), str(tmp_path / "test.mat"), split="test", out_dir=str(tmp_path / "evm"),
             save_predictions=True, plots=False, progress=False)
    with h5py.File(tmp_path / "evm" / "predictions.h5") as h5:
        assert set(h5.keys()) == {"labels", "probabilities"}
        assert h5.attrs["coordinates"].startswith("none") and "test.mat" in h5.attrs["coordinates"]


def _evaluation(n: int, seed: int, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (200, n)).astype(np.uint8)
    probs = np.clip(labels * rng.uniform(0.1, 0.5 + shift, n) + rng.uniform(0, 0.6, (200, n)), 0, 1)
    names = [f"feat_{i:02d}" for i in range(n)]
    return evaluate_predictions(labels, probs.astype(np.float32), names, ["TF"] * n)


def test_compare_scatter_labels_features(tmp_path, capsys):
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from dnaseq.apply.compare import compare_evaluations
    from dnaseq.plots.accuracy import comparison_labels, draw_comparison

    # few features: every one labelled, no two labels overlapping
    few = compare_evaluations(_evaluation(8, 0), _evaluation(8, 1, 0.2)).merged
    fig = draw_comparison(few, "A", "B")
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes[:2]:
        texts = [t for t in ax.texts]
        assert sorted(t.get_text() for t in texts) == sorted(few.feature)
        assert all(t.get_fontsize() <= 7 for t in texts)
        boxes = [Text.get_window_extent(t, renderer) for t in texts]
        assert not any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i))
    plt.close(fig)
    # many features: the 10 most different ones
    many = compare_evaluations(_evaluation(40, 2), _evaluation(40, 3, 0.3)).merged
    fig = draw_comparison(many, "A", "B")
    diff = (many.roc_auc_a - many.roc_auc_b).abs()
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(many.feature[diff.nlargest(10).index])
    assert len(comparison_labels(many, "pr_auc")) == 10
    plt.close(fig)
    # through the CLI: the PNG is written
    _evaluation(8, 0).write(str(tmp_path / "A"))
    _evaluation(8, 1, 0.2).write(str(tmp_path / "B"))
    assert cli.main(["compare", str(tmp_path / "A"), str(tmp_path / "B"), "--out", str(tmp_path / "cmp")]) == 0
    with Image.open(tmp_path / "cmp" / "comparison.png") as im:
        assert im.format == "PNG" and im.size[0] > 800


def _tick_values(ax):
    return [int(t.get_text().replace(",", "")) for t in ax.get_xticklabels() if t.get_text()]


def test_long_ism_logo_zooms_on_the_strongest_stretch_with_round_ticks(tiny_checkpoint, tmp_path):
    import matplotlib.pyplot as plt

    from dnaseq.apply.ism import importance, ism_effects
    from dnaseq.apply.ism_run import logo_span, run_ism
    from dnaseq.plots.positions import draw_ism_heatmap, strongest_span
    from dnaseq.plots.logos import draw_contribution_logo

    # planted: the strongest 100 bp stretch is found, N positions never win
    strength = np.random.default_rng(0).uniform(0, 1, 1000)
    strength[613:680] += 5
    assert strongest_span(strength, 100)[0] <= 613 and strongest_span(strength, 100)[1] >= 680
    effects = np.tile(strength, (4, 1))
    ref = np.zeros(1000, np.uint8)
    ref[600:700] = 4  # N: no letter to draw
    lo, hi = logo_span(effects, ref)
    assert hi - lo == 100 and (hi <= 600 or lo >= 700)
    assert strongest_span(strength, None) == (0, 1000) and strongest_span(strength[:50], 100) == (0, 50)

    r = run_ism(str(tiny_checkpoint), str(tmp_path / "ism.h5"), reference=str(tiny_checkpoint.parent / SLICE_FA),
                region="chr2L:6,001-7,000", plot_dir=str(tmp_path / "plots"), progress=False)
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2
    e = ism_effects(r.predictions, r.reference)[0, ..., 0].numpy()  # (4, 1000)
    codes = r.codes[0]
    lo, hi = logo_span(e, codes[r.positions])
    total = np.where(codes[r.positions] < 4, np.abs(e).sum(axis=0), 0)
    best = max(total[i:i + 100].sum() for i in range(0, 901))
    assert hi - lo == 100 and np.isclose(total[lo:hi].sum(), best, rtol=1e-6)
    start = r.window_starts[0]
    heights = importance(e, codes, r.positions)
    fig = draw_contribution_logo(heights, codes, list(r.positions), genome_start=start, chrom="chr2L", span=(lo, hi))
    ax = fig.axes[0]
    ticks = _tick_values(ax)
    first, last = start + r.positions[lo] + 1, start + r.positions[hi - 1] + 1
    assert len(ticks) >= 4 and all(t % 10 == 0 for t in ticks) and first <= min(ticks) and max(ticks) <= last
    assert ax.get_xlim()[1] - ax.get_xlim()[0] < 110  # zoomed: 100 columns shown
    assert f"{first:,}-{last:,}" in ax.get_title()
    plt.close(fig)
    full = draw_contribution_logo(heights, codes, list(r.positions), genome_start=start, chrom="chr2L")
    assert len(full.axes) == 10 and full.get_size_inches()[0] <= 14  # ten rows of 100 bp, not a 24-inch strip
    assert _tick_values(full.axes[0]) == list(range(6010, 6101, 10))  # 6,010 ... 6,100, not 6,001, 6,012 ...
    assert _tick_values(full.axes[9]) == list(range(6910, 7001, 10))
    plt.close(full)
    heat = draw_ism_heatmap(e, codes, list(r.positions), "BEAF_Kc", genome_start=start, chrom="chr2L",
                            mark=(lo, hi))
    assert len(heat.axes) == 5  # four rows of 250 columns (and the colour bar), not one 24-inch strip
    assert all(t % 50 == 0 for ax in heat.axes[:4] for t in _tick_values(ax)) and _tick_values(heat.axes[3])
    assert heat.get_size_inches()[0] <= 13
    plt.close(heat)


def test_unwritable_outputs_fail_in_one_line_before_any_prediction(tiny_checkpoint, tmp_path, capsys,
                                                                   monkeypatch):
    (tmp_path / "afile").write_text("a regular file sits in the path\n")
    fa = str(tiny_checkpoint.parent / SLICE_FA)
    ism = ["ism", "-m", str(tiny_checkpoint), "-r", fa, "--region", "chr2L:6,001-7,000"]
    # in a subprocess, as a user runs it: exit 1, one line naming the path, no traceback, nothing written
    p = run_cli(*ism, "-o", tmp_path / "ok.h5", "--plot-dir", tmp_path / "afile" / "sub", cwd=tmp_path, check=False)
    assert p.returncode == 1
    _one_error_line(p.stderr, "afile/sub")
    assert not (tmp_path / "ok.h5").exists()

    # the same checks in-process, with prediction and evaluation made to fail if they are reached
    import importlib
    compare_module, ism_module = importlib.import_module("dnaseq.apply.compare"), importlib.import_module("dnaseq.apply.ism_run")

    def reached(*args, **kwargs):
        raise AssertionError("prediction ran before the output check")
    monkeypatch.setattr(ism_module, "ism_with_reference", reached)
    monkeypatch.setattr(compare_module, "evaluate", reached)
    monkeypatch.setattr(compare_module, "load_evaluation", reached)
    monkeypatch.chdir(tmp_path)
    cases = [(ism + ["-o", "afile/sub/ism.h5"], "afile"),
             (ism + ["-o", "ok.h5", "--plot-dir", "afile/plots"], "afile/plots"),
             (ism + ["-o", str(tmp_path)], str(tmp_path)),  # a folder, not a file
             (["compare", "A", "B", "--out", "afile/sub"], "afile/sub"),
             (["compare", str(tiny_checkpoint), str(tiny_checkpoint), "--data", str(DATA / "dm3_insulators.h5"),
               "--out", "afile/c"], "afile/c")]
    for argv, name in cases:
        capsys.readouterr()
        assert cli.main(argv) == 1, argv
        captured = capsys.readouterr()
        _one_error_line(captured.err, name)
        assert re.search(r"output folder|is a folder", captured.err)
    assert not (tmp_path / "ok.h5").exists()


def test_a_folder_where_an_output_file_goes_is_refused_before_any_work(tiny_checkpoint, tmp_path, capsys,
                                                                      monkeypatch):
    """Was: a traceback (IsADirectoryError from the final rename) after every window was predicted,
    with PREFIX.tsv.partial left beside the folder."""
    from dnaseq.apply import predict as predict_module
    from dnaseq.apply import variants as variants_module

    def reached(*args, **kwargs):
        raise AssertionError("the model ran before the output check")
    monkeypatch.setattr(predict_module.engine, "run", reached)
    monkeypatch.setattr(variants_module, "as_model", reached)
    fa = str(tiny_checkpoint.parent / SLICE_FA)
    vcf = write_vcf(tmp_path / "v.vcf", [("chr2L", 5000, ".", "A", "G")])
    for folder in ("p.tsv", "q.BEAF_Kc.bw", "s.summary.json"):
        (tmp_path / folder).mkdir()
    predict = ["predict", "-m", str(tiny_checkpoint), "-r", fa, "--chroms", "chr2L"]
    for argv, name in [(predict + ["-o", str(tmp_path / "p")], "p.tsv"),
                       (predict + ["-o", str(tmp_path / "p"), "--overwrite"], "p.tsv"),  # no option removes a folder
                       (predict + ["-o", str(tmp_path / "q"), "--bigwig", "BEAF_Kc"], "q.BEAF_Kc.bw"),
                       (["score-variants", "-m", str(tiny_checkpoint), "-r", fa, "--vcf", str(vcf),
                         "-o", str(tmp_path / "s")], "s.summary.json")]:
        capsys.readouterr()
        assert cli.main(argv) == 1, argv
        _one_error_line(capsys.readouterr().err, f"{name} is a folder, where an output file of this name goes")
    with pytest.raises(ValueError, match="q.BEAF_Kc.bw is a folder, where an output file"):
        predict_module.predict(str(tiny_checkpoint), reference=fa, chroms=["chr2L"], out=str(tmp_path / "q"),
                               bigwig=["BEAF_Kc"])
    with pytest.raises(ValueError, match="s.summary.json is a folder"):
        score_variants(str(tiny_checkpoint), str(vcf), fa, str(tmp_path / "s"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tsv", "q.BEAF_Kc.bw", "s.summary.json", "v.vcf"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", [["predict", "--fasta", "{fa}", "-o", "/proc/preds"],
                                     ["score-variants", "--vcf", "{vcf}", "-r", "{fa}", "-o", "/proc/scores"],
                                     ["ism", "--fasta", "{fa}", "-o", "/proc/ism.h5"]])
def test_a_folder_that_takes_no_files_is_named_with_the_reason(tiny_checkpoint, tmp_path, command):
    """Was: "[Errno 2] No such file or directory: '/proc/preds.tsv.partial'" after the model loaded
    (as root every folder looks writable to os.access): now a file is tried there first."""
    fa = tmp_path / "s.fa"
    fa.write_text(">s\n" + "ACGT" * 250 + "\n")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\ns\t500\t.\tA\tG\t.\t.\t.\n")
    args = [a.format(fa=fa, vcf=vcf) for a in command]
    p = run_cli(args[0], "-m", tiny_checkpoint, *args[1:], check=False)
    assert p.returncode == 1
    _one_error_line(p.stderr, "cannot write in output folder /proc: it does not take new files")


def test_why_a_folder_takes_no_files_is_said_in_words(tmp_path, monkeypatch):
    import errno
    import tempfile

    from dnaseq import outputs

    for code, words in [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "no space left"),
                        (errno.EACCES, "permission denied")]:
        def refuse(*args, code=code, **kwargs):
            raise OSError(code, os.strerror(code))
        monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
        with pytest.raises(ValueError, match=f"cannot write in output folder .*: .*{words}"):
            outputs.prepare_output_prefix(str(tmp_path / "out"))
        with pytest.raises(ValueError, match=f"{words}.*; choose another --plot-dir"):
            outputs.ensure_writable_dir(str(tmp_path / "plots"), "--plot-dir")
    monkeypatch.undo()
    outputs.prepare_output_prefix(str(tmp_path / "fine" / "out"))
    assert not [p for p in (tmp_path / "fine").iterdir()]  # the probe file is gone


@pytest.mark.parametrize("command, final", [
    (["build-dataset", "--reference", "{fa}", "--manifest", "{manifest}", "--out", "{out}/d.h5", "-q"], "d.h5"),
    (["predict", "-m", "{ckpt}", "--chroms", "chr2L", "-r", "{fa}", "--stride", "200", "-o", "{out}/p", "-q"], "p.tsv"),
    (["predict", "-m", "{ckpt}", "--chroms", "chr2L", "-r", "{fa}", "--stride", "200", "-o", "{out}/p", "--format",
      "hdf5", "-q"], "p.h5"),
    (["score-variants", "-m", "{ckpt}", "--vcf", "{vcf}", "-r", "{fa}", "-o", "{out}/s", "--format", "hdf5", "-q"],
     "s.h5")])
def test_a_full_disk_stops_in_one_line_and_leaves_nothing_that_looks_complete(tiny_checkpoint, tmp_path, command,
                                                                              final):
    """A write that fails for lack of room (here a 16 KiB file-size limit, as a full disk or a quota
    would): exit 1, one line that says so, no traceback and no crash (HDF5 after a failed write
    crashed h5py's clean-up: exit 139), and no file under the final name; a rerun with room works."""
    import resource
    import subprocess
    import sys

    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "".join(f"chr2L\t{p}\t.\tA\tG\t.\t.\t.\n" for p in range(5_000, 395_000, 500)))
    fa = tiny_checkpoint.parent / SLICE_FA
    args = [a.format(fa=fa, manifest=DATA / "dm3_slice" / "manifest.tsv", out=tmp_path / "out", ckpt=tiny_checkpoint,
                     vcf=vcf) for a in command]

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))

    p = subprocess.run([sys.executable, "-m", "dnaseq.cli", *args], capture_output=True, text=True, timeout=300,
                       preexec_fn=limit)
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    _one_error_line(p.stderr, "writing the output failed: File too large (the disk is full, or a quota")
    assert not (tmp_path / "out" / final).exists()
    p = run_cli(*args)
    assert (tmp_path / "out" / final).exists()


def test_an_output_lock_is_exclusive_and_dies_with_its_process(tmp_path):
    """Issue 32, item 5: one writer per output path; a second claim (this process or another)
    names the holder; a killed holder leaves no stale claim."""
    import subprocess
    import sys

    from dnaseq.outputs import OutputBusy, OutputLock

    path = str(tmp_path / "scores.tsv")
    first = OutputLock(path)
    with pytest.raises(OutputBusy, match=rf"scores.tsv is being written by another run \(process {os.getpid()}"):
        OutputLock(path)
    first.release()
    first.release()  # idempotent
    assert not os.path.exists(path + ".lock")
    with OutputLock(path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from dnaseq.outputs import OutputLock; "
                               f"OutputLock({path!r}); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputBusy, match=f"process {holder.pid}"):
            OutputLock(path)
    finally:
        holder.kill()
        holder.wait()
    with OutputLock(path):  # the kill released it (the .lock file may stay; it is not an output)
        pass


@pytest.mark.parametrize("command, final", [
    (["build-dataset", "--reference", "{fa}", "--manifest", "{manifest}", "--out", "{out}/d.h5", "-q"], "d.h5"),
    (["predict", "-m", "{ckpt}", "--chroms", "chr2L", "-r", "{fa}", "--stride", "5000", "-o", "{out}/p", "-q"], "p.tsv"),
    (["score-variants", "-m", "{ckpt}", "--vcf", "{vcf}", "-r", "{fa}", "-o", "{out}/s", "-q"], "s.tsv")])
def test_a_second_run_on_the_same_output_stops_instead_of_interleaving(tiny_checkpoint, tmp_path, command, final):
    """Issue 32, item 5: while another process writes the output (its claim held here), the
    command exits 1 with one line naming that process, and neither the output nor a ``.partial``
    of its own is written; once the other run is done the same command works."""
    from dnaseq.outputs import OutputLock

    vcf = write_vcf(str(tmp_path / "v.vcf"), [("chr2L", 20_001, ".", "G", "A")])
    fa = tiny_checkpoint.parent / SLICE_FA
    (tmp_path / "out").mkdir()
    args = [a.format(fa=fa, manifest=DATA / "dm3_slice" / "manifest.tsv", out=tmp_path / "out", ckpt=tiny_checkpoint,
                     vcf=vcf) for a in command]
    path = str(tmp_path / "out" / final)
    with OutputLock(path):
        p = run_cli(*args, check=False)
        assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
        _one_error_line(p.stderr, f"{final} is being written by another run (process {os.getpid()}",
                        "wait for it to finish or choose another output")
        assert not os.path.exists(path) and not os.path.exists(path + ".partial")
    run_cli(*args)
    assert os.path.exists(path) and not os.path.exists(path + ".lock")
