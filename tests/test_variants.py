import gzip
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import dnaseq
from dnaseq.apply.variant_writers import read_scores_h5
from dnaseq.apply.variant_windows import allele_window
from dnaseq.apply.variants import effect_scores, score_variants
from dnaseq.sequence.genome import write_fasta
from dnaseq.sequence.vcf import classify_alt
from tests.conftest import TEST_DATA, run_cli


def read_tsv(path):
    # the TSV has no comment lines: the plain call reads it; these options keep empty notes as text
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan"])


@pytest.mark.parametrize("ref,alt,kind", [
    ("A", "G", "snv"), ("AC", "GT", "mnv"), ("A", "AT", "indel"), ("AT", "A", "indel"),
    ("A", "<DEL>", "symbolic"), ("A", "<INS:ME>", "symbolic"), ("A", "*", "star"), ("A", ".", "missing"),
    ("A", "A[chr2:321[", "breakend"), ("A", "]chr2:1]A", "breakend"), ("A", ".A", "breakend"),
    ("A", "a", "same_as_ref"), ("A", "X", "invalid_alt"), ("A", "Y", "invalid_alt"), ("A", "AR", "invalid_alt"),
    ("A", "N", "snv"), ("R", "r", "same_as_ref"),
])
def test_alt_classification(ref, alt, kind):
    assert classify_alt(ref, alt) == kind


def test_scores_definitions():
    ref, alt = np.array([[0.2, 0.5]]), np.array([[0.6, 0.5]])
    s = effect_scores(ref, alt)
    assert s["diff"][0].tolist() == pytest.approx([0.4, 0.0])
    lo = np.log(0.6 / 0.4) - np.log(0.2 / 0.8)
    assert s["logit_diff"][0, 0] == pytest.approx(lo)
    assert s["combined"][0, 0] == pytest.approx(abs(lo) * 0.4)
    assert s["abs_diff"][0, 0] == pytest.approx(0.4)


def test_allele_windows_are_centred(tmp_path):
    seq = "".join("ACGT"[i % 4] for i in range(100))
    g = dnaseq.Genome(write_fasta(tmp_path / "g.fa", {"c": seq}))
    snv, padded = allele_window(g, "c", 50, 1, dnaseq.encode("T"), 10)
    assert dnaseq.decode(snv) == seq[45:50] + "T" + seq[51:55] and not padded
    ins, _ = allele_window(g, "c", 50, 1, dnaseq.encode("GGGG"), 10)
    assert dnaseq.decode(ins) == seq[47:50] + "GGGG" + seq[51:54]
    dele, _ = allele_window(g, "c", 50, 3, dnaseq.encode("C"), 10)
    assert dnaseq.decode(dele) == seq[45:50] + "C" + seq[53:57]
    edge, padded = allele_window(g, "c", 1, 1, dnaseq.encode("A"), 10)
    assert padded and dnaseq.decode(edge).startswith("NNNN")
    long, _ = allele_window(g, "c", 50, 1, dnaseq.encode("ACGTACGTACGTAC"), 10)
    assert dnaseq.decode(long) == "GTACGTACGT"


def test_giab_tiny_all_scored(tiny_checkpoint, tmp_path):
    s = score_variants(str(tiny_checkpoint), str(TEST_DATA / "giab_tiny" / "NA12878.chr22.tiny.giab.vcf"),
                       str(TEST_DATA / "giab_tiny" / "q.fa"), str(tmp_path / "giab"), progress=False)
    assert s.rows == 14 and s.statuses == Counter({"scored": 14})
    t = read_tsv(tmp_path / "giab.tsv")
    assert len(t) == 14 and (t.ref_match.astype(str) == "True").all()
    assert {"ref:BEAF_Kc", "alt:SuHw_Mbn2", "diff:CTCF_Kc", "logit_diff:Cp190_Kc", "combined:BEAF_Mbn2"} <= set(t.columns)
    assert np.allclose(t["diff:BEAF_Kc"], t["alt:BEAF_Kc"] - t["ref:BEAF_Kc"], atol=1e-8)


