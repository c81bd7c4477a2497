"""score-variants on messy real files (tests/data/messy, see its README), through the CLI.

Each case checks the status and note of its rows, the exit code, the warnings and which files
are left behind.
"""
import json
import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from dnaseq.apply.variant_writers import BOOL_COLUMNS, VARIANT_COLUMNS, read_scores_h5, read_scores_tsv
from tests.conftest import TEST_DATA, run_cli

MESSY = TEST_DATA / "messy"


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A copy of tests/data/messy (pyfaidx writes its .fai next to the FASTA)."""
    d = tmp_path_factory.mktemp("messy")
    for f in MESSY.iterdir():
        if f.suffix not in (".py", ".md"):
            shutil.copy(f, d / f.name)
    return d


def score(ckpt, fa, vcf, out, *extra):
    return run_cli("score-variants", "-m", ckpt, "--vcf", vcf, "-r", fa, "-o", out, "-q", *extra, check=False)


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def by_id(t):
    return {vid: g for vid, g in t.groupby("id", sort=False)}


EXPECTED = {  # id -> statuses by alt_index
    "ok": ["scored"], "alt_is_genome": ["alt_equals_reference_genome"], "iupac_alt": ["invalid_alt"],
    "iupac_multi": ["scored", "invalid_alt", "missing_alt"], "ref_n": ["reference_is_n"],
    "ref_n_mismatch": ["reference_is_n"], "del_half_n": ["reference_is_n"], "del_clips_gap": ["scored"],
    "mostly_n": ["scored"], "alt_n": ["scored"], "nul\\x00id\\x01": ["scored"], "var#1": ["scored"],
    '"quoted" id': ["scored"], 'it\'s a "mix";é,µ\\back': ["scored"], "multi_empty": ["scored", "malformed", "scored"],
    "bad_pos": ["malformed"], "neg_pos": ["malformed"], "huge_pos": ["malformed"], "caf\\xe9": ["scored"],
    "crlf": ["scored"], "short": ["malformed"], "spaced": ["malformed"],
}


@pytest.fixture(scope="module")
def messy_tsv(tiny_checkpoint, messy, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("messy_tsv")
    return tmp_path, score(tiny_checkpoint, messy / "messy.fa", messy / "messy.vcf", tmp_path / "m")


def test_messy_vcf_statuses_notes_and_plain_pandas_round_trip(messy_tsv):
    tmp_path, p = messy_tsv
    assert p.returncode == 0, p.stderr
    assert files_in(tmp_path) == ["m.summary.json", "m.tsv"]
    # the plain call reads every row, with IDs exactly as in the VCF ('#', quotes, ';', é, µ, backslash)
    plain = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert len(plain) == sum(len(v) for v in EXPECTED.values())
    assert sorted(plain["id"]) == sorted(k for k, v in EXPECTED.items() for _ in v)
    assert plain["pos"].dtype == np.int64
    t = read_scores_tsv(tmp_path / "m.tsv")
    rows = by_id(t)
    assert set(rows) == set(EXPECTED)
    for vid, statuses in EXPECTED.items():
        assert rows[vid].status.tolist() == statuses, vid
        assert rows[vid].alt_index.tolist() == list(range(len(statuses))), vid
    note = {vid: g.note.iloc[0] for vid, g in rows.items()}

    # silent wrong answers that are now statuses
    assert "differs from the reference" in note["alt_is_genome"] and "--ref-policy vcf" in note["alt_is_genome"]
    assert "ambiguity code(s) Y" in note["iupac_alt"]
    assert "ambiguity code(s) R" in rows["iupac_multi"].note.iloc[1]
    assert "reference is N at 1 of 1" in note["ref_n"] and rows["ref_n"].ref_match.iloc[0] == "True"
    assert rows["ref_n_mismatch"].ref_match.iloc[0] == "False"
    assert "N at 3 of 6" in note["del_half_n"]
    assert "N at 1 of 22" in note["del_clips_gap"] and "scored" in note["del_clips_gap"]
    assert "window is 96% N" in note["mostly_n"]
    assert "ALT holds N" in note["alt_n"]
    assert note["ok"] == "" and rows["ok"]["diff:CTCF_Kc"].notna().all()
    unscored = t[t.status != "scored"]
    assert unscored["diff:CTCF_Kc"].isna().all() and t[t.status == "scored"]["diff:CTCF_Kc"].notna().all()

    # control bytes and bytes that are not UTF-8 come out as \xNN, in the cell and noted
    assert "control characters" in note["nul\\x00id\\x01"]
    assert "bytes that are not UTF-8 in ID are written as \\xNN" in note["caf\\xe9"]  # a Latin-1 é
    assert "not UTF-8" not in note["nul\\x00id\\x01"]
    assert rows["crlf"].alt.iloc[0] in "ACGT" and note["crlf"] == ""

    # malformed rows keep the line's own CHROM/POS text and say which line
    def row(vid):
        return rows[vid].iloc[0]
    assert (row("bad_pos").chrom, row("bad_pos").pos, row("bad_pos").line) == ("chr1", -1, 19)
    assert note["bad_pos"].startswith("line 19: POS '12x' is not an integer")
    assert (row("neg_pos").pos, note["neg_pos"]) == (-4, "line 20: POS -4 is below 1")
    assert row("huge_pos").pos == -1 and "99999999999999999999999 is out of range" in note["huge_pos"]
    assert (row("short").chrom, row("short").pos, row("short").line) == ("chr1", 77, 24)
    assert (row("spaced").chrom, row("spaced").pos, row("spaced").ref) == ("chr1", 78, "A")
    assert "spaces, not tabs" in note["spaced"]
    assert "empty ALT" in rows["multi_empty"].note.iloc[1] and rows["multi_empty"].pos.iloc[1] == 1040

    summary = json.loads((tmp_path / "m.summary.json").read_text())
    assert sum(summary["statuses"].values()) == len(t)
    assert any("6 of 22 data lines are malformed (first: line 18)" in w for w in summary["warnings"])
    assert "malformed" in p.stderr and "WARNING" in p.stderr


def test_messy_vcf_hdf5_matches_tsv(tiny_checkpoint, messy, messy_tsv, tmp_path):
    """NUL bytes used to crash the HDF5 writer and leave a partial .h5."""
    p = score(tiny_checkpoint, messy / "messy.fa", messy / "messy.vcf", tmp_path / "h", "--format", "hdf5")
    assert p.returncode == 0, p.stderr
    assert files_in(tmp_path) == ["h.h5", "h.summary.json"]
    table, scores, features = read_scores_h5(str(tmp_path / "h.h5"))
    t = read_scores_tsv(messy_tsv[0] / "m.tsv")
    for c in VARIANT_COLUMNS:  # one sanitiser for both formats; flags are booleans in HDF5
        if c in BOOL_COLUMNS:
            text = ["" if v is pd.NA else str(bool(v)) for v in table[c].astype(object).tolist()]
            assert text == t[c].tolist(), c
        else:
            assert table[c].tolist() == t[c].tolist(), c
    assert "nul\\x00id\\x01" in table.id.tolist() and 'it\'s a "mix";é,µ\\back' in table.id.tolist()
    diff_tsv = t[[f"diff:{f}" for f in features]].to_numpy()
    assert np.allclose(scores["diff"], diff_tsv, atol=1e-6, equal_nan=True)


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    import dnaseq
    return dnaseq.load_model(str(tiny_checkpoint))


def api(model, messy, vcf, out, **kw):
    """The same run in-process (importing dnaseq costs seconds per CLI call)."""
    from dnaseq.apply.variants import score_variants
    return score_variants(kw.pop("checkpoint", model), str(vcf), str(kw.pop("reference", messy / "messy.fa")),
                          str(out), progress=False, **kw)


def test_empty_vcf_warns_and_exits_3(tiny_checkpoint, messy, tmp_path):
    p = score(tiny_checkpoint, messy / "messy.fa", messy / "empty.vcf", tmp_path / "e")
    assert p.returncode == 3, p.stderr  # nothing scored: the empty outputs are still written
    assert "holds no variant record: nothing was scored (exit status 3)" in p.stderr
    assert "WARNING: VCF " in p.stderr and "empty.vcf is empty (0 bytes)" in p.stderr
    summary = json.loads((tmp_path / "e.summary.json").read_text())
    assert summary["rows"] == 0 and any("is empty (0 bytes)" in w for w in summary["warnings"])
    t = pd.read_csv(tmp_path / "e.tsv", sep="\t")
    assert len(t) == 0 and list(t.columns[:3]) == ["chrom", "pos", "id"]


@pytest.mark.parametrize("name,message", [("empty.vcf.gz", "is empty (0 bytes)"),
                                          ("header_only.vcf", "has no data lines (header only)")])
def test_other_empty_vcfs_warn(model, messy, tmp_path, caplog, name, message):
    s = api(model, messy, messy / name, tmp_path / "e")
    assert s.rows == 0 and len(s.warnings) == 1 and message in s.warnings[0] and name in s.warnings[0]
    assert message in caplog.text
    assert json.loads((tmp_path / "e.summary.json").read_text())["warnings"] == s.warnings
    assert len(pd.read_csv(tmp_path / "e.tsv", sep="\t")) == 0


def test_data_lines_without_header_warn_naming_the_file(tiny_checkpoint, messy, tmp_path):
    p = score(tiny_checkpoint, messy / "messy.fa", messy / "no_header.vcf", tmp_path / "n")
    assert p.returncode == 0, p.stderr
    assert "no_header.vcf has no #CHROM header line" in p.stderr
    t = read_scores_tsv(tmp_path / "n.tsv")
    assert t.status.tolist() == ["scored", "scored"]
    assert any("no #CHROM" in w for w in json.loads((tmp_path / "n.summary.json").read_text())["warnings"])


def test_not_a_vcf_is_one_line_error_and_no_output(tiny_checkpoint, messy, tmp_path):
    p = score(tiny_checkpoint, messy / "messy.fa", messy / "not_a_vcf.png", tmp_path / "out" / "x")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dnaseq score-variants: error: "), p.stderr
    assert "not_a_vcf.png does not look like a VCF" in lines[0] and "binary" in lines[0]
    assert files_in(tmp_path) == []


def test_gzip_of_random_bytes_is_refused(model, messy, tmp_path):
    with pytest.raises(ValueError, match="random_bytes.vcf.gz does not look like a VCF.*binary"):
        api(model, messy, messy / "random_bytes.vcf.gz", tmp_path / "out" / "x")
    assert files_in(tmp_path) == []


def test_a_truncated_gzip_stops_before_any_output(tiny_checkpoint, messy, tmp_path):
    """Read to its end first, like a truncated BED or checkpoint: one line, exit 1, nothing written
    (it scored the rows before the break and exited 0 with a warning)."""
    p = score(tiny_checkpoint, messy / "messy.fa", messy / "truncated.vcf.gz", tmp_path / "out" / "t")
    assert p.returncode == 1 and "truncated.vcf.gz is truncated or corrupt" in p.stderr, p.stderr
    assert "zcat" in p.stderr and len(p.stderr.strip().splitlines()) == 1 and files_in(tmp_path) == []


def test_a_table_with_a_column_header_is_not_a_vcf(model, messy, tmp_path):
    table = tmp_path / "scores.tsv"
    table.write_text("chrom\tpos\tid\tref\talt\tstatus\nchr2L\t100\t.\tA\tG\tscored\n")
    with pytest.raises(ValueError, match=r"a table with a column header .* \(an output of dnaseq score-variants\?\)"):
        api(model, messy, table, tmp_path / "x")
    assert not (tmp_path / "x.tsv").exists()


def test_missing_vcf_leaves_nothing(tiny_checkpoint, messy, tmp_path):
    p = score(tiny_checkpoint, messy / "messy.fa", tmp_path / "nope.vcf", tmp_path / "out" / "x")
    assert p.returncode == 1 and "VCF not found" in p.stderr and "nope.vcf" in p.stderr
    assert "Traceback" not in p.stderr
    assert files_in(tmp_path) == []  # not even the output folder (it used to leave a header-only .tsv)


@pytest.mark.parametrize("missing", ["reference", "checkpoint"])
def test_missing_reference_or_checkpoint_leaves_nothing(model, messy, tmp_path, missing):
    with pytest.raises(FileNotFoundError, match=f"nope.{missing}"):
        api(model, messy, messy / "messy.vcf", tmp_path / "out" / "x", **{missing: tmp_path / f"nope.{missing}"})
    assert files_in(tmp_path) == []


def test_output_folder_is_created(model, messy, tmp_path):
    api(model, messy, messy / "no_header.vcf", tmp_path / "a" / "b" / "s")
    assert files_in(tmp_path / "a" / "b") == ["s.summary.json", "s.tsv"]


@pytest.mark.parametrize("case", ["parent_is_file", "read_only"])
def test_unusable_output_folder_is_one_line_error(tiny_checkpoint, messy, tmp_path, case):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "ro").mkdir()
    out = {"parent_is_file": tmp_path / "afile" / "s", "read_only": tmp_path / "ro" / "s"}[case]
    if case == "read_only":
        if sys.platform == "win32" or os.geteuid() == 0:
            pytest.skip("root (or Windows) can write to a read-only folder")
        os.chmod(tmp_path / "ro", 0o500)
    try:
        p = score(tiny_checkpoint, messy / "messy.fa", messy / "no_header.vcf", out)
    finally:
        os.chmod(tmp_path / "ro", 0o700)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("dnaseq score-variants: error: "), p.stderr
    assert "output folder" in lines[0]
    assert files_in(tmp_path / "ro") == [] and (tmp_path / "afile").read_text() == "x"


def test_prefix_that_is_a_folder_is_refused(model, messy, tmp_path):
    with pytest.raises(ValueError, match="is a folder; give a prefix such as"):
        api(model, messy, messy / "no_header.vcf", f"{tmp_path}{os.sep}")
    assert files_in(tmp_path) == []


def test_failure_mid_run_leaves_no_complete_looking_file(model, messy, tmp_path):
    """A reference that breaks after some chunks were written: no PREFIX.tsv, .partial or summary;
    an earlier run's complete outputs under another prefix are untouched."""
    seq = "ACGT" * 700
    fa = tmp_path / "broken.fa"
    fa.write_text(">chr1\n" + seq + "\n>chr2\n" + seq[:2000] + "!" + seq[2001:] + "\n")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
                   + "".join(f"chr1\t{p}\tv{p}\t{seq[p - 1]}\tN\n" for p in range(1000, 1010))
                   + f"chr2\t1800\tbroken\t{seq[1799]}\tN\n")
    (tmp_path / "out").mkdir()
    for fmt in ("tsv", "hdf5"):
        with pytest.raises(ValueError, match="invalid character '!'"):
            api(model, messy, vcf, tmp_path / "out" / "x", reference=fa, chunk_size=2, fmt=fmt)
        assert files_in(tmp_path / "out") == []


def test_python_api_policies_for_the_new_statuses(model, messy, tmp_path):
    s = api(model, messy, messy / "messy.vcf", tmp_path / "v", ref_policy="vcf", score_n_reference=True)
    rows = by_id(read_scores_tsv(tmp_path / "v.tsv"))
    assert rows["alt_is_genome"].status.tolist() == ["scored"]  # VCF REF -> ALT (= the genome base)
    for vid in ("ref_n", "ref_n_mismatch", "del_half_n"):
        assert rows[vid].status.tolist() == ["scored"] and "scored anyway" in rows[vid].note.iloc[0], vid
    assert s.statuses["reference_is_n"] == 0 and s.warnings
    api(model, messy, messy / "messy.vcf", tmp_path / "k", ref_policy="skip")
    rows = by_id(read_scores_tsv(tmp_path / "k.tsv"))
    assert rows["alt_is_genome"].status.tolist() == ["ref_mismatch"]
