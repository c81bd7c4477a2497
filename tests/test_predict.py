"""dnaseq predict: BED regions, whole chromosomes and FASTA sequences -> TSV / HDF5 / bigWig."""
import numpy as np
import pandas as pd
import pytest

import dnaseq
from dnaseq.inference.predictor import predict_codes
from dnaseq.sequence.genome import write_fasta
from tests.conftest import DATA, run_cli

SLICE_FA = DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz"


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return dnaseq.load_model(str(tiny_checkpoint))


@pytest.fixture(scope="module")
def genome_copy(tmp_path_factory):
    d = tmp_path_factory.mktemp("genome")
    seq = dnaseq.Genome(str(SLICE_FA)).fetch_text("chr2L", 0, 60_000)
    return write_fasta(d / "g.fa", {"chr2L": seq})


def test_regions_cli_tsv_and_bigwig_read_back(model, tiny_checkpoint, genome_copy, tmp_path):
    import pyBigWig
    bed = tmp_path / "r.bed"
    # real sequence, a region near the start (padded window) and two overlapping regions
    # (BED names, where a line has one, name the rows; "." is no name)
    bed.write_text("track name=x\nchr2L\t30000\t30200\tpeak_a\nchr2L\t100\t300\nchr2L\t40000\t40500\t.\n"
                   "2L\t40100\t40300\tpeak d\t0\t+\n")
    run_cli("predict", "-m", tiny_checkpoint, "--regions", bed, "-r", genome_copy, "-o", tmp_path / "p",
            "--bigwig", "BEAF_Kc,SuHw_Mbn2", "-q")
    t = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert len(t) == 4 and list(t.columns[:8]) == ["name", "chrom", "start", "end", "bin_start", "bin_end",
                                                    "padded", "n_fraction"]
    assert t.padded.tolist() == [False, True, False, False] and t.chrom.tolist() == ["chr2L"] * 4
    assert t.name.tolist() == ["peak_a", "chr2L:101-300", "chr2L:40001-40500", "peak d"]
    g = dnaseq.Genome(str(genome_copy))
    codes = np.stack([g.window("chr2L", (s + e) // 2, 1000).codes for s, e in zip(t.bin_start, t.bin_end)])
    assert (t.start == [(s + e) // 2 - 500 for s, e in zip(t.bin_start, t.bin_end)]).all()
    expect = predict_codes(model, codes)
    np.testing.assert_allclose(t[model.feature_names].to_numpy(), expect, rtol=1e-6, atol=1e-7)
    with pyBigWig.open(str(tmp_path / "p.BEAF_Kc.bw")) as bw:
        assert bw.chroms() == {"chr2L": 60_000}
        got = bw.intervals("chr2L")
    # sorted by position; the region overlapping an earlier one is left out of the track
    assert [(a, b) for a, b, _ in got] == [(100, 300), (30000, 30200), (40000, 40500)]
    j = model.feature_names.index("BEAF_Kc")
    assert [v for _, _, v in got] == pytest.approx([expect[1, j], expect[0, j], expect[2, j]], rel=1e-6)


def test_chromosome_tiling_hdf5_and_bigwig(model, tiny_checkpoint, genome_copy, tmp_path):
    import h5py
    import pyBigWig
    proc = run_cli("predict", "-m", tiny_checkpoint, "--chroms", "chr2L", "-r", genome_copy, "--stride", "200",
                   "-o", tmp_path / "c", "--format", "hdf5", "--bigwig", "CTCF_Kc", "-q",
                   "--batch-size", "8")  # the first blocks of 8 bins are all gap: (0, F) units
    g = dnaseq.Genome(str(genome_copy))
    chrom = g.chromosome_codes("chr2L")
    gaps = sum((chrom[s:s + 200] == 4).all() for s in range(0, 60_000, 200))
    assert gaps > 0 and f"{gaps:,} bins entirely N" in proc.stdout
    with h5py.File(tmp_path / "c.h5") as h5:
        starts = h5["windows/bin_start"][:]
        probs = h5["probabilities"][:]
    assert len(starts) == 300 - gaps and (np.diff(starts) > 0).all() and (starts % 200 == 0).all()
    some = [0, len(starts) // 2, len(starts) - 1]
    codes = np.stack([g.window("chr2L", int(starts[i]) + 100, 1000).codes for i in some])
    np.testing.assert_allclose(probs[some], predict_codes(model, codes), rtol=1e-6, atol=1e-7)
    with pyBigWig.open(str(tmp_path / "c.CTCF_Kc.bw")) as bw:
        vals = bw.values("chr2L", int(starts[some[1]]), int(starts[some[1]]) + 200)
        intervals = bw.intervals("chr2L")
    j = model.feature_names.index("CTCF_Kc")
    assert vals == pytest.approx([probs[some[1], j]] * 200, rel=1e-6)
    # the track, written block by block as the chromosome streams, holds every bin of the table
    assert [a for a, _, _ in intervals] == starts.tolist() and all(b - a == 200 for a, b, _ in intervals)
    np.testing.assert_allclose([v for _, _, v in intervals], probs[:, j], rtol=1e-6)


def test_fasta_python_api_returns_a_dataframe(model, tmp_path):
    rng = np.random.default_rng(0)
    exact = "".join(rng.choice(list("ACGT"), 1000))
    short = "".join(rng.choice(list("ACGT"), 600))
    fa = write_fasta(tmp_path / "s.fa", {"exact": exact, "short": short})
    res = dnaseq.predict(model, fasta=str(fa))
    assert res.table.name.tolist() == ["exact", "short"] and res.table.padded.tolist() == [False, True]
    padded = "N" * 200 + short + "N" * 200
    np.testing.assert_allclose(res.probabilities, predict_codes(model, dnaseq.encode([exact, padded])), atol=1e-7)
    long = write_fasta(tmp_path / "l.fa", {"long": exact + short})
    with pytest.raises(ValueError, match="pass --stride"):
        dnaseq.predict(model, fasta=str(long))
    tiled = dnaseq.predict(model, fasta=str(long), stride=400)
    assert tiled.table.bin_start.tolist() == [0, 400, 800, 1200]
    assert dnaseq.predict(model, fasta=str(long), stride=400, strand="both").summary["strand"] == "both"


def test_bad_requests_fail_before_work(tiny_checkpoint, genome_copy, tmp_path):
    proc = run_cli("predict", "-m", tiny_checkpoint, "--chroms", "chrNope", "-r", genome_copy, "-o", tmp_path / "x",
                   check=False)
    assert proc.returncode == 1 and "chrNope" in proc.stderr and not list(tmp_path.glob("x*"))
    proc = run_cli("predict", "-m", tiny_checkpoint, "--chroms", "chr2L", "-r", genome_copy, "-o", tmp_path / "x",
                   "--bigwig", "NOPE", check=False)
    assert proc.returncode == 1 and "NOPE" in proc.stderr



def test_regions_that_cannot_be_seen_are_counted_and_nothing_to_predict_is_exit_3(model, tiny_checkpoint,
                                                                                 genome_copy, tmp_path):
    """A region is never dropped unseen: zero-length ones, ones on a chromosome the reference lacks
    and ones past its chromosome's end (another build) are counted with the first line of each;
    a run left with nothing predicts nothing, writes nothing and exits 3."""
    bed = tmp_path / "m.bed"
    bed.write_text("chr2L\t30000\t30200\tok\nchr2L\t100\t100\tpoint\nchr3R\t100\t300\tabsent\n"
                   "chr2L\t70000\t70200\tbeyond\nchr3R\t500\t700\n")
    res = dnaseq.predict(model, reference=str(genome_copy), regions=str(bed))
    assert res.table.name.tolist() == ["ok"]
    assert res.summary["regions_left_out"] == {"zero-length interval": 1, "chromosome not in the reference": 2,
                                               "starts past the chromosome's end": 1}
    # --resume with no stopped run to continue starts from the beginning (as score-variants does)
    fresh = dnaseq.predict(model, str(tmp_path / "fresh"), reference=str(genome_copy), regions=str(bed), resume=True)
    assert fresh.summary["windows"] == 1 and (tmp_path / "fresh.tsv").exists()
    proc = run_cli("predict", "-m", tiny_checkpoint, "--regions", bed, "-r", genome_copy, "-o", tmp_path / "m",
                   check=False)
    assert proc.returncode == 0, proc.stderr
    assert (f"{bed}: 4 regions were not predicted: 2 chromosome not in the reference (first: {bed}:3 (chr3R)), "
            f"1 zero-length interval (first: {bed}:2), 1 starts past the chromosome's end (first: {bed}:4 "
            f"(chr2L:70001-70200; chr2L is 60,000 bp))") in proc.stderr
    for name, text in (("absent", "chr3R\t100\t300\n"), ("header", "track name=x\n")):
        (tmp_path / f"{name}.bed").write_text(text)
        proc = run_cli("predict", "-m", tiny_checkpoint, "--regions", tmp_path / f"{name}.bed", "-r", genome_copy,
                       "-o", tmp_path / name, check=False)
        assert proc.returncode == 3 and "error: nothing to predict" in proc.stderr, proc.stderr
        assert not list(tmp_path.glob(f"{name}.tsv*"))
    # a malformed line names file and line; predict has no --skip-bad-lines, so none is suggested
    (tmp_path / "bad.bed").write_text("chr2L\t700\t500\n")
    proc = run_cli("predict", "-m", tiny_checkpoint, "--regions", tmp_path / "bad.bed", "-r", genome_copy,
                   "-o", tmp_path / "bad", check=False)
    assert proc.returncode == 1 and "bad.bed:1: end 500 is before start 700" in proc.stderr
    assert "--skip-bad-lines" not in proc.stderr
    # an empty FASTA record and a region past the end for ism are errors that name them
    fa = write_fasta(tmp_path / "e.fa", {"a": "ACGT" * 250, "e": "", "b": "TGCA" * 250})
    with pytest.raises(ValueError, match=r"1 sequence\(s\) have no bases \('e'\)"):
        dnaseq.predict(model, fasta=str(fa), stride=200)
    proc = run_cli("ism", "-m", tiny_checkpoint, "-r", genome_copy, "--region", "chr2L:70000-70010",
                   "--out", tmp_path / "i.h5", check=False)
    assert proc.returncode == 1 and "runs past the end of chr2L (60,000 bp)" in proc.stderr

def test_predict_on_two_ddp_processes_equals_one(tiny_checkpoint, genome_copy, tmp_path):
    args = ["predict", "-m", tiny_checkpoint, "--chroms", "chr2L", "-r", genome_copy, "--stride", "500",
            "--batch-size", "8", "-q", "--accelerator", "cpu"]
    run_cli(*args, "-o", tmp_path / "one")
    run_cli(*args, "-o", tmp_path / "two", "--devices", "2", "--strategy", "ddp")
    a, b = pd.read_csv(tmp_path / "one.tsv", sep="\t"), pd.read_csv(tmp_path / "two.tsv", sep="\t")
    assert a.name.tolist() == b.name.tolist() and len(a) > 16  # 15 units of 8 bins (gaps left out), dealt to 2 ranks
    np.testing.assert_allclose(a.iloc[:, 8:].to_numpy(), b.iloc[:, 8:].to_numpy(), atol=1e-6)


@pytest.mark.parametrize("fmt", ["tsv", "hdf5"])
def test_a_stopped_whole_chromosome_run_resumes_to_the_same_outputs(model, genome_copy, tmp_path, monkeypatch, fmt):
    """Ctrl-C / SIGTERM keeps the rows written so far (a kill may also cut the last TSV line);
    --resume predicts the rest: table and bigWig track equal to an uninterrupted run's."""
    import pyBigWig
    from dnaseq.apply import prediction_writers
    from dnaseq.settings import RunOptions
    run = RunOptions(batch_size=16, progress=False)
    ext = "tsv" if fmt == "tsv" else "h5"
    kw = dict(reference=str(genome_copy), chroms=["chr2L"], stride=200, fmt=fmt, bigwig=["CTCF_Kc"], run=run)
    dnaseq.predict(model, str(tmp_path / "full"), **kw)

    write = prediction_writers.PredictionSink.write
    calls = []

    def stop_after_twelve(self, meta, out):
        calls.append(1)
        if len(calls) > 12:  # the first blocks are assembly gap: 0 rows
            raise KeyboardInterrupt
        write(self, meta, out)
    monkeypatch.setattr(prediction_writers.PredictionSink, "write", stop_after_twelve)
    with pytest.raises(KeyboardInterrupt):
        dnaseq.predict(model, str(tmp_path / "cut"), **kw)
    monkeypatch.setattr(prediction_writers.PredictionSink, "write", write)
    partial = tmp_path / f"cut.{ext}.partial"
    assert partial.exists() and not (tmp_path / f"cut.{ext}").exists() and not list(tmp_path.glob("cut*.bw*"))
    # a kill in the middle of a unit: 20 rows kept (TSV: and the start of a 21st line; HDF5: the
    # last blocks not known to be flushed)
    if fmt == "tsv":
        lines = partial.read_text().splitlines(keepends=True)
        assert len(lines) > 22
        partial.write_text("".join(lines[:21]) + lines[21][:25])
    else:
        import h5py
        with h5py.File(partial, "r+") as h5:
            assert h5["probabilities"].shape[0] > 21
            h5.attrs["rows_flushed"] = 20
    with pytest.raises(ValueError, match="other settings"):  # another stride is another run: refused, kept
        dnaseq.predict(model, str(tmp_path / "cut"), **{**kw, "stride": 100}, resume=True)
    assert partial.exists()

    res = dnaseq.predict(model, str(tmp_path / "cut"), **kw, resume=True)
    full = dnaseq.predict(model, str(tmp_path / "again"), **kw)
    assert res.summary["windows"] == full.summary["windows"] and res.summary["gap_bins_skipped"] == \
        full.summary["gap_bins_skipped"] > 0
    if fmt == "tsv":
        assert (tmp_path / "cut.tsv").read_text() == (tmp_path / "full.tsv").read_text()
    else:
        import h5py
        with h5py.File(tmp_path / "cut.h5") as a, h5py.File(tmp_path / "full.h5") as b:
            assert a["probabilities"].shape == b["probabilities"].shape
            np.testing.assert_array_equal(a["probabilities"][:], b["probabilities"][:])
            np.testing.assert_array_equal(a["windows/bin_start"][:], b["windows/bin_start"][:])
    with pyBigWig.open(str(tmp_path / "cut.CTCF_Kc.bw")) as a, pyBigWig.open(str(tmp_path / "full.CTCF_Kc.bw")) as b:
        assert a.intervals("chr2L") == b.intervals("chr2L")
    assert not list(tmp_path.glob("*.partial*"))
