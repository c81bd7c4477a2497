"""Files recognised by their content, whatever they are called: a file of another format given as
peaks or as the reference stops with one line naming the format and what to pass instead; a GFF
given as peaks is read, optionally one feature type (--gff-type)."""
import bz2
import gzip
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
