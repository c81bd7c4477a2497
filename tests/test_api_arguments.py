"""The Python API takes arguments the way users pass them: ``pathlib.Path`` wherever a path goes
(results and the run details saved beside them as with ``str``), and one name where a list of names
goes (a chromosome, a feature, a score type), never split into its letters."""
import json
from pathlib import Path

import pandas as pd
import torch
import pytest

import dnaseq
from tests.conftest import DATA, build_slice_dataset

REF = DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz"


def test_paths_as_path_objects_and_one_name_for_a_list(tiny_checkpoint, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("chr2L\t10000\t11000\tpeak_a\nchr2L\t20000\t21000\tpeak_b\n")
    out = dnaseq.predict(tiny_checkpoint, tmp_path / "p", reference=REF, regions=bed)
    as_text = dnaseq.predict(str(tiny_checkpoint), str(tmp_path / "q"), reference=str(REF), regions=str(bed))
    assert out.paths == [str(tmp_path / "p.tsv")]
    pd.testing.assert_frame_equal(pd.read_csv(out.paths[0], sep="\t"), pd.read_csv(as_text.paths[0], sep="\t"))

    model = dnaseq.load_model(tiny_checkpoint)
    named = dnaseq.predict(model, tmp_path / "named.tsv", reference=REF, regions=bed)  # the file's name as prefix
    assert named.paths == [str(tmp_path / "named.tsv")]
    with pytest.raises(ValueError, match="bigWig tracks are files: give out"):
        dnaseq.predict(model, reference=REF, chroms="chr2L", stride=20000, bigwig="all")
    feature = model.feature_names[0]
    tracks = dnaseq.predict(model, tmp_path / "w", reference=REF, chroms="chr2L", stride=20000, bigwig=feature)
    assert sorted(Path(p).name for p in tracks.paths) == sorted(["w.tsv", f"w.{feature}.bw"])  # one feature, not letters

    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chr2L\t155000\trs1\tA\tG\t.\t.\t.\n")
    ref_base = dnaseq.Genome(str(REF)).fetch_text("chr2L", 154999, 155000)
    vcf.write_text(vcf.read_text().replace("\tA\tG\t", f"\t{ref_base}\t{'G' if ref_base != 'G' else 'T'}\t"))
    scored = dnaseq.score_variants(tiny_checkpoint, vcf, REF, tmp_path / "s", scores="diff")
    table = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert scored.statuses["scored"] == 1, scored.format()
    assert scored.outputs[0] == str(tmp_path / "s.tsv")
    assert [c for c in table.columns if ":" in c] == [f"diff:{f}" for f in model.feature_names]

    ism = tmp_path / "ism.h5"
    dnaseq.run_ism(tiny_checkpoint, ism, reference=REF, region="chr2L:154501-155500")
    assert ism.exists() and not Path(str(ism) + ".partial").exists()

    ev = dnaseq.evaluate(tiny_checkpoint, build_slice_dataset(tmp_path), split="test", out_dir=tmp_path / "ev",
                         plots=False)
    dnaseq.compare(tmp_path / "ev", tmp_path / "ev", out_dir=tmp_path / "cmp")
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())  # the paths were JSON'd as text
    assert saved["a"] == str(tmp_path / "ev") and ev.summary is not None


def test_a_name_given_alone_is_not_split_into_letters(tmp_path):
    data = build_slice_dataset(tmp_path, "one.h5", valid_chroms="chr2L", valid_fraction=0.0, test_fraction=0.0,
                               test_chroms=[])
    assert len(dnaseq.open_split(Path(data), "valid")) > 0  # chr2L held out, not 'c', 'h', ...
    assert dnaseq.read_info(Path(data)).n_features == 8
    model = dnaseq.SequenceModel("deepsea", seq_len=1000, n_features=1, feature_names="CTCF")
    assert model.feature_names == ["CTCF"]


def test_a_json_that_cannot_be_written_leaves_no_file(tmp_path):
    from dnaseq.outputs import write_json

    with pytest.raises(TypeError):
        write_json(str(tmp_path / "x.json"), {"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_wrong_values_are_named_not_left_to_numpy_or_torch(tiny_checkpoint, shipped_dataset, tmp_path):
    """Each of these gave an IndexError, a numpy/torch TypeError or a UnicodeDecodeError."""
    import numpy as np

    genome = dnaseq.Genome(REF)
    model = dnaseq.load_model(tiny_checkpoint)
    cases = [
        (lambda: genome.window("chr2L", (155000 + 155101) / 2, 100), r"center must be a whole number.*\(start \+ end\) // 2"),
        (lambda: genome.fetch_text("chr2L", -5, 10), "is not inside chr2L .* fetch\\(\\) pads"),
        (lambda: dnaseq.reverse_complement(dnaseq.one_hot("ACGT").numpy()), "use dnaseq.reverse_complement_one_hot"),
        (lambda: dnaseq.decode(np.array([0, 7])), r"codes 0\.\.4 .* got values 0\.\.7"),
        (lambda: dnaseq.decode(np.array([-1])), r"got values -1\.\.-1"),  # was "N"
        (lambda: model.predict_proba("A" * model.seq_len, batch_size=-1), "batch_size must be a whole number >= 1"),
        (lambda: dnaseq.predict(model, chroms=["chr2L"], reference=REF, stride=200.0), "stride must be a whole"),
        (lambda: dnaseq.read_manifest(REF), "this is a FASTA sequence file, not a manifest"),
        (lambda: dnaseq.load_evaluation(tiny_checkpoint), "this is a model checkpoint, not an evaluation"),
        (lambda: dnaseq.build_model("deepsea", seq_len=1000.0, n_features=3), "seq_len must be a whole number"),
    ]
    for call, expect in cases:
        with pytest.raises((ValueError, TypeError), match=expect):
            call()
    genome.close()
    with pytest.raises(ValueError, match="was closed"):
        genome.fetch("chr2L", 0, 10)
    # and what works now
    assert dnaseq.reverse_complement("ACGTnR") == "YnACGT"
    x = dnaseq.one_hot("ACGTT", dtype=np.float32)
    assert x.dtype == torch.float32
    assert np.array_equal(dnaseq.reverse_complement_one_hot(x.numpy()), dnaseq.reverse_complement_one_hot(x).numpy())
    with dnaseq.Genome(REF) as g:
        assert g.window("chr2L", 155000, 50) == g.window("chr2L", np.int64(155000), 50)
        assert g.window("chr2L", 155000, 50) != g.window("chr2L", 155001, 50)
    ev = dnaseq.evaluate(model, shipped_dataset, split="test", plots=False, batch_size=256)
    assert dnaseq.compare(ev, ev).stats["roc_auc"]["compared"] == len(model.feature_names)
