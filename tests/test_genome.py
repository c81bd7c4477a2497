import numpy as np
import pytest

from dnaseq import Genome, UnknownChromosomeError, decode
from dnaseq.sequence.genome import candidate_names, write_fasta
from tests.conftest import DATA


@pytest.fixture
def genome(tmp_path):
    path = write_fasta(tmp_path / "g.fa", {"chr1": "ACGTacgtNN" * 3, "MT": "GATTACA", "2": "CCCC"})
    return Genome(path)


def test_alias_resolution(genome):
    assert genome.resolve("chr1") == "chr1"
    assert genome.resolve("1") == "chr1"
    assert genome.resolve("chrM") == "MT"
    assert genome.resolve("M") == "MT"
    assert genome.resolve("chr2") == "2"
    assert genome.length("1") == 30
    assert "chrMT" in candidate_names("chrM")


def test_unknown_chromosome_lists_available(genome):
    with pytest.raises(UnknownChromosomeError) as err:
        genome.resolve("chr22")
    msg = str(err.value)
    assert "chr22" in msg and "chr1" in msg and "MT" in msg and "g.fa" in msg


def test_lowercase_reads_as_bases(genome):
    w = genome.fetch("chr1", 0, 10)
    assert decode(w.codes) == "ACGTACGTNN"
    assert not w.padded


def test_padding_at_both_ends(genome):
    left = genome.fetch("MT", -3, 4)
    assert decode(left.codes) == "NNNGATT" and left.pad_left == 3 and left.pad_right == 0
    right = genome.window("MT", 6, 6)  # centre base at index 3 -> [3, 9)
    assert decode(right.codes) == "TACANN" and right.pad_right == 2
    huge = genome.fetch("2", -2, 8)
    assert decode(huge.codes) == "NNCCCCNNNN" and huge.pad_left == 2 and huge.pad_right == 4
    off = genome.fetch("2", 10, 15)
    assert decode(off.codes) == "NNNNN"


def test_bgzf_fasta_and_chromosome_codes(tmp_path):
    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), size=5000))
    path = write_fasta(tmp_path / "g.fa.gz", {"chrZ": seq})
    g = Genome(path)
    assert decode(g.chromosome_codes("chrZ", piece=777)) == seq
    assert decode(g.fetch("Z", 100, 110).codes) == seq[100:110]
    assert g.checksum().startswith("md5:")


def test_plain_gzip_fasta_gets_a_clear_error(tmp_path):
    import gzip
    path = tmp_path / "plain.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(">c\nACGT\n")
    with pytest.raises(ValueError, match="bgzip"):
        Genome(path)


def test_missing_fasta(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fa"):
        Genome(tmp_path / "nope.fa")


def test_invalid_character_in_fasta_names_position(tmp_path):
    g = Genome(write_fasta(tmp_path / "bad.fa", {"c": "ACGT-ACGT"}))
    with pytest.raises(ValueError, match=r"invalid character '-' at 0-based position 4$"):
        g.chromosome_codes("c")
    p = Genome(write_fasta(tmp_path / "prot.fa", {"sp|P69905|HBA": "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF"}))
    with pytest.raises(ValueError, match=r"invalid character 'L' at 0-based position 2 \(its letters look like a "
                                         r"protein sequence: give a DNA FASTA\)"):
        p.chromosome_codes("sp|P69905|HBA")


def test_reads_that_start_on_a_bgzf_block_boundary(tmp_path):
    """pyfaidx 0.9 fails a read that starts exactly where a BGZF block starts (it seeks 65536
    bytes into the previous block): 1 in 65,536 window starts on a bgzipped genome, e.g. a
    variant at chr2L:322303 of the shipped dm3 slice. Every boundary reads the right bases."""
    import struct
    rng = np.random.default_rng(3)
    seq = "".join(rng.choice(list("ACGT"), 300_000))
    gz = write_fasta(tmp_path / "g.fa.gz", {"c": seq})
    g = Genome(str(gz))
    g.fetch("c", 0, 10)  # builds the .gzi
    raw = open(str(gz) + ".gzi", "rb").read()
    ustarts = [struct.unpack_from("<QQ", raw, 8 + 16 * i)[1] for i in range(struct.unpack_from("<Q", raw)[0])]
    header = len(">c\n")
    checked = 0
    for u in ustarts:
        line, col = divmod(u - header, 61)  # 60 bases and a newline per line
        if col == 60:
            continue  # the block starts on a newline, not a base
        pos = line * 60 + col
        for lo, hi in ((pos, pos + 1), (pos, pos + 1000), (pos - 1, pos + 1)):
            assert decode(g.fetch("c", lo, hi).codes) == seq[lo:hi]
        checked += 1
    assert checked >= 3


def test_a_truncated_bgzip_reference_says_so(tmp_path):
    """A BGZF FASTA cut short (an interrupted download) said only 'unpack requires a buffer of 4 bytes'."""
    whole = (DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz").read_bytes()
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(whole[:30_000])
    with pytest.raises(ValueError, match="cut.fa.gz: cannot index this FASTA: .*ends early or is damaged: copy or "
                                         "download it again"):
        Genome(str(cut))
