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


def test_intervals_found_under_either_naming_scheme(tmp_path):
    path = tmp_path / "p.bed"
    path.write_text("chr2L\t100\t200\nMT\t5\t9\n2R\t1\t3\n")
    iv = read_intervals(path)
    assert iv.intervals("2L")[0].tolist() == [100]  # Ensembl name finds the UCSC record
    assert iv.intervals("chrM")[1].tolist() == [9]
    assert iv.intervals("chr2R")[0].tolist() == [1]
    assert iv.covered_bases("2L", np.array([150]), np.array([250])).tolist() == [50]
    assert iv.intervals("chr3L")[0].size == 0


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


def test_gff_and_gtf_are_read_as_intervals_by_content(tmp_path, caplog):
    """A GFF3 / GTF file given as peaks was taken line by line for a header (every feature
    negative); it is recognised by its columns, whatever it is called, and its 1-based closed
    intervals become BED's 0-based half-open ones."""
    import logging

    from dnaseq.sequence.intervals import iter_bed_records
    gff = tmp_path / "genes.bed"  # the name says BED; the content is GFF3
    gff.write_text("##gff-version 3\n"
                   "chr2L\tFlyBase\tgene\t7529\t9484\t.\t+\t.\tID=FBgn0031208\n"
                   "chr2L\tFlyBase\texon\t7529\t8116\t.\t+\t.\tParent=FBtr0300689\n")
    gtf = tmp_path / "genes.gtf.gz"
    with gzip.open(gtf, "wt") as fh:
        fh.write('chr2L\tFlyBase\texon\t100\t100\t0.5\t-\t0\tgene_id "g1"; transcript_id "t1";\n')
    with caplog.at_level(logging.WARNING, logger="dnaseq.sequence.intervals"):
        assert list(iter_bed_records(str(gff))) == [("chr2L", 7528, 9484), ("chr2L", 7528, 8116)]
        assert list(iter_bed_records(str(gtf))) == [("chr2L", 99, 100)]  # a 1 bp feature stays 1 bp
    assert sum("read as GFF/GTF" in r.getMessage() for r in caplog.records) == 2
    iv = read_intervals(str(gff))
    assert iv.covered_bases("chr2L", np.array([7528]), np.array([7728]))[0] == 200
    # a BED line with text in columns 2-3 is still an error, not GFF
    bed = tmp_path / "bad.bed"
    bed.write_text("chr2L\t100\t200\n" + "\t".join(["chr2L", "x", "y", "1", "2", ".", "+", ".", "z"]) + "\n")
    with pytest.raises(BedFormatError, match="bad.bed:2: start/end must be integers"):
        list(iter_bed_records(str(bed)))