def test_saureus_bgzipped_vcf_with_indels(tiny_checkpoint, tmp_path):
    s = score_variants(str(tiny_checkpoint),
                       str(TEST_DATA / "saureus" / "Saureus_RN4220_vs_NCTC8325_C-Sibelia_variant.vcf.gz"),
                       str(TEST_DATA / "saureus" / "Saureus_NCTC8325_NC_007795.fa.gz"), str(tmp_path / "sa"),
                       fmt="hdf5", progress=False)
    assert s.rows == 109 and s.statuses["scored"] == 109
    table, scores, features = read_scores_h5(str(tmp_path / "sa.h5"))
    assert len(table) == 109 and scores["alt"].shape == (109, 8) and scores["alt"].dtype == np.float32
    assert table.indel.dtype == bool and table.indel.sum() == 23
    assert np.isfinite(scores["logit_diff"]).all()


@pytest.mark.parametrize("vcf,records", [("chr22.vcf.gz", 10376), ("beagle_1kg_chr22_test.vcf.gz", 1356)])
def test_hg19_chr22_without_chr22_in_fasta(tiny_checkpoint, tmp_path, vcf, records):
    s = score_variants(str(tiny_checkpoint), str(TEST_DATA / "hg19_chr22" / vcf),
                       str(TEST_DATA / "giab_tiny" / "q.fa"), str(tmp_path / "h"), progress=False, chunk_size=2000)
    assert s.rows >= records
    # every record is listed; the one symbolic ALT of the beagle file is reported as such
    assert s.statuses["unknown_chromosome"] + s.statuses["symbolic_alt"] == s.rows
    assert s.statuses["scored"] == 0
    t = read_tsv(tmp_path / "h.tsv")
    assert len(t) == s.rows and t.line.nunique() == records
    assert t[t.status == "unknown_chromosome"].note.str.contains("'22' is not in the reference").all()
    assert t["alt:BEAF_Kc"].isna().all()


BAD_LINES = [
    # chrom, pos, id, ref, alt  -- on a 3000 bp chromosome "chr1" (VCF may say "1")
    ("1", "1500", "ok_alias", "{r1500}", "{a1500}"),
    ("chr1", "1600", "multi", "{r1600}", "{a1600},{b1600}"),
    ("chr1", "1700", "mismatch", "{x1700}", "{a1700}"),
    ("chr1", "1800", "lower", "{l1800}", "{a1800}"),
    ("chr1", "3", "near_start", "{r3}", "{a3}"),
    ("chr1", "2999", "near_end", "{r2999}", "{a2999}"),
    ("chr1", "3001", "beyond_end", "A", "C"),
    ("chr1", "1000", "ins", "{r1000}", "{r1000}TTTT"),
    ("chr1", "1100", "del", "{d1100}", "{r1100}"),
    ("chr1", "1200", "sym_del", "{r1200}", "<DEL>"),
    ("chr1", "1201", "sym_ins", "{r1201}", "<INS>"),
    ("chr1", "1202", "star", "{r1202}", "*"),
    ("chr1", "1203", "missing", "{r1203}", "."),
    ("chr1", "1204", "bnd", "{r1204}", "{r1204}[chr1:5["),
    ("chr1", "1205", "same", "{r1205}", "{r1205}"),
    ("chr1", "abc", "bad_pos", "A", "C"),
    ("chr1", "-4", "neg_pos", "A", "C"),
    ("chr1", "1300", "bad_ref", "A-C", "T"),
    ("chrZ", "10", "unknown", "A", "C"),
    ("chr1", "1400", "nref", "N", "A"),
]


