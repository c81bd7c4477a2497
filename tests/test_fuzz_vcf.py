"""Fuzzing the VCF reader, prepare() and the writers with hypothesis.

Targets: arbitrary bytes (plain, gzip, truncated gzip); the GIAB tiny VCF mutated (columns
dropped / duplicated / swapped, random bytes injected, truncation, CRLF, BOM, multi-allelic ALTs
with empty entries, huge and negative POS, lowercase, IUPAC, symbolic and breakend ALTs, header
removed); and prepare() on random records against a tiny genome (N gap, soft-masking, a 5 bp
chromosome, chrM/MT aliases, windows of odd and even length).

Properties: nothing raises except check_vcf's ValueError for a non-VCF; every data line (not
empty, not starting with '#'; only '\\n' ends a line) gives exactly one row per ALT (the commas
of column 5 plus one) when its CHROM/POS/REF are readable and exactly one ``malformed`` row
otherwise; every row gets a status from ``STATUSES``; TSV and HDF5 writers take every row and
the TSV reads back with ``pandas.read_csv(path, sep="\\t")`` with one row per row.

CI budget: 60 examples per target by default (a few seconds each), the same examples every
run. Run longer and random with e.g. ``DNASEQ_FUZZ_EXAMPLES=5000 python -m pytest
tests/test_fuzz_vcf.py``.
"""
import gzip
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dnaseq.apply.variant_writers import make_writer, read_scores_h5  # noqa: E402
from dnaseq.apply.variant_windows import STATUSES, prepare  # noqa: E402
from dnaseq.sequence.genome import Genome, write_fasta  # noqa: E402
from dnaseq.sequence.vcf import VariantRow, VcfReport, _parse_line, check_vcf, count_records, read_vcf  # noqa: E402
from tests.conftest import TEST_DATA  # noqa: E402

_ENV = os.environ.get("DNASEQ_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(_ENV or 60), deadline=None, derandomize=_ENV is None, database=None,
                suppress_health_check=list(HealthCheck))
GIAB = (TEST_DATA / "giab_tiny" / "NA12878.chr22.tiny.giab.vcf").read_bytes()

# --- an independent oracle: how many rows each data line must give -------------------------
_POS = re.compile(rb"-?[0-9]+")
_REF = re.compile(rb"[ACGTNRYSWKMBDHVacgtnryswkmbdhv]+")


