"""Stale, partial, empty or garbage FASTA indexes: Genome rebuilds them or stops, never uses them.

Every case writes real files (plain and BGZF via ``write_fasta``), builds a correct index, then
breaks it the way it happens in practice and checks that the right bases come back.
"""
import json
import logging
import os
import stat
import warnings

import numpy as np
import pandas as pd
import pyfaidx
import pytest

import dnaseq.sequence.fasta_index as fasta_index
from dnaseq import Genome, decode
from dnaseq.sequence.genome import check_index, write_fasta
from dnaseq.sequence.vcf import write_vcf
from tests.conftest import run_cli

RNG = np.random.default_rng(7)
SEQS = {"chr1": "".join(RNG.choice(list("ACGT"), size=1000)),
        "chr2": "".join(RNG.choice(list("ACGT"), size=700))}
SUFFIXES = [".fa", ".fa.gz"]


def make(tmp_path, suffix, width=60, name="g"):
    """A two-sequence FASTA with a correct index built by Genome."""
    path = write_fasta(tmp_path / f"{name}{suffix}", SEQS, width=width)
    Genome(path).close()
    assert os.path.exists(f"{path}.fai")
    return str(path)


def make_older(path, seconds=100):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10 ** 9))


def rebuilt_warnings(caplog):
    return [r for r in caplog.records if r.name == "dnaseq.sequence.genome" and r.levelno == logging.WARNING]


def assert_correct(path):
    with Genome(path) as g:
        assert g.lengths == {k: len(v) for k, v in SEQS.items()}
        for name, seq in SEQS.items():
            assert decode(g.chromosome_codes(name, piece=333)) == seq
        assert decode(g.fetch("chr2", 100, 600).codes) == SEQS["chr2"][100:600]
        w = g.window("chr2", 650, 500)
        assert decode(w.codes) == SEQS["chr2"][400:] + "N" * 200 and w.pad_right == 200


def assert_rebuilt_once(path, caplog, reason):
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dnaseq.sequence.genome"):
        assert_correct(path)
    warned = rebuilt_warnings(caplog)
    assert len(warned) == 1, [r.getMessage() for r in warned]
    msg = warned[0].getMessage()
    assert f"{path}.fai" in msg and reason in msg
    assert check_index(path) is None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dnaseq.sequence.genome"):
        Genome(path).close()  # fixed for good: no second warning
    assert not rebuilt_warnings(caplog)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_correct_index_is_kept(tmp_path, caplog, suffix):
    path = make(tmp_path, suffix)
    before = os.stat(f"{path}.fai").st_mtime_ns
    with caplog.at_level(logging.WARNING):
        assert_correct(path)
    assert not rebuilt_warnings(caplog)
    assert os.stat(f"{path}.fai").st_mtime_ns == before
    assert check_index(path) is None


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_partial_index_is_rebuilt(tmp_path, caplog, suffix):
    """Before: chr2 -> UnknownChromosomeError / variants 'unknown_chromosome'."""
    path = make(tmp_path, suffix)
    fai = open(f"{path}.fai").read().splitlines()
    open(f"{path}.fai", "w").write(fai[0] + "\n")
    assert "missing from the index" in check_index(path)
    assert_rebuilt_once(path, caplog, "a sequence missing from the index")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_index_missing_the_first_sequence_is_rebuilt(tmp_path, caplog, suffix):
    path = make(tmp_path, suffix)
    fai = open(f"{path}.fai").read().splitlines()
    open(f"{path}.fai", "w").write(fai[1] + "\n")
    assert_rebuilt_once(path, caplog, "missing from the index")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_empty_index_is_rebuilt(tmp_path, caplog, suffix):
    """Before: no sequences at all (every chromosome unknown)."""
    path = make(tmp_path, suffix)
    open(f"{path}.fai", "w").close()
    assert_rebuilt_once(path, caplog, "is empty")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_older_index_of_rewrapped_fasta_is_rebuilt(tmp_path, caplog, suffix):
    """Before: 'could not broadcast input array from shape (499,) into shape (500,)'."""
    path = make(tmp_path, suffix, width=60)
    write_fasta(path, SEQS, width=50)  # rewrapped after indexing
    for idx in (f"{path}.fai", f"{path}.gzi"):
        if os.path.exists(idx):
            make_older(idx)
    # the stale index really is wrong: pyfaidx, as the old Genome opened it, misreads chr2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pyfaidx: "Index file ... is older"
        raw = pyfaidx.Fasta(path, as_raw=True, rebuild=False, build_index=False)["chr2"][100:600]
    assert raw != SEQS["chr2"][100:600]
    assert_rebuilt_once(path, caplog, "older than the FASTA")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_newer_index_of_rewrapped_fasta_is_rebuilt(tmp_path, caplog, suffix):
    """The old index copied back after rewrapping: mtime looks fine, the line widths do not."""
    path = make(tmp_path, suffix, width=60)
    saved = {ext: open(f"{path}{ext}", "rb").read() for ext in (".fai", ".gzi")
             if os.path.exists(f"{path}{ext}")}
    write_fasta(path, SEQS, width=50)
    make_older(path)
    for ext, data in saved.items():
        open(f"{path}{ext}", "wb").write(data)
    assert_rebuilt_once(path, caplog, "rewrapped")


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("edit,reason", [
    (("chr2", {1: "650"}), "more sequence after the 650 bases"),  # too short: chr2 looks cut
    (("chr1", {1: "1003"}), "runs into the header of 'chr2'"),  # too long
    (("chr1", {1: "1100"}), "overlaps the sequence before it"),
    (("chr2", {1: "703"}), "no base at byte"),  # points past the end of the file
    (("chr2", {2: "1090"}), "the index puts 'chr2' at byte 1090"),  # its second line
    (("chr2", {2: "1027"}), "byte 1027 is not the start of a line"),
    (("chr1", {3: "70", 4: "71"}), "first line is not 70 bases"),  # wrong line width
    (("chr1", {3: "70"}), "impossible line widths 70/61"),
    (("chr1", {0: "chrX"}), "after header 'chr1'"),  # another genome's names
])
def test_index_with_wrong_fields_is_rebuilt(tmp_path, caplog, suffix, edit, reason):
    path = make(tmp_path, suffix)
    name, changes = edit
    lines = [line.split("\t") for line in open(f"{path}.fai").read().splitlines()]
    assert lines[1][2] == "1029"  # chr2's offset, for the wrong ones above
    for fields in lines:
        if fields[0] == name:
            for field, value in changes.items():
                fields[field] = value
    open(f"{path}.fai", "w").write("".join("\t".join(f) + "\n" for f in lines))
    assert reason in check_index(path)
    assert_rebuilt_once(path, caplog, reason)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("garbage,reason", [
    (bytes(range(256)) * 4, "not a text index"),
    (b"\x00" * 64, "line 1 is not"),
    (b"chr1\t1000\t6\n", "line 1 is not"),
    (b"chr1\t-1000\t6\t60\t61\n", "line 1 is not"),
    (b"chr1\t1000\t6\t60\t61\n\n", "line 2 is not"),
])
def test_garbage_index_is_rebuilt(tmp_path, caplog, suffix, garbage, reason):
    """Before: UnicodeDecodeError / ValueError from pyfaidx's read_fai, or a wrong index."""
    path = make(tmp_path, suffix)
    open(f"{path}.fai", "wb").write(garbage)
    assert reason in check_index(path)
    assert_rebuilt_once(path, caplog, reason)