def _bad_vcf(tmp_path):
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), size=3000))
    fa = write_fasta(tmp_path / "g.fa", {"chr1": seq[:1399] + "N" + seq[1400:]})
    other = {"A": "C", "C": "G", "G": "T", "T": "A", "N": "A"}

    def fill(text):
        import re
        def sub(m):
            kind, p = m.group(1), int(m.group(2))
            base = seq[p - 1] if p != 1400 else "N"
            return {"r": base, "a": other[base], "b": other[other[base]], "x": other[other[other[base]]],
                    "l": base.lower(), "d": seq[p - 1:p + 2]}[kind]
        return re.sub(r"\{([rabxld])(\d+)\}", sub, text)

    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for rec in BAD_LINES:
        lines.append("\t".join(fill(f) for f in rec) + "\t.\tPASS\t.")
    lines.append("chr1\t1500\ttoo_few")
    lines.append("chr1 1501 spaces A C . PASS .")
    path = tmp_path / "bad.vcf"
    path.write_text("\n".join(lines) + "\n")
    return fa, path


def test_every_bad_case_gets_one_row_with_a_reason(tiny_checkpoint, tmp_path):
    fa, vcf = _bad_vcf(tmp_path)
    proc = run_cli("score-variants", "-m", tiny_checkpoint, "--vcf", vcf, "-r", fa, "-o", tmp_path / "out",
                   "--scores", "ref,alt,diff,abs_diff,logit_diff,combined", "-q")
    t = read_tsv(tmp_path / "out.tsv")
    t.index = t["id"].values
    n_lines = len(BAD_LINES) + 2
    assert len(t) == n_lines + 1  # the multi-allelic line gives two rows
    assert t.line.nunique() == n_lines
    status = t.groupby(t["id"].values).status.first()
    expect = {"ok_alias": "scored", "multi": "scored", "mismatch": "scored", "lower": "scored",
              "near_start": "scored", "near_end": "scored", "beyond_end": "beyond_chromosome_end",
              "ins": "scored", "del": "scored", "sym_del": "symbolic_alt", "sym_ins": "symbolic_alt",
              "star": "star_allele", "missing": "missing_alt", "bnd": "breakend_alt",
              "same": "alt_equals_ref", "bad_pos": "malformed", "neg_pos": "malformed",
              "bad_ref": "malformed", "unknown": "unknown_chromosome", "nref": "reference_is_n"}
    for vid, st in expect.items():
        assert status[vid] == st, vid
    assert len(t.loc["multi"]) == 2 and t.loc["multi"].alt_index.tolist() == [0, 1]
    assert str(t.loc["mismatch", "ref_match"]) == "False" and "differs" in t.loc["mismatch", "note"]
    assert str(t.loc["lower", "ref_match"]) == "True"
    assert str(t.loc["nref", "ref_match"]) == "True" and "reference is N" in t.loc["nref", "note"]
    assert str(t.loc["near_start", "padded"]) == "True" and str(t.loc["near_end", "padded"]) == "True"
    assert str(t.loc["ins", "indel"]) == "True" and str(t.loc["del", "indel"]) == "True"
    assert "POS 'abc' is not an integer" in t.loc["bad_pos", "note"]
    assert f"line {BAD_LINES.index(('chr1', 'abc', 'bad_pos', 'A', 'C')) + 3}" in t.loc["bad_pos", "note"]
    malformed = t[t.status == "malformed"]
    assert any("spaces, not tabs" in n for n in malformed.note)
    assert any("at least 5" in n for n in malformed.note)
    scored = t[t.status == "scored"]
    assert scored["combined:BEAF_Kc"].notna().all() and t[t.status != "scored"]["alt:BEAF_Kc"].isna().all()
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert sum(summary["statuses"].values()) == len(t)
    assert "malformed" in proc.stdout and "scored" in proc.stdout


def test_ref_policies(tiny_checkpoint, tmp_path):
    fa, vcf = _bad_vcf(tmp_path)
    skip = score_variants(str(tiny_checkpoint), str(vcf), str(fa), str(tmp_path / "s"), ref_policy="skip",
                          progress=False)
    assert skip.statuses["ref_mismatch"] == 1
    gen = read_tsv(tmp_path / "s.tsv")
    score_variants(str(tiny_checkpoint), str(vcf), str(fa), str(tmp_path / "g"), ref_policy="genome", progress=False)
    score_variants(str(tiny_checkpoint), str(vcf), str(fa), str(tmp_path / "v"), ref_policy="vcf", progress=False)
    g, v = read_tsv(tmp_path / "g.tsv").set_index("id"), read_tsv(tmp_path / "v.tsv").set_index("id")
    assert gen.set_index("id").loc["mismatch", "status"] == "ref_mismatch"
    # same ALT window; the reference window differs only by the REF base written into it
    assert g.loc["mismatch", "alt:BEAF_Kc"] == pytest.approx(v.loc["mismatch", "alt:BEAF_Kc"], abs=1e-7)
    assert g.loc["ok_alias", "ref:BEAF_Kc"] == pytest.approx(v.loc["ok_alias", "ref:BEAF_Kc"], abs=1e-7)



