"""dnaseq background and score-variants --background: random SNVs drawn by the stated rules, the
distribution built through the scoring path, e-values that are uniform on held-out background
variants, refusals of a background made under other settings, resume, and the CLI."""
import json
import shutil
from collections import Counter

import numpy as np
import pytest
from scipy.stats import kstest

from dnaseq.apply.calibration import Background
from dnaseq.apply.variant_writers import read_scores_h5, read_scores_tsv
from dnaseq.prioritize import background as bgmod
from dnaseq.prioritize.background import build_background, random_snvs
from dnaseq.sequence.encoding import N_CODE
from dnaseq.sequence.genome import Genome
from tests.conftest import DATA, TEST_DATA, run_cli

TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}


@pytest.fixture(scope="module")
def slice_fasta(tmp_path_factory):
    d = tmp_path_factory.mktemp("slice")
    shutil.copy(DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz", d)
    return d / "dm3_chr2L_400k.fa.gz"


def write_vcf(path, rows, extra_lines=()):
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for r in sorted(rows, key=lambda r: r.pos):
            fh.write(f"{r.chrom}\t{r.pos}\t{r.id}\t{r.ref}\t{r.alt}\t.\t.\t.\n")
        for line in extra_lines:
            fh.write(line + "\n")
    return path


def test_random_snvs_follow_the_stated_rules(slice_fasta, tmp_path):
    genome = Genome(str(slice_fasta))
    rows = list(random_snvs(genome, 3000, 1000, seed=4))
    assert len(rows) == 3000 and [r.line for r in rows] == list(range(1, 3001))
    for r in rows[:400]:
        codes = genome.fetch(r.chrom, r.pos - 1 - 500, r.pos - 1 + 500).codes
        assert len(codes) == 1000 and not genome.fetch(r.chrom, r.pos - 1 - 500, r.pos + 500).padded
        assert codes[500] != N_CODE and np.mean(codes == N_CODE) <= 0.5
        assert genome.fetch(r.chrom, r.pos - 1, r.pos).codes[0] == "ACGT".index(r.ref)
        assert r.alt != r.ref and r.kind == "snv"
    kinds = Counter((r.ref, r.alt) in TRANSITIONS for r in rows)
    assert 1.7 < kinds[True] / kinds[False] < 2.35  # ts/tv = 2 expected
    flat = [(r.ref, r.alt) in TRANSITIONS for r in random_snvs(genome, 3000, 1000, seed=4, ts_tv=0.5)]
    assert 0.4 < sum(flat) / (len(flat) - sum(flat)) < 0.6
    again = [(r.pos, r.alt) for r in random_snvs(genome, 3000, 1000, seed=4)]
    assert again == [(r.pos, r.alt) for r in rows]
    assert again != [(r.pos, r.alt) for r in random_snvs(genome, 3000, 1000, seed=5)]
    # restricted to BED regions: every position inside them
    bed = tmp_path / "regions.bed"
    bed.write_text("track name=x\nchr2L\t100000\t150000\nchr2L\t300000\t320000\nchrX\t1\t100000\n")
    inside = list(random_snvs(genome, 500, 1000, seed=1, regions=str(bed)))
    assert all(100_000 < r.pos <= 150_000 or 300_000 < r.pos <= 320_000 for r in inside)
    bed.write_text("chrX\t1\t100000\n")
    with pytest.raises(ValueError, match=r"none of its chromosomes \(chrX\) is in the reference"):
        next(random_snvs(genome, 5, 1000, regions=str(bed)))
    bed.write_text("chr2L\t0\t400\n")  # too near the chromosome's start for a whole window
    with pytest.raises(ValueError, match="no position of the regions of .* has a whole 1000 bp window"):
        next(random_snvs(genome, 5, 1000, regions=str(bed)))
    with pytest.raises(KeyError, match="chromosome 'chr9' is not in .*available: chr2L"):
        next(random_snvs(genome, 5, 1000, chromosomes=["chr9"]))


def test_a_territory_of_n_is_an_error_not_a_hang(tmp_path, monkeypatch):
    fasta = tmp_path / "n.fa"
    fasta.write_text(">chrN\n" + "N" * 5000 + "\n")
    monkeypatch.setattr(bgmod, "_MAX_EMPTY_BATCHES", 3)
    with pytest.raises(ValueError, match="all N or in windows more than half N"):
        next(random_snvs(Genome(str(fasta)), 5, 1000))


@pytest.fixture(scope="module")
def background_file(tiny_checkpoint, slice_fasta, tmp_path_factory):
    out = tmp_path_factory.mktemp("bg") / "background.h5"
    proc = run_cli("background", "-m", str(tiny_checkpoint), "-r", str(slice_fasta), "-o", str(out), "-n", "2000",
                   "--seed", "0", "-q")
    assert "background of 2,000 scored variants" in proc.stdout
    return out


def test_background_file_holds_the_distribution_and_its_provenance(background_file, tiny_checkpoint):
    bg = Background.load(str(background_file))
    assert bg.n == 2000 and bg.scores == ["diff", "logit_diff"] and len(bg.features) == 8
    p = bg.provenance
    assert p["source"]["kind"] == "random" and p["source"]["seed"] == 0 and p["source"]["ts_tv"] == 2.0
    assert p["window"] == 1000 and p["n_variants"] == 2000 and p["statuses"] == {"scored": 2000}
    assert len(p["model_fingerprint"]) == 64 and p["reference_checksum"].startswith("md5:")
    tail = bg.distributions["diff"].sorted_tail()
    assert tail.shape == (2000, 8) and np.all(np.diff(tail, axis=0) >= 0) and tail.min() >= 0


def test_held_out_background_variants_get_uniform_evalues(background_file, tiny_checkpoint, slice_fasta, tmp_path):
    """The e-values of background-like variants not used to build the background are uniform."""
    held = write_vcf(tmp_path / "held.vcf", random_snvs(Genome(str(slice_fasta)), 1000, 1000, seed=99))
    out = tmp_path / "held"
    run_cli("score-variants", "-m", str(tiny_checkpoint), "-r", str(slice_fasta), "--vcf", str(held), "-o", str(out),
            "--background", str(background_file), "-q")
    t = read_scores_tsv(str(out) + ".tsv")
    bg = Background.load(str(background_file))
    for s in ("diff", "logit_diff"):
        for f in bg.features:
            e = t[f"evalue_{s}:{f}"].to_numpy()
            assert np.all(e > 0) and np.all(e <= 1)
            assert kstest(e, "uniform").pvalue > 0.01, (s, f)
        assert set(t[f"min_feature_{s}"]) <= set(bg.features)
        mins = t[[f"evalue_{s}:{f}" for f in bg.features]].min(axis=1)
        np.testing.assert_allclose(t[f"min_evalue_{s}"], mins)
        assert (t[f"combined_evalue_{s}"] >= t[f"min_evalue_{s}"]).all()
    # e-values follow the effects: a larger |diff| never gets a larger e-value
    f = bg.features[0]
    order = np.argsort(np.abs(t[f"diff:{f}"].to_numpy()))
    assert np.all(np.diff(t[f"evalue_diff:{f}"].to_numpy()[order]) <= 1e-12)
    meta = json.loads((tmp_path / "held.summary.json").read_text())["meta"]
    assert meta["background"] == str(background_file) and meta["background_n"] == 2000


def test_hdf5_output_with_background(background_file, tiny_checkpoint, slice_fasta, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", random_snvs(Genome(str(slice_fasta)), 20, 1000, seed=7),
                    extra_lines=["chr2L\t399990\tedge\tA\t<DEL>\t.\t.\t."])
    from dnaseq.apply.variants import score_variants
    score_variants(str(tiny_checkpoint), str(vcf), str(slice_fasta), str(tmp_path / "o"), fmt="hdf5",
                   background=str(background_file), progress=False)
    table, scores, features = read_scores_h5(str(tmp_path / "o.h5"))
    assert scores["evalue_diff"].shape == (21, 8) and np.isnan(scores["evalue_diff"][-1]).all()
    assert table["min_feature_diff"].iloc[-1] == "" and table["status"].iloc[-1] == "symbolic_alt"
    assert np.isfinite(table["combined_evalue_logit_diff"].iloc[:20]).all()


def test_background_made_under_other_settings_is_refused(background_file, tiny_checkpoint, slice_fasta, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", random_snvs(Genome(str(slice_fasta)), 5, 1000, seed=7))
    made = Background.load(str(background_file)).provenance["strand"]
    other = {"both": "forward", "forward": "both"}[made]
    proc = run_cli("score-variants", "-m", str(tiny_checkpoint), "-r", str(slice_fasta), "--vcf", str(vcf),
                   "-o", str(tmp_path / "o"), "--background", str(background_file), "--strand", other,
                   check=False)
    assert proc.returncode == 1 and f"another strand ({made} in the background, {other} here)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not list(tmp_path.glob("o.*"))
    other = TEST_DATA / "checkpoints" / "v0_1_0_conv_gru.ckpt"
    proc = run_cli("score-variants", "-m", str(other), "-r", str(slice_fasta), "--vcf", str(vcf),
                   "-o", str(tmp_path / "o"), "--background", str(background_file), check=False)
    assert proc.returncode == 1 and "another checkpoint" in proc.stderr and "another window" in proc.stderr
    proc = run_cli("score-variants", "-m", str(tiny_checkpoint), "-r", str(slice_fasta), "--vcf", str(vcf),
                   "-o", str(tmp_path / "o"), "--background", str(tmp_path / "nope.h5"), check=False)
    assert proc.returncode == 1 and "background file not found" in proc.stderr


def test_background_from_a_vcf_counts_what_it_could_not_score(tiny_checkpoint, slice_fasta, tmp_path):
    snvs = list(random_snvs(Genome(str(slice_fasta)), 300, 1000, seed=3))
    first = snvs[0]
    wrong = next(b for b in "ACGT" if b not in (first.ref, first.alt))  # a REF the genome does not have
    vcf = write_vcf(tmp_path / "common.vcf", snvs,
                    extra_lines=["chr9\t100\tx\tA\tG\t.\t.\t.", "chr2L\tabc\ty\tA\tG\t.\t.\t.",
                                 f"{first.chrom}\t{first.pos}\tm\t{wrong}\t{first.alt}\t.\t.\t."])
    s = build_background(str(tiny_checkpoint), str(slice_fasta), str(tmp_path / "bg.h5"), vcf=str(vcf),
                         run=None, chunk_size=64)
    assert s.n == 301 and s.statuses == Counter(scored=301, unknown_chromosome=1, malformed=1)
    assert "not in the background: 1 malformed, 1 unknown_chromosome" in s.format()
    assert s.ref_differs == 1 and "REF differs from the reference in 1 VCF rows" in s.format()
    assert any("REF differs from the reference in 1 of 303 VCF rows" in w for w in s.provenance["vcf_warnings"])
    assert Background.load(str(tmp_path / "bg.h5")).provenance["source"] == {"kind": "vcf", "vcf": str(vcf)}
    nothing = write_vcf(tmp_path / "none.vcf", [], extra_lines=["chr9\t100\tx\tA\tG\t.\t.\t."])
    with pytest.raises(ValueError, match="no background variant could be scored .*unknown_chromosome"):
        build_background(str(tiny_checkpoint), str(slice_fasta), str(tmp_path / "none.h5"), vcf=str(nothing))
    assert not (tmp_path / "none.h5").exists()
    header_only = write_vcf(tmp_path / "header.vcf", [])
    proc = run_cli("background", "-m", tiny_checkpoint, "-r", slice_fasta, "--vcf", header_only, "-o",
                   tmp_path / "h.h5", check=False)
    assert proc.returncode == 3 and "no background variant could be scored" in proc.stderr  # as score-variants


def test_killed_background_resumes_to_the_same_file(tiny_checkpoint, slice_fasta, tmp_path, monkeypatch):
    args = (str(tiny_checkpoint), str(slice_fasta))
    whole = build_background(*args, str(tmp_path / "whole.h5"), n=900, seed=8, chunk_size=50)
    monkeypatch.setattr(bgmod, "SAVE_EVERY", 2)
    real_write = bgmod._BackgroundSink.write

    def dying_write(self, prep, out):
        if self.chunks == 7:
            raise KeyboardInterrupt
        real_write(self, prep, out)

    monkeypatch.setattr(bgmod._BackgroundSink, "write", dying_write)
    out = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        build_background(*args, str(out), n=900, seed=8, chunk_size=50)
    assert not out.exists()
    assert Background.load(str(out) + ".partial", unfinished=True).provenance["resume"]["consumed"] == 350
    with pytest.raises(ValueError, match="stopped after 350 variants, not a finished background: .* --resume"):
        Background.load(str(out) + ".partial")  # e-values against a part of the variants: refused
    vcf = write_vcf(tmp_path / "few.vcf", list(random_snvs(Genome(str(slice_fasta)), 3, 1000, seed=1)))
    proc = run_cli("score-variants", "-m", tiny_checkpoint, "-r", slice_fasta, "--vcf", vcf, "-o", tmp_path / "s",
                   "--background", str(out) + ".partial", check=False)
    assert proc.returncode == 1 and "not a finished background" in proc.stderr and not (tmp_path / "s.tsv").exists()
    monkeypatch.setattr(bgmod._BackgroundSink, "write", real_write)
    with pytest.raises(ValueError, match="other settings"):
        build_background(*args, str(out), n=900, seed=9, chunk_size=50, resume=True)
    resumed = build_background(*args, str(out), n=900, seed=8, chunk_size=50, resume=True)
    assert resumed.n == whole.n == 900 and not (tmp_path / "cut.h5.partial").exists()
    a, b = Background.load(str(tmp_path / "whole.h5")), Background.load(str(out))
    for s in a.scores:
        np.testing.assert_array_equal(a.distributions[s].sorted_tail(), b.distributions[s].sorted_tail())
        np.testing.assert_array_equal(a.distributions[s].hist, b.distributions[s].hist)


def test_background_on_two_ddp_processes_equals_one(tiny_checkpoint, slice_fasta, tmp_path):
    args = ["background", "-m", tiny_checkpoint, "-r", slice_fasta, "-n", "300", "--chunk-size", "32", "-q",
            "--accelerator", "cpu"]
    run_cli(*args, "-o", tmp_path / "one.h5")
    proc = run_cli(*args, "-o", tmp_path / "two.h5", "--devices", "2", "--strategy", "ddp")
    assert proc.stdout.count("background of 300 scored variants") == 1  # one process writes and reports
    a, b = Background.load(str(tmp_path / "one.h5")), Background.load(str(tmp_path / "two.h5"))
    assert a.n == b.n == 300
    for s in a.scores:
        np.testing.assert_allclose(a.distributions[s].sorted_tail(), b.distributions[s].sorted_tail(), atol=1e-6)
        # the histograms cannot be compared bin by bin: effects of ~1e-5 carry float32 noise of one
        # ULP of a probability (6e-8) that differs with batch shapes, moving values between the fine
        # bins; each holds exactly its own 300 values (the tails keep them all), merged across ranks
        for d in (a.distributions[s], b.distributions[s]):
            tail = d.sorted_tail()
            assert len(tail) == 300 and d.hist.sum(axis=0).tolist() == [300] * d.F
            bins = np.clip(np.searchsorted(d.edges, tail, side="right") - 1, 0, len(d.edges) - 2)
            for f in range(d.F):
                np.testing.assert_array_equal(np.bincount(bins[:, f], minlength=len(d.hist)), d.hist[:, f])


def test_regions_on_chromosomes_the_reference_lacks_are_named(slice_fasta, tmp_path, caplog):
    bed = tmp_path / "r.bed"
    bed.write_text("chr9\t0\t5000\n")
    with pytest.raises(ValueError, match=r"none of its chromosomes \(chr9\) is in the reference .*\(which has chr2L"):
        list(random_snvs(Genome(str(slice_fasta)), 10, 1000, regions=str(bed)))
    bed.write_text("chr9\t0\t5000\nchr2L\t100000\t150000\n")  # one usable: drawn there, the other named
    rows = list(random_snvs(Genome(str(slice_fasta)), 10, 1000, regions=str(bed)))
    assert len(rows) == 10 and all(100_000 < r.pos <= 150_000 for r in rows)
    assert "regions on 1 chromosome(s) absent from the reference (chr9) are not used" in caplog.text