@pytest.mark.parametrize("damage,reason", [
    ("missing", ".gzi is missing"),
    ("older", ".gzi is older than the FASTA"),
    ("garbage", "is not a BGZF index"),
    ("truncated", "does not list all blocks"),
])
def test_bad_gzi_is_rebuilt(tmp_path, caplog, damage, reason):
    # several BGZF blocks (64 KiB each), so that a .gzi can be wrong in more ways than one
    seqs = {"chr1": "ACGT" * 60_000, "chr2": SEQS["chr2"]}
    path = str(write_fasta(tmp_path / "big.fa.gz", seqs))
    Genome(path).close()
    gzi = f"{path}.gzi"
    if damage == "missing":
        os.remove(gzi)
    elif damage == "older":
        make_older(gzi)
    elif damage == "garbage":
        open(gzi, "wb").write(b"not a gzi at all")
    else:
        data = open(gzi, "rb").read()
        n = int.from_bytes(data[:8], "little")
        open(gzi, "wb").write((n - 1).to_bytes(8, "little") + data[8:-16])
    assert reason in check_index(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dnaseq.sequence.genome"), Genome(path) as g:
        assert decode(g.fetch("chr1", 239_990, 240_010).codes) == seqs["chr1"][239_990:] + "N" * 10
        assert decode(g.fetch("chr2", 0, 700).codes) == seqs["chr2"]
    assert len(rebuilt_warnings(caplog)) == 1 and reason in rebuilt_warnings(caplog)[0].getMessage()
    assert check_index(path) is None


def _read_only_case(tmp_path, suffix):
    path = make(tmp_path, suffix)
    fai = open(f"{path}.fai").read().splitlines()
    open(f"{path}.fai", "w").write(fai[0] + "\n")
    return path


def _assert_read_only_error(path, err):
    msg = str(err.value)
    assert "\n" not in msg
    assert path in msg and f"{path}.fai" in msg and "does not match" in msg
    assert "delete the index" in msg and f"samtools faidx {path}" in msg
    assert "missing from the index" in msg
    assert open(f"{path}.fai").read().count("\n") == 1  # left alone


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_read_only_folder_with_stale_index_stops(tmp_path, suffix):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = _read_only_case(folder, suffix)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("chmod does not stop this user (root) from writing")
        with pytest.raises(ValueError) as err:
            Genome(path)
        _assert_read_only_error(path, err)
    finally:
        folder.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_unwritable_folder_with_stale_index_stops(tmp_path, monkeypatch, suffix):
    """The same decision with the folder check forced (runs as root too)."""
    path = _read_only_case(tmp_path, suffix)
    monkeypatch.setattr(fasta_index, "_folder_writable", lambda folder: False)
    with pytest.raises(ValueError) as err:
        Genome(path)
    _assert_read_only_error(path, err)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_read_only_folder_without_index_keeps_the_clear_error(tmp_path, monkeypatch, suffix):
    """Before (non-root): pyfaidx's OSError '... may not be writable. Please use Fasta(rebuild=False)'."""
    path = str(write_fasta(tmp_path / f"g{suffix}", SEQS))
    monkeypatch.setattr(fasta_index, "_folder_writable", lambda folder: False)
    with pytest.raises(ValueError, match=r"cannot write its index .*g\.fa(\.gz)?\.fai.*samtools faidx"):
        Genome(path)
    assert not os.path.exists(f"{path}.fai")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_index_is_built_quietly(tmp_path, caplog, suffix):
    path = str(write_fasta(tmp_path / f"g{suffix}", SEQS))
    with caplog.at_level(logging.WARNING):
        assert_correct(path)
    assert not rebuilt_warnings(caplog)
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]  # temporary index files renamed