def test_a_reference_of_another_build_is_counted_and_warned(tiny_checkpoint, tmp_path, caplog):
    """Scoring against the wrong FASTA must not look clean: rows whose REF differs are counted in
    the summary (also after --resume) and one warning says how many and what it usually means."""
    giab = TEST_DATA / "giab_tiny"
    seq = "".join(line.strip() for line in open(giab / "q.fa") if not line.startswith(">"))
    shifted = seq[7:] + seq[:7]  # same letters, another "build": most REF bases no longer line up
    write_fasta(tmp_path / "other.fa", {"q": shifted})
    vcf = str(giab / "NA12878.chr22.tiny.giab.vcf")
    s = score_variants(str(tiny_checkpoint), vcf, str(tmp_path / "other.fa"), str(tmp_path / "o"), progress=False)
    t = read_tsv(tmp_path / "o.tsv")
    differ = int((t.ref_match.astype(str) == "False").sum())
    assert differ >= 7 and s.ref_check == {"compared": 14, "differ": differ}
    summary = json.load(open(tmp_path / "o.summary.json"))
    assert summary["ref_check"] == {"compared": 14, "differ": differ}
    assert any(f"REF differs from the reference in {differ} of 14 rows" in w for w in summary["warnings"])
    assert f"REF differs from the reference in {differ} of 14" in caplog.text
    assert f"in {differ:,} of 14 rows compared" in s.format()
    # a run cut after 5 rows and resumed counts the rows of both runs
    lines = open(tmp_path / "o.tsv").read().splitlines(True)
    (tmp_path / "r.tsv.partial").write_text("".join(lines[:6]))
    meta = json.load(open(tmp_path / "o.summary.json"))["meta"]
    from dnaseq.apply.variant_writers import _run_key
    from dnaseq.outputs import write_run_settings
    write_run_settings(str(tmp_path / "r.tsv.partial"), _run_key(meta))
    r = score_variants(str(tiny_checkpoint), vcf, str(tmp_path / "other.fa"), str(tmp_path / "r"), progress=False,
                       resume=True)
    assert r.ref_check == s.ref_check and r.rows == 14
    # the right reference: nothing to warn about
    ok = score_variants(str(tiny_checkpoint), vcf, str(giab / "q.fa"), str(tmp_path / "ok"), progress=False)
    assert ok.ref_check == {"compared": 14, "differ": 0} and not ok.warnings

def test_empty_and_truncated_vcfs(tiny_checkpoint, tmp_path):
    fa, _ = _bad_vcf(tmp_path)
    empty = tmp_path / "empty.vcf"
    empty.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n")
    s = score_variants(str(tiny_checkpoint), str(empty), str(fa), str(tmp_path / "e"), progress=False)
    assert s.rows == 0 and len(read_tsv(tmp_path / "e.tsv")) == 0
    # nothing scored is exit status 3, with the reason
    proc = run_cli("score-variants", "-m", tiny_checkpoint, "--vcf", empty, "-r", fa, "-o", tmp_path / "e2",
                   check=False)
    assert proc.returncode == 3 and "holds no variant record: nothing was scored" in proc.stderr
    body = "".join(f"chr1\t{p}\t.\tA\tC\t.\t.\t.\n" for p in range(100, 2000))
    blob = gzip.compress(("#CHROM\tPOS\tID\tREF\tALT\n" + body).encode())
    trunc = tmp_path / "t.vcf.gz"
    trunc.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="t.vcf.gz is truncated or corrupt"):  # read to its end before any output
        score_variants(str(tiny_checkpoint), str(trunc), str(fa), str(tmp_path / "t"), progress=False)
    assert not list(tmp_path.glob("t.*tsv*"))


