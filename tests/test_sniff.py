"""Files recognised by their content, whatever they are called: a file of another format given as
peaks or as the reference stops with one line naming the format and what to pass instead; a GFF
given as peaks is read, optionally one feature type (--gff-type)."""
import bz2
import gzip
import os
import shutil

import numpy as np
import pytest

import dnaseq
from dnaseq.sequence.intervals import BedFormatError, read_intervals
from dnaseq.sequence.sniff import sniff
from tests.conftest import run_cli

SLICE = "data/dm3_slice"
FA = f"{SLICE}/dm3_chr2L_400k.fa.gz"
BED = f"{SLICE}/BEAF_Kc_Bushey_2009.bed"


def _files(tmp_path):
    """name -> (path, expected kind): each a real file of its format, all named ``*.bed``."""
    out = {}

    def put(name, data, kind):
        path = tmp_path / f"{name}.bed"
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        out[name] = (path, kind)

    put("bed", open(BED, "rb").read(), "bed")
    put("narrowpeak", "chr2L\t100\t300\tp1\t0\t.\t5.2\t-1\t3.1\t80\n", "bed")
    put("bedgraph", "".join(f"chr2L\t{i * 50}\t{i * 50 + 50}\t{i % 3 * 0.5}\n" for i in range(40)), "bedgraph")
    put("bedgraph_track", "track type=bedGraph name=x\nchr2L\t0\t10\t1\n", "bedgraph")
    put("wig", "fixedStep chrom=chr2L start=1 step=10 span=10\n1.0\n2.0\n", "wig")
    put("gff", "##gff-version 3\nchr2L\tFlyBase\tgene\t7529\t9484\t.\t+\t.\tID=g\n", "gff")
    put("vcf", "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr2L\t5\t.\tA\tG\t.\t.\t.\n", "vcf")
    put("vcf_no_header", "chr2L\t5\trs1\tA\tG\t50\tPASS\t.\n", "vcf")
    put("sam", "@SQ\tSN:chr2L\tLN:400000\nr1\t0\tchr2L\t100\t60\t50M\t*\t0\t0\t" + "A" * 50 + "\t" + "I" * 50 + "\n", "sam")
    put("fasta", open(FA, "rb").read()[:0] + b">chr2L\nACGTACGT\n", "fasta")
    put("jaspar", ">MA0529.3\tBEAF-32\nA  [ 1 2 ]\nC  [ 0 1 ]\nG  [ 3 0 ]\nT  [ 0 1 ]\n", "jaspar")
    put("bam", gzip.compress(b"BAM\x01" + bytes(60)), "bam")
    put("bzip2", bz2.compress(open(BED, "rb").read()), "bzip2")
    put("zstd", b"\x28\xb5\x2f\xfd" + bytes(40), "zstd")
    put("hdf5", open("data/dm3_insulators.h5", "rb").read(4096), "hdf5")
    put("empty", "\n\n", "empty")
    try:
        import pyBigWig
        path = tmp_path / "signal.bw.bed"
        bw = pyBigWig.open(str(path), "w")
        bw.addHeader([("chr2L", 1000)])
        bw.addEntries(["chr2L"], [0], ends=[100], values=[1.5])
        bw.close()
        out["bigwig"] = (path, "bigwig")
    except ImportError:  # pyBigWig is optional
        pass
    return out


def test_sniff_names_each_format_by_content(tmp_path):
    for name, (path, kind) in _files(tmp_path).items():
        assert sniff(path).name == kind, name
    assert sniff(FA).name == "fasta" and sniff("data/dm3_insulators.h5").name == "hdf5"
    gz = tmp_path / "peaks.txt"  # gzip of a BED, named .txt
    gz.write_bytes(gzip.compress(open(BED, "rb").read()))
    assert sniff(gz).name == "bed"


@pytest.mark.parametrize("name, words", [
    ("bedgraph", "bedGraph signal track, not a BED or narrowPeak file; a signal track has no peaks"),
    ("wig", "wiggle signal track"), ("vcf", "VCF of variants"), ("sam", "SAM alignment file, not a BED or narrowPeak file; these are aligned reads"),
    ("bam", "BAM alignment file"), ("fasta", "FASTA sequence file"), ("bzip2", "decompress it (bunzip2)"),
    ("zstd", "zstd-compressed"), ("hdf5", "HDF5 file"), ("bigwig", "bigWig signal track")])
