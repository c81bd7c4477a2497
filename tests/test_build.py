import logging
import re

import h5py
import numpy as np
import pytest

from dnaseq import Feature, build_dataset, open_split, read_info
from dnaseq.data.build import read_manifest
from dnaseq.sequence.genome import write_fasta
from tests.conftest import run_cli


def _genome(tmp_path, n_chroms=("chr1", "chr2"), length=4000, seed=0):
    rng = np.random.default_rng(seed)
    recs = {c: "".join(rng.choice(list("ACGT"), size=length)) for c in n_chroms}
    return write_fasta(tmp_path / "g.fa", recs)


def _bed(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("".join(f"{l}\n" for l in lines))
    return p


def test_half_bin_rule_99_vs_100(tmp_path):
    fa = _genome(tmp_path, ("chr1",))
    # bin 10 = [2000, 2200): 100 bp covered -> positive; bin 12 = [2400, 2600): 99 bp -> negative
    bed = _bed(tmp_path, "p.bed", ["chr1\t2100\t2200", "chr1\t2501\t2600"])
    out = tmp_path / "d.h5"
    build_dataset(str(fa), [Feature("f", "TF", str(bed))], str(out), max_n_fraction=1.0,
                  valid_fraction=0, test_fraction=0, progress=False)
    src = open_split(str(out), "train")
    _, starts, _ = src.coordinates()
    labels = src.read(np.arange(len(src)))[1][:, 0]
    bin_start = starts + 400
    assert labels[bin_start == 2000].tolist() == [1]
    assert labels[bin_start == 2400].tolist() == [0]
    assert labels.sum() == 1
    # every bin of the chromosome is a window, padded with N at both ends
    assert len(src) == 4000 // 200
    assert starts.min() == -400


def test_windows_are_centred_sequence(tmp_path):
    fa = _genome(tmp_path, ("chr1",))
    out = tmp_path / "d.h5"
    bed = _bed(tmp_path, "p.bed", ["chr1\t0\t10"])
    build_dataset(str(fa), [Feature("f", "TF", str(bed))], str(out), valid_fraction=0,
                  test_fraction=0, progress=False)
    src = open_split(str(out), "train")
    codes, _ = src.read(np.arange(len(src)))
    from dnaseq import Genome
    g = Genome(fa)
    _, starts, ncount = src.coordinates()
    for row, start in zip(codes, starts):
        assert np.array_equal(row, g.fetch("chr1", int(start), int(start) + 1000).codes)
    assert (ncount <= 50).all()  # default max_n_fraction 0.05


def test_chrom_holdouts_aliases_and_absent_chromosomes(tmp_path, caplog):
    fa = _genome(tmp_path, ("chr1", "chr2", "chr3"))
    # peak files name chromosomes without "chr" and include one absent from the FASTA
    # and two past chr1's end (4,000 bp; e.g. another build's coordinates), which count as left out
    bed = _bed(tmp_path, "p.bed", ["1\t1000\t1400", "2\t1000\t1400", "chr9\t5\t500", "chr9\t900\t1000",
                                   "chr1\t4000\t4200", "1\t9000\t9300"])
    out = tmp_path / "d.h5"
    with caplog.at_level(logging.WARNING):
        rep = build_dataset(str(fa), [Feature("f", "TF", str(bed))], str(out), valid_chroms=["2"],
                            test_chroms=["chr3"], max_n_fraction=1.0, progress=False)
    assert rep.peaks_unknown_chrom == {"f": {"chr9": 2}}
    assert "chr9" in caplog.text
    assert rep.peaks_past_end == {"f": {"chr1": 2}}
    assert "2 peaks start past the end of their chromosome" in caplog.text and "chr1 is 4,000 bp" in caplog.text
    assert rep.windows == {"train": 20, "valid": 20, "test": 20}
    assert rep.positives["train"] == [2] and rep.positives["valid"] == [2] and rep.positives["test"] == [0]
    info = read_info(str(out))
    assert info.attrs["split"] == {"type": "chromosome", "valid": ["chr2"], "test": ["chr3"]}
    assert info.attrs["genome_checksum"].startswith("md5:")
    assert info.attrs["summary"]["peaks_unknown_chrom"] == {"f": {"chr9": 2}}
    assert info.attrs["summary"]["peaks_past_end"] == {"f": {"chr1": 2}}


def test_n_filter_blacklist_regions_and_counts(tmp_path):
    seq = "A" * 2000 + "N" * 2000 + "C" * 2000
    fa = write_fasta(tmp_path / "g.fa", {"chr1": seq})
    bed = _bed(tmp_path, "p.bed", ["chr1\t0\t100"])
    black = _bed(tmp_path, "black.bed", ["chr1\t5900\t5901"])
    regions = _bed(tmp_path, "regions.bed", ["chr1\t0\t3000", "chr1\t4000\t6000"])
    out = tmp_path / "d.h5"
    rep = build_dataset(str(fa), [Feature("f", "TF", str(bed))], str(out), max_n_fraction=0.0,
                        blacklist=str(black), regions=str(regions), valid_fraction=0,
                        test_fraction=0, progress=False)
    total = 6000 // 200
    kept = rep.windows["train"]
    assert kept + sum(rep.dropped.values()) == total
    assert rep.dropped["too many N"] > 0
    assert rep.dropped["overlaps --blacklist"] > 0
    src = open_split(str(out), "train")
    _, starts, ncount = src.coordinates()
    assert (ncount == 0).all()
    assert not ((starts <= 5900) & (starts + 1000 > 5900)).any()


def test_random_split_is_seeded_and_packed_labels(tmp_path):
    fa = _genome(tmp_path, ("chr1",), length=40000)
    bed = _bed(tmp_path, "p.bed", ["chr1\t1000\t30000"])
    feats = [Feature(f"f{i}", "TF", str(bed)) for i in range(11)]
    a = build_dataset(str(fa), feats, str(tmp_path / "a.h5"), valid_fraction=0.2, test_fraction=0.2,
                      seed=7, pack_labels=True, progress=False)
    b = build_dataset(str(fa), feats, str(tmp_path / "b.h5"), valid_fraction=0.2, test_fraction=0.2,
                      seed=7, progress=False)
    assert a.windows == b.windows and a.windows["valid"] > 0 and a.windows["test"] > 0
    la = open_split(str(tmp_path / "a.h5"), "train").read_all_labels()
    lb = open_split(str(tmp_path / "b.h5"), "train").read_all_labels()
    assert np.array_equal(la, lb) and la.shape[1] == 11
    with h5py.File(tmp_path / "a.h5") as h5:
        assert h5["train/labels"].shape[1] == 2 and h5["train/labels"].attrs["packed"] == 1


def test_empty_peak_file_gives_all_negative_feature(tmp_path):
    fa = _genome(tmp_path, ("chr1",))
    empty = _bed(tmp_path, "empty.bed", [])
    rep = build_dataset(str(fa), [Feature("f", "TF", str(empty))], str(tmp_path / "d.h5"),
                        valid_fraction=0, test_fraction=0, max_n_fraction=1.0, progress=False)
    assert rep.positives["train"] == [0] and rep.windows["train"] == 20


def test_a_feature_the_train_split_cannot_teach_is_named_and_strict_stops(tmp_path, caplog):
    fa = _genome(tmp_path, ("chr1", "chr2"))
    on_chr2 = _bed(tmp_path, "chr2.bed", ["chr2\t1000\t1400"])  # positives only in the held-out chromosome
    everywhere = _bed(tmp_path, "all.bed", ["chr1\t0\t4000", "chr2\t0\t4000"])
    fine = _bed(tmp_path, "fine.bed", ["chr1\t1000\t1400", "chr2\t1000\t1400"])
    feats = [Feature("held", "TF", str(on_chr2)), Feature("every", "TF", str(everywhere)),
             Feature("ok", "TF", str(fine))]
    kw = dict(valid_chroms=["chr2"], max_n_fraction=1.0, progress=False)
    with caplog.at_level(logging.WARNING):
        rep = build_dataset(str(fa), feats, str(tmp_path / "d.h5"), **kw)
    assert rep.positives["train"][0] == 0 and rep.positives["train"][1] == rep.windows["train"] == 20
    assert ("1 of 3 features has no positive window in the train split (20 windows): held; "
            "1 of 3 features has no negative window in the train split (20 windows): every") in caplog.text
    with pytest.raises(ValueError, match=r"has no positive window .*: held; .*--strict: nothing written"):
        build_dataset(str(fa), feats, str(tmp_path / "s.h5"), strict=True, **kw)
    assert not list(tmp_path.glob("s.h5*"))
    proc = run_cli("build-dataset", "-r", fa, "--peaks", f"held={on_chr2}", "--peaks", f"ok={fine}",
                   "--valid-chroms", "chr2", "--max-n-fraction", "1", "-o", tmp_path / "c.h5", "--strict", check=False)
    assert proc.returncode == 1 and "1 of 2 features has no positive window" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "c.h5").exists()
    run_cli("build-dataset", "-r", fa, "--peaks", f"ok={fine}", "--valid-chroms", "chr2", "--max-n-fraction", "1",
            "-o", tmp_path / "c.h5", "--strict")  # every feature learnable: strict builds
    assert read_info(str(tmp_path / "c.h5")).feature_names == ["ok"]
    rep = build_dataset(str(fa), [Feature("ok", "TF", str(fine))], str(tmp_path / "rp.h5"), require_positive=True,
                        strict=True, **kw)  # one feature, every kept window positive by that rule: no finding
    assert rep.positives["train"] == [rep.windows["train"]] > [0]