def test_cli_missing_files_are_clear(tiny_checkpoint, tmp_path):
    fa, vcf = _bad_vcf(tmp_path)
    p = run_cli("score-variants", "-m", tiny_checkpoint, "--vcf", tmp_path / "nope.vcf", "-r", fa, "-o",
                tmp_path / "x", check=False)
    assert p.returncode == 1 and "nope.vcf" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("score-variants", "-m", tmp_path / "nope.ckpt", "--vcf", vcf, "-r", fa, "-o", tmp_path / "x",
                check=False)
    assert p.returncode == 1 and "nope.ckpt" in p.stderr


def test_a_malformed_multi_allelic_record_gives_one_row_per_alt():
    """Issue 32: REF 'G?' with ALT A,C,T is three malformed rows (alt_index 0-2, each ALT's
    own text), as a readable record would be three scored rows; POS that is no integer, too."""
    from dnaseq.sequence.vcf import _parse_line
    rows = _parse_line("chr2L\t20001\tm\tG?\tA,C,T\t.\t.\t.", 7)
    assert [(r.alt, r.alt_index, r.kind) for r in rows] == [("A", 0, "malformed"), ("C", 1, "malformed"),
                                                            ("T", 2, "malformed")]
    assert all(r.pos == 20001 and r.ref == "G?" and "REF 'G?' is not a DNA sequence" in r.problem for r in rows)
    rows = _parse_line("chr2L\t20x01\tp\tG\tA,C\t.\t.\t.", 8)
    assert [(r.pos, r.alt) for r in rows] == [(-1, "A"), (-1, "C")] and "POS '20x01'" in rows[1].problem


def test_an_ambiguity_letter_in_the_genome_is_shown_and_matches_what_it_stands_for(tmp_path):
    """The genome's Y (C or T) under an SNV: REF T is compatible (ref_match True), REF A is not;
    both are reference_is_n (the site is unknown), and the notes show the Y, not an N."""
    from dnaseq.apply.variant_windows import prepare
    from dnaseq.sequence.vcf import VariantRow
    seq = "ACGT" * 50
    fa = write_fasta(tmp_path / "y.fa", {"c": seq[:99] + "y" + seq[100:]})  # lowercase (soft-masked) Y
    rows = [VariantRow(1, "c", 100, "t", "T", "G", 0, "snv"), VariantRow(2, "c", 100, "a", "A", "G", 0, "snv"),
            VariantRow(3, "c", 99, "ok", seq[98], "A" if seq[98] != "A" else "C", 0, "snv")]
    prep = prepare(rows, dnaseq.Genome(str(fa)), 50)
    assert prep.status == ["reference_is_n", "reference_is_n", "scored"]
    assert prep.ref_match == [True, False, True]
    assert "N or ambiguous (Y) at 1 of 1" in prep.note[0] and "differs" not in prep.note[0]
    assert "REF A differs from the reference (Y)" in prep.note[1]


def test_repeated_records_and_alts_are_scored_with_a_note(tmp_path):
    """A record repeated (adjacent, as in a sorted VCF) or an ALT listed twice is scored each time,
    never silently: the row says which line it repeats and the report counts them."""
    from dnaseq.sequence.vcf import VcfReport, read_vcf
    vcf = tmp_path / "dup.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
                   "c\t10\ta\tA\tG\nc\t10\tb\ta\tg\nc\t10\tc\tA\tT\nc\t20\td\tC\tT,T\nc\t30\te\tG\tA\n")
    report = VcfReport(str(vcf))
    rows = list(read_vcf(str(vcf), report))
    assert [r.duplicate_of for r in rows] == [0, 3, 0, 0, 6, 0]
    assert report.duplicates == 2 and report.first_duplicate_line == 4
    assert any("2 rows repeat an earlier row's CHROM, POS, REF and ALT (first: line 4)" in w for w in report.warnings())