def test_a_file_of_another_format_given_as_peaks_is_refused_naming_it(tmp_path, name, words):
    files = _files(tmp_path)
    if name not in files:
        pytest.skip("pyBigWig is not installed")
    path = files[name][0]
    with pytest.raises(BedFormatError) as err:
        read_intervals(str(path))
    assert str(err.value).startswith(f"{path}: this is a") and words in str(err.value)


def test_gff_type_keeps_one_feature_type(tmp_path):
    gff = tmp_path / "genes.gff3"
    gff.write_text("##gff-version 3\n"
                   "chr2L\tFlyBase\tgene\t7529\t9484\t.\t+\t.\tID=g\n"
                   "chr2L\tFlyBase\texon\t7529\t8116\t.\t+\t.\tParent=t\n"
                   "chr2L\tFlyBase\texon\t8193\t9484\t.\t+\t.\tParent=t\n")
    iv = read_intervals(str(gff), gff_type="exon")
    assert [a.tolist() for a in iv.intervals("chr2L")] == [[7528, 8192], [8116, 9484]]
    assert dict(iv.skipped) == {"other GFF feature type": 1} and iv.n_records == 2
    with pytest.raises(BedFormatError, match=r"no GFF line of type 'CDS' \(--gff-type\); its types: exon \(2\), gene \(1\)"):
        read_intervals(str(gff), gff_type="CDS")
    assert read_intervals(str(gff)).n_records == 3


def test_a_reference_of_another_format_is_refused_naming_it(tmp_path):
    for name in ("bed", "vcf", "gff", "hdf5"):
        path = _files(tmp_path)[name][0]
        with pytest.raises(ValueError, match=f"^{path}: this is a .*, not a FASTA reference; the reference is a FASTA"):
            dnaseq.Genome(path)