@pytest.mark.parametrize("bad,expect", [
    ({"min_coverage": 2}, r"min_coverage must be a fraction in \(0, 1\], got 2"),  # no positive ever, silently
    ({"min_coverage": 0}, r"min_coverage must be a fraction in \(0, 1\]"),
    ({"valid_fraction": 1.5}, r"valid_fraction must be a fraction in \[0, 1\], got 1.5"),
    ({"valid_fraction": 0.6, "test_fraction": 0.4}, "must leave windows to train on: 0.6 \\+ 0.4 >= 1"),
    ({"max_n_fraction": 5}, "max_n_fraction must be a fraction"),
    ({"bin_size": 0}, "bin_size must be a whole number of bp >= 1, got 0"),  # was a ZeroDivisionError
    ({"window_size": 1000.0}, "window_size must be a whole number"),
])
def test_numbers_that_would_build_a_wrong_dataset_are_refused_by_name(tmp_path, bad, expect):
    fa = _genome(tmp_path, ("chr1",))
    peaks = _bed(tmp_path, "p.bed", ["chr1\t100\t400"])
    with pytest.raises(ValueError, match=expect):
        build_dataset(str(fa), [Feature("f", "TF", str(peaks))], str(tmp_path / "d.h5"), progress=False, **bad)
    assert not (tmp_path / "d.h5").exists()
    proc = run_cli("build-dataset", "-r", fa, "--peaks", f"f={peaks}", "-o", tmp_path / "d.h5", "--min-coverage",
                   "1.5", check=False)
    assert proc.returncode == 2 and "argument --min-coverage: expected a number from 0 to 1, not 1.5" in proc.stderr