def test_fasta_with_future_mtime_gets_an_index_that_stays_valid(tmp_path, caplog):
    path = str(write_fasta(tmp_path / "g.fa", SEQS))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3600 * 10 ** 9))  # clock skew
    assert_correct(path)
    assert check_index(path) is None


def test_duplicate_names_are_a_clear_error(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nACGT\n>b\nCC\n>a\nGG\n")
    with pytest.raises(ValueError, match=r"more than one sequence is named \"a\""):
        Genome(path)


def test_misread_inside_a_sequence_is_an_error_not_wrong_bases(tmp_path):
    """A stray '\\r' in a middle line: pyfaidx's index counts it, its reads drop it."""
    path = tmp_path / "cr.fa"
    path.write_bytes(b">c\nACGTA\nAC\rGT\nACGTA\nACG\n")
    g = Genome(path)
    assert decode(g.fetch("c", 0, 5).codes) == "ACGTA"
    with pytest.raises(ValueError, match="do not match the index"):
        g.fetch("c", 3, 12)


def test_gzip_named_fa_is_a_clear_error(tmp_path):
    import gzip
    path = tmp_path / "g.fa"
    path.write_bytes(gzip.compress(b">c\nACGT\n"))
    with pytest.raises(ValueError, match="gzip-compressed"):
        Genome(path)



def test_plain_fasta_named_gz_and_irregular_lines_say_how_to_fix(tmp_path):
    plain = tmp_path / "plain.fa.gz"  # not compressed at all: renaming, not recompressing, fixes it
    plain.write_text(">c\nACGTACGT\n")
    with pytest.raises(ValueError, match="not compressed although its name ends in .gz; rename it"):
        Genome(plain)
    ragged = tmp_path / "ragged.fa"  # lines of 6, 4 and 6 bases: no index can address it
    ragged.write_text(">c\nACGTAC\nGTAC\nGTACGT\nA\n")
    with pytest.raises(ValueError, match=r"cannot index this FASTA: .*line.*; rewrap it to one line length, "
                                         r"e.g. `seqkit seq -w 60"):
        Genome(ragged)

def test_cli_scores_variants_on_the_sequence_missing_from_a_stale_index(tiny_checkpoint, tmp_path):
    """Before: every chr2 variant came out unknown_chromosome; now the index is rebuilt."""
    rng = np.random.default_rng(11)
    seqs = {"chr1": "".join(rng.choice(list("ACGT"), size=3000)),
            "chr2": "".join(rng.choice(list("ACGT"), size=2500))}
    fa = str(write_fasta(tmp_path / "ref.fa", seqs))
    Genome(fa).close()
    fai = open(f"{fa}.fai").read().splitlines()
    open(f"{fa}.fai", "w").write(fai[0] + "\n")  # an index made before chr2 was added
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    records = [(c, p, f"{c}_{p}", seqs[c][p - 1], other[seqs[c][p - 1]])
               for c in seqs for p in (10, 1200, 2400)]
    vcf = write_vcf(str(tmp_path / "v.vcf"), records)
    proc = run_cli("score-variants", "-m", tiny_checkpoint, "--vcf", vcf, "-r", fa, "-o", tmp_path / "out",
                   "-q")
    assert "rebuilding the index" in proc.stderr and f"{fa}.fai" in proc.stderr
    t = pd.read_csv(tmp_path / "out.tsv", sep="\t", comment="#", keep_default_na=False)
    assert len(t) == 6
    assert (t.status == "scored").all(), t[["id", "status", "note"]]
    assert set(t.ref_match.astype(str)) == {"True"}
    assert json.loads((tmp_path / "out.summary.json").read_text())["statuses"] == {"scored": 6}