def test_build_dataset_reads_a_gff_of_one_type_and_refuses_a_bedgraph(tmp_path):
    """Through the CLI: a GFF passed as peaks with --gff-type gives that feature's intervals; a
    bedGraph passed as peaks stops with exit 1 and one line naming it, before anything is written."""
    ref = tmp_path / "ref.fa.gz"
    shutil.copy(FA, ref)
    gff = tmp_path / "genes.txt"
    gff.write_text("##gff-version 3\n" + "".join(
        f"chr2L\tx\t{kind}\t{s + 1}\t{s + 400}\t.\t+\t.\tID={kind}{i}\n"
        for i, s in enumerate(range(10_000, 390_000, 20_000)) for kind in ("exon", "gene")))
    out = tmp_path / "d.h5"
    proc = run_cli("build-dataset", "--reference", ref, "--peaks", f"exons={gff}", "--gff-type", "exon",
                   "--out", out, "--test-chroms", "chr2L", "--max-n-fraction", "1", "-q")
    assert out.exists(), proc.stdout + proc.stderr
    import h5py
    with h5py.File(out) as f:
        assert int(np.asarray(f["test/labels"][:]).sum()) == 19 * 2  # 400 bp exons: 2 bins each
    graph = tmp_path / "signal.bed"
    graph.write_text("".join(f"chr2L\t{i * 50}\t{i * 50 + 50}\t{i % 3}\n" for i in range(40)))
    proc = run_cli("build-dataset", "--reference", ref, "--peaks", f"sig={graph}", "--out", tmp_path / "e.h5",
                   check=False)
    assert proc.returncode == 1 and not (tmp_path / "e.h5").exists()
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "this is a bedGraph signal track, not a BED or narrowPeak file" in err[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bed_or_fasta_given_as_the_vcf_is_refused_naming_it(tmp_path):
    """A BED6 line has an integer in column 2 and would pass for a VCF record (POS 65716, REF
    'BEAF_peak'): every row would come out malformed. By content it is a BED, and says so."""
    from dnaseq.sequence.vcf import check_vcf
    bed = tmp_path / "variants.vcf"
    bed.write_text("chr2L\t65716\t65959\tBEAF_peak\t0\t+\nchr2L\t73344\t73587\tCTCF_peak\t0\t-\n")
    with pytest.raises(ValueError, match=f"^{bed}: this is a BED file, not a VCF; --vcf takes a VCF"):
        check_vcf(str(bed))
    with pytest.raises(ValueError, match="this is a FASTA sequence file, not a VCF"):
        check_vcf(FA)
    check_vcf(str(_files(tmp_path)["vcf_no_header"][0]))  # records without a header are still a VCF


# -- fuzzing: the content rules hold for generated files of each kind -------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# 25 examples per target in the suite; DNASEQ_FUZZ_EXAMPLES=2000 for a long run (docs/testing.md)
FUZZ = settings(max_examples=int(os.environ.get("DNASEQ_FUZZ_EXAMPLES", "25")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
COORD = st.integers(1, 10 ** 6)


@FUZZ
@given(rows=st.lists(st.tuples(st.sampled_from(["chr2L", "2L", "scaffold_9"]), COORD, st.integers(0, 5000),
                               st.sampled_from(["gene", "exon", "CDS", "mRNA"]), st.sampled_from("+-.")),
                     min_size=1, max_size=20),
       header=st.booleans(), gtf=st.booleans(), name=st.sampled_from(["g.gff3", "g.bed", "g.txt"]))
def test_fuzzed_gff_is_read_as_one_based_closed_intervals(tmp_path_factory, rows, header, gtf, name):
    path = tmp_path_factory.mktemp("gff") / name
    attrs = 'gene_id "g"; transcript_id "t";' if gtf else "ID=x;Name=y"
    path.write_text(("##gff-version 3\n" if header else "") + "".join(
        f"{c}\tsrc\t{kind}\t{s}\t{s + n}\t.\t{strand}\t.\t{attrs}\n" for c, s, n, kind, strand in rows))
    assert sniff(path).name == "gff"
    iv = read_intervals(str(path), gff_type="exon") if any(r[3] == "exon" for r in rows) else read_intervals(str(path))
    wanted = [r for r in rows if r[3] == "exon"] or rows
    covered = {c: set() for c in iv.chroms}
    for c, s, n, _, _ in wanted:
        covered[c].update(range(s - 1, s + n))  # 1-based closed [s, s + n] -> 0-based [s - 1, s + n)
    for c, (starts, ends) in iv.chroms.items():
        assert sum(int(e - s) for s, e in zip(starts, ends)) == len(covered[c])


@FUZZ
@given(values=st.lists(st.floats(0, 100, allow_nan=False), min_size=5, max_size=60), step=st.integers(1, 500),
       track=st.booleans())
def test_fuzzed_signal_tracks_given_as_peaks_are_refused_by_name(tmp_path_factory, values, step, track):
    path = tmp_path_factory.mktemp("bg") / "peaks.bed"
    path.write_text(("track type=bedGraph\n" if track else "") + "".join(
        f"chr2L\t{i * step}\t{(i + 1) * step}\t{v:g}\n" for i, v in enumerate(values)))
    with pytest.raises(BedFormatError, match="this is a bedGraph signal track"):
        read_intervals(str(path))


@FUZZ
@given(cut=st.floats(0.0, 1.0), which=st.sampled_from(["hdf5", "bigwig", "bam", "bzip2", "gz_bed"]))
def test_truncated_binary_files_never_crash_the_readers(tmp_path_factory, cut, which):
    """A file of any kind cut anywhere: sniffing never raises, the peak reader and the genome stop
    with their own one-line errors (or read what is there, for a gzip of a BED)."""
    folder = tmp_path_factory.mktemp("cut")
    files = _files(folder)
    src = files[which][0] if which in files else None
    if which == "gz_bed":
        src = folder / "peaks.bed.gz"
        src.write_bytes(gzip.compress(open(BED, "rb").read()))
    if src is None:
        pytest.skip("pyBigWig is not installed")
    data = src.read_bytes()
    path = folder / "cut.bed"
    path.write_bytes(data[:int(len(data) * cut)])
    sniff(path)
    try:
        read_intervals(str(path))
    except BedFormatError as exc:
        assert str(exc).startswith(str(path))
    with pytest.raises((ValueError, OSError)):
        dnaseq.Genome(path)


@FUZZ
@given(records=st.lists(st.text("ACGTN", min_size=0, max_size=5), min_size=1, max_size=6))
def test_fasta_of_very_short_records_is_a_reference_not_peaks(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("fa") / "short.fa"
    path.write_text("".join(f">s{i}\n{seq}\n" for i, seq in enumerate(records)))
    assert sniff(path).name == "fasta"
    with pytest.raises(BedFormatError, match="this is a FASTA sequence file"):
        read_intervals(str(path))