def test_manifest_errors(tmp_path):
    bad = tmp_path / "m.tsv"
    bad.write_text("name\tgroup\tpath\nf1\tTF\n")
    with pytest.raises(ValueError, match=r"m.tsv:2: expected 3"):
        read_manifest(str(bad))


def test_cli_build_dataset_on_real_slice(dm3_slice, tmp_path):
    out = tmp_path / "slice.h5"
    proc = run_cli("build-dataset", "--reference", dm3_slice / "dm3_chr2L_400k.fa.gz",
                   "--manifest", dm3_slice / "manifest.tsv", "--out", out, "--max-n-fraction", "0",
                   "--seed", "3", "--valid-fraction", "0.1", "--test-fraction", "0.1")
    assert "windows" in proc.stdout and "BEAF_Kc" in proc.stdout
    assert "too many N" in proc.stdout
    info = read_info(str(out))
    assert info.feature_names[:2] == ["BEAF_Kc", "CTCF_Kc"]
    summary = info.attrs["summary"]
    assert sum(summary["windows"].values()) > 300
    assert sum(summary["positives"]["train"]) > 0
    assert "build-dataset" in info.attrs["command"]
    info_out = run_cli("info", out).stdout
    assert "BEAF_Kc" in info_out


def test_cli_malformed_bed_reports_file_and_line(dm3_slice, tmp_path):
    bad = tmp_path / "bad.bed"
    bad.write_text("chr2L\t100\t300\nchr2L\t500\tfoo\n")
    proc = run_cli("build-dataset", "-r", dm3_slice / "dm3_chr2L_400k.fa.gz", "--peaks", f"bad={bad}",
                   "-o", tmp_path / "x.h5", "-q", check=False)
    assert proc.returncode == 1
    assert f"{bad}:2" in proc.stderr and "integers" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = run_cli("build-dataset", "-r", dm3_slice / "dm3_chr2L_400k.fa.gz", "--peaks", f"bad:TF={bad}",
                 "-o", tmp_path / "x.h5", "-q", "--skip-bad-lines")
    assert "skipped lines: 1 start/end must be integers" in ok.stdout


