import gzip

import numpy as np
import pytest

from dnaseq.sequence.intervals import BedFormatError, coverage, merge_intervals, read_intervals


def test_merge_and_coverage():
    s, e = merge_intervals(np.array([10, 5, 30, 40]), np.array([20, 12, 40, 45]))
    assert s.tolist() == [5, 30] and e.tolist() == [20, 45]
    q0 = np.array([0, 5, 10, 19, 25, 35, 44, 50])
    q1 = np.array([5, 10, 20, 21, 35, 50, 46, 60])
    assert coverage(s, e, q0, q1).tolist() == [0, 5, 10, 1, 5, 10, 1, 0]


def test_headers_narrowpeak_and_gzip(tmp_path):
    text = ("track name=x\nbrowser position chr1:1-100\n# comment\n\n"
            "chr1\t100\t200\tpeak1\t0\t.\t5.0\t-1\t-1\t50\n"
            "chr1\t150\t300\n")
    path = tmp_path / "p.narrowPeak.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    iv = read_intervals(str(path))
    assert iv.n_records == 2
    s, e = iv.intervals("chr1")
    assert s.tolist() == [100] and e.tolist() == [300]


@pytest.mark.parametrize("line,problem", [
    ("chr1\t100", "at least 3"),
    ("chr1\tabc\t200", "integers"),
    ("chr1\t-5\t200", "negative start"),
    ("chr1\t300\t200", "before start"),
])
def test_malformed_lines_name_file_line_and_problem(tmp_path, line, problem):
    path = tmp_path / "bad.bed"
    path.write_text("chr1\t1\t10\n" + line + "\n")
    with pytest.raises(BedFormatError) as err:
        read_intervals(str(path))
    assert f"{path}:2" in str(err.value) and problem in str(err.value)


def test_skip_mode_counts_every_skipped_line(tmp_path):
    path = tmp_path / "bad.bed"
    path.write_text("chr1\t1\t10\nchr1\tx\t5\nchr1\t5\nchr1\t7\t7\nchr1\t20\t30\n")
    iv = read_intervals(str(path), on_bad_line="skip")
    assert iv.n_records == 2
    assert sum(iv.skipped.values()) == 3
    assert iv.skipped["zero-length interval"] == 1


def test_empty_and_truncated_files(tmp_path):
    empty = tmp_path / "empty.bed"
    empty.write_text("")
    assert read_intervals(str(empty)).n_records == 0
    full = gzip.compress(b"chr1\t1\t10\n" * 2000)
    trunc = tmp_path / "t.bed.gz"
    trunc.write_bytes(full[: len(full) // 2])
    with pytest.raises(BedFormatError, match="truncated"):
        read_intervals(str(trunc))


def test_a_column_header_before_the_data_is_skipped_and_counted(tmp_path):
    path = tmp_path / "with_header.bed"
    path.write_text("chrom\tstart\tend\nchr1\t1\t10\n")
    iv = read_intervals(str(path))
    assert iv.n_records == 1 and iv.skipped["header line"] == 1
    later = tmp_path / "late.bed"
    later.write_text("chr1\t1\t10\nchrom\tstart\tend\n")
    with pytest.raises(BedFormatError, match="late.bed:2"):
        read_intervals(str(later))


def test_read_only_folder_without_index(tmp_path):
    import os

    from dnaseq import Genome
    from dnaseq.sequence.genome import write_fasta
    folder = tmp_path / "ro"
    folder.mkdir()
    write_fasta(folder / "g.fa", {"c": "ACGT"})
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: nothing to check
            pytest.skip("running with permission to write anywhere")
        with pytest.raises(ValueError, match="cannot write its index"):
            Genome(folder / "g.fa")
    finally:
        os.chmod(folder, 0o755)