def expected_rows(data: bytes) -> dict:
    """{line number: (rows, whether CHROM/POS/REF can be read)} for the text ``data`` (a BOM, CR before LF, '#' and empty lines aside)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = {}
    for no, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r")
        if not line or line.startswith(b"#"):
            continue
        cols = line.split(b"\t")
        if len(cols) < 5:
            out[no] = (1, False)
            continue
        pos = cols[1]
        readable = (cols[0] != b"" and _POS.fullmatch(pos) is not None and len(pos) <= 19
                    and 1 <= int(pos) < 2 ** 62 and _REF.fullmatch(cols[3]) is not None)
        out[no] = (cols[4].count(b",") + 1, readable)  # one row per ALT, the record readable or malformed
    return out


def check_rows(rows, expected, complete=True):
    by_line = defaultdict(list)
    for r in rows:
        by_line[r.line].append(r)
    lines = [r.line for r in rows]
    assert lines == sorted(lines)
    if complete:
        assert set(by_line) == set(expected)
    for no, got in by_line.items():
        if not complete and no == max(by_line):
            continue  # the line where a truncated gzip stopped may be cut short
        assert no in expected
        n, readable = expected[no]
        assert len(got) == n, (no, got)
        assert readable or all(r.kind == "malformed" for r in got), (no, got)
        assert [r.alt_index for r in got] == list(range(len(got)))
        assert all(r.problem for r in got if r.kind == "malformed")
        for r in got:
            assert isinstance(r.pos, int) and -2 ** 63 < r.pos < 2 ** 63


def write(data: bytes, how: str, work: Path) -> Path:
    path = work / "in.vcf"
    if how == "gzip":
        data = gzip.compress(data, mtime=0)
    elif how == "truncated":
        blob = gzip.compress(data, mtime=0)
        data = blob[: max(1, len(blob) * 2 // 3)]
    path.write_bytes(data)
    return path


def read_all(data: bytes, how: str, work: Path):
    path = write(data, how, work)
    try:
        check_vcf(str(path))
    except ValueError as exc:  # a non-VCF is refused with a message naming the file
        assert str(path) in str(exc)
    report = VcfReport(str(path))
    rows = list(read_vcf(str(path), report))
    if not report.corrupt:  # the progress total never undercounts the records read
        assert report.data_lines <= count_records(str(path)) <= data.count(b"\n") + 1
    if how == "truncated":
        corrupt = [r for r in rows if r.kind == "malformed" and "ends early or is corrupt" in r.problem]
        assert len(corrupt) <= 1 and (not corrupt or corrupt[0] is rows[-1])
        check_rows(rows[:-1] if corrupt else rows, expected_rows(data), complete=False)
    else:
        check_rows(rows, expected_rows(data))
    return rows


@FUZZ
@given(data=st.binary(max_size=3000), how=st.sampled_from(["plain", "gzip", "truncated"]))
def test_arbitrary_bytes(data, how, genome, work):
    rows = read_all(data, how, work)
    prep = prepare(rows, genome, 21)
    assert set(prep.status) <= set(STATUSES)
    write_both(prep, work)


@FUZZ
@given(data=st.binary(max_size=400).map(lambda b: b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n" + b))
def test_arbitrary_bytes_after_a_header(data, genome, work):
    rows = read_all(data, "plain", work)
    write_both(prepare(rows, genome, 20), work)


# --- mutations of a real VCF -----------------------------------------------------------
_SPECIAL = [b"A,,C", b",", b"A,", b",T", b"<DEL>", b"<INS:ME:ALU>", b"<*>", b"*", b".", b"]chr22:5]A",
            b"A[chr22:10[", b".A", b"Y", b"ACGTRYKM", b"n", b"", b"\x00", b"A\xff", b"T,\xc3\xa9"]
_POS_VALUES = [b"0", b"-1", b"-99", b"99999999999999999999999", b"9223372036854775807", b"1e5", b"", b" 5",
               b"\xd9\xa3", b"4611686018427387904", b"4611686018427387903", b"+5", b"00012"]


@st.composite
def mutated_giab(draw):
    lines = GIAB.split(b"\n")
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        cols = lines[i].split(b"\t")
        op = draw(st.sampled_from(["drop", "dup", "swap", "bytes", "alt", "pos", "lower", "iupac_ref", "blank",
                                   "join", "dup_line"]))
        j = draw(st.integers(0, max(0, len(cols) - 1)))
        k = draw(st.integers(0, max(0, len(cols) - 1)))
        if op == "drop" and cols:
            del cols[j]
        elif op == "dup" and cols:
            cols.insert(j, cols[j])
        elif op == "swap" and cols:
            cols[j], cols[k] = cols[k], cols[j]
        elif op == "bytes":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.binary(min_size=1, max_size=20)) + lines[i][at:]
            continue
        elif op == "alt" and len(cols) >= 5:
            cols[4] = draw(st.sampled_from(_SPECIAL))
        elif op == "pos" and len(cols) >= 2:
            cols[1] = draw(st.sampled_from(_POS_VALUES))
        elif op == "lower":
            cols = [c.lower() for c in cols]
        elif op == "iupac_ref" and len(cols) >= 4:
            cols[3] = draw(st.sampled_from([b"R", b"ANY", b"N", b"-", b"a c"]))
        elif op == "blank":
            cols = [b""] if draw(st.booleans()) else [b" \t "]
        elif op == "join" and i + 1 < len(lines):
            lines[i + 1] = lines[i] + lines[i + 1]
        elif op == "dup_line":
            lines.insert(i, lines[i])
        lines[i] = b"\t".join(cols)
    data = b"\n".join(lines)
    if draw(st.booleans()):
        data = data.replace(b"\n", b"\r\n")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data = b"\n".join(x for x in data.split(b"\n") if not x.startswith(b"#"))
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@FUZZ
@given(data=mutated_giab(), how=st.sampled_from(["plain", "gzip", "truncated"]))
def test_mutated_giab_vcf(data, how, giab_genome, work):
    rows = read_all(data, how, work)
    prep = prepare(rows, giab_genome, 1000)
    assert set(prep.status) <= set(STATUSES)


# --- prepare() on random records -----------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 300))
    seq = seq[:100] + "N" * 20 + seq[120:200].lower() + seq[200:]
    g = Genome(write_fasta(tmp_path_factory.mktemp("fuzzg") / "g.fa",
                           {"chr1": seq, "chr2": "ACGTA", "chrM": "ACGTACGTAC" * 3, "chrR": "ACRYN" * 10}))
    yield g
    g.close()


@pytest.fixture(scope="module")
def giab_genome():
    g = Genome(str(TEST_DATA / "giab_tiny" / "q.fa"))
    yield g
    g.close()


_DNA = st.text(alphabet="ACGTNacgtnRYU-.", min_size=0, max_size=12)
_ALT = st.one_of(_DNA, st.sampled_from(["<DEL>", "*", ".", "A[chr1:5[", "]chr1:3]A", "", "<INS>", "A\x00", "é"]))


@st.composite
def records(draw):
    chrom = draw(st.sampled_from(["chr1", "1", "chr2", "2", "chrM", "MT", "M", "chrR", "chrX", "", "chr1\x00"]))
    pos = draw(st.one_of(st.integers(-3, 310), st.sampled_from([2 ** 40, 2 ** 62 - 1, 10 ** 25])))
    if draw(st.booleans()):
        ref = draw(st.sampled_from(["A", "C", "N", "ACGT", "n", "R"]))
    else:
        ref = draw(_DNA)
    alts = ",".join(draw(st.lists(_ALT, min_size=1, max_size=3)))
    vid = draw(st.text(max_size=8))
    return "\t".join([chrom, str(pos), vid, ref, alts, ".", "PASS", "."]).replace("\n", " ")


@FUZZ
@given(lines=st.lists(records(), min_size=1, max_size=12), length=st.sampled_from([1, 2, 7, 20, 21]),
       policy=st.sampled_from(["genome", "vcf", "skip"]), score_n=st.booleans(),
       raw=st.lists(st.tuples(st.sampled_from(["snv", "mnv", "indel", "malformed", "star", "invalid_alt"]),
                              st.integers(-5, 400), st.text(alphabet="ACGTN", min_size=1, max_size=6),
                              st.text(alphabet="ACGTNacgt", min_size=1, max_size=6)), max_size=4))
def test_prepare_random_records(lines, length, policy, score_n, raw, genome, work):
    rows = [r for i, text in enumerate(lines, start=1) for r in _parse_line(text, i)]
    # rows built by hand (another reader, the Python API) need not be as clean as read_vcf's
    rows += [VariantRow(99, "chr1", pos, ".", ref, alt, 0, kind, "x") for kind, pos, ref, alt in raw]
    prep = prepare(rows, genome, length, policy, score_n)
    assert len(prep.status) == len(prep.note) == len(prep.ref_match) == len(prep.padded) == len(rows)
    assert set(prep.status) <= set(STATUSES)
    assert [prep.status[i] for i in prep.scored_index] == ["scored"] * len(prep.scored_index)
    assert prep.status.count("scored") == len(prep.scored_index)
    for w in prep.ref_codes + prep.alt_codes:
        assert w.shape == (length,) and w.max(initial=0) <= 4
    for r, s, n in zip(rows, prep.status, prep.note):
        assert s == "scored" or n, (r, s)  # every unscored row says why
        if s == "scored":
            assert r.kind in ("snv", "mnv", "indel") and r.pos >= 1
    write_both(prep, work)


def write_both(prep, work: Path):
    """Both writers take every row; the TSV reads back with the plain pandas call."""
    features = ["f1", "f\t2"]
    values = {"diff": np.full((len(prep.rows), 2), np.nan)}
    for fmt in ("tsv", "hdf5"):
        w = make_writer(fmt, str(work / "out"), features, ["diff"], {"x": "é\x00"})
        w.write(prep, values)
        w.commit()
    t = pd.read_csv(work / "out.tsv", sep="\t")
    assert len(t) == len(prep.rows)
    assert t["line"].tolist() == [r.line for r in prep.rows]
    table, _, _ = read_scores_h5(str(work / "out.h5"))
    assert len(table) == len(prep.rows)
    tsv_ids = pd.read_csv(work / "out.tsv", sep="\t", keep_default_na=False, dtype={"id": str})["id"].tolist()
    assert tsv_ids == table["id"].tolist()