def test_a_build_with_no_windows_is_an_error_that_says_why(tmp_path):
    """Every sequence shorter than a window (a transcript FASTA, a plasmid) made a 0-window
    dataset and exit 0; now it is one error line saying why, and nothing is written."""
    rng = np.random.default_rng(3)
    short = write_fasta(tmp_path / "short.fa", {f"s{i}": "".join(rng.choice(list("ACGT"), 600)) for i in range(3)})
    bed = tmp_path / "p.bed"
    bed.write_text("s0\t100\t400\n")
    proc = run_cli("build-dataset", "-r", short, "--peaks", f"x={bed}", "-o", tmp_path / "d.h5", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("dnaseq build-dataset: error: no windows were made from") and len(err.splitlines()) == 1
    assert "shorter than the 1,000 bp window" in err and "too many N" in err
    assert not list(tmp_path.glob("d.h5*"))
    # a split named for a chromosome that yields nothing is an error too
    mixed = write_fasta(tmp_path / "mixed.fa", {"a": "".join(rng.choice(list("ACGT"), 5000)), "gap": "N" * 5000})
    with pytest.raises(ValueError, match=r"the test split \(chromosomes gap\) has no windows"):
        build_dataset(str(mixed), [Feature("x", "TF", str(bed))], str(tmp_path / "m.h5"), test_chroms=["gap"],
                      progress=False)
    assert not list(tmp_path.glob("m.h5*"))


def test_many_features_are_summarised_by_group_and_info_all_lists_them(tmp_path):
    """A 919-feature build printed 919 rows; past 40 features the summary is condensed by group
    (count, median and smallest positives per split, the features with fewest training positives);
    `info --all` lists every feature; a closed pipe (`info | head`) ends quietly with 141."""
    import subprocess
    import sys
    fa = _genome(tmp_path, ("chr1",), length=20_000)
    rng = np.random.default_rng(0)
    feats = []
    for i in range(45):
        starts = np.sort(rng.choice(np.arange(0, 19_000, 200), size=1 + i % 7, replace=False))
        feats.append(Feature(f"f{i:02d}", "TF" if i < 30 else "Histone",
                             str(_bed(tmp_path, f"f{i}.bed", [f"chr1\t{s}\t{s + 200}" for s in starts]))))
    manifest = tmp_path / "m.tsv"
    manifest.write_text("name\tgroup\tpath\n" + "".join(f"{f.name}\t{f.group}\t{f.path}\n" for f in feats))
    out = tmp_path / "d.h5"
    text = run_cli("build-dataset", "--reference", fa, "--manifest", manifest, "--out", out, "-q").stdout
    assert "45 features; per group, median (smallest) positives:" in text
    assert not [ln for ln in text.splitlines() if re.match(r"f\d\d ", ln)]  # no row per feature
    assert [ln.split()[:2] for ln in text.splitlines() if ln.startswith("  ")] == [["TF", "30"], ["Histone", "15"]]
    assert "fewest training positives: " in text and f"dnaseq info {out} --all" in text
    full = run_cli("info", out, "--all").stdout
    assert all(f"f{i:02d} " in full for i in range(45))
    p = subprocess.run(f"{sys.executable} -m dnaseq.cli info {out} --all | head -1", shell=True,
                       capture_output=True, text=True)
    assert p.stdout.startswith("dataset:") and p.stderr == "", p.stderr


def test_a_build_written_to_a_log_reports_progress_in_lines(tmp_path, capsys, monkeypatch):
    """Off a terminal (progress="lines", what the CLI passes when stderr is a file) a long build
    prints a line per tenth of the genome with an ETA, no carriage returns."""
    import dnaseq.settings
    clock = iter(range(0, 100_000, 20))  # 20 s per tick of the clock
    monkeypatch.setattr(dnaseq.settings.time, "monotonic", lambda: next(clock))
    fa = _genome(tmp_path, ("chr1", "chr2", "chr3", "chr4"), length=50_000)
    bed = _bed(tmp_path, "p.bed", ["chr1\t1000\t1400", "chr3\t5000\t5400"])
    build_dataset(str(fa), [Feature("f", "TF", str(bed))], str(tmp_path / "d.h5"), block_bins=25,
                  progress="lines")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and "\r" not in "".join(lines)
    assert lines[-1].startswith("build-dataset: 200,000 of 200,000 bp (100%) in ") and "s left" in lines[-1]
    assert len(lines) == 10
