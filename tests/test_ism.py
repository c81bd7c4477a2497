import numpy as np
import pytest
import torch
from PIL import Image

import dnaseq
from dnaseq.apply.ism import ism
from dnaseq.apply.variants import score_variants
from dnaseq.sequence.genome import write_fasta
from dnaseq.sequence.vcf import write_vcf
from tests.conftest import run_cli


def test_ism_equals_scoring_each_mutant_alone(tiny_checkpoint):
    model = dnaseq.load_model(str(tiny_checkpoint))
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(2, 1000)).astype(np.uint8)
    codes[1, 7] = 4  # an N: all four bases are mutations there
    positions = [0, 7, 499, 500, 999]
    preds = ism(model, dnaseq.one_hot(codes), batch_size=5, positions=positions)
    assert preds.shape == (2, 4, 5, 8)
    with torch.no_grad():
        for s in range(2):
            ref = model.predict_proba(dnaseq.one_hot(codes[s]), strand="forward")[0]
            for k, p in enumerate(positions):
                for b in range(4):
                    mutant = codes[s].copy()
                    mutant[p] = b
                    alone = model.predict_proba(dnaseq.one_hot(mutant), strand="forward")[0]
                    assert torch.allclose(preds[s, b, k], alone, atol=1e-5)
                    if b == codes[s, p]:
                        assert torch.allclose(preds[s, b, k], ref, atol=1e-6)


def test_score_variants_matches_ism_at_the_centre(tiny_checkpoint, tmp_path):
    """A VCF of every substitution at a few positions gives ISM's numbers for windows centred there,
    with the same (as-trained) strand mode by default in both, and with both strands when asked."""
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), size=4000))
    fa = write_fasta(tmp_path / "g.fa", {"chrT": seq})
    model = dnaseq.load_model(str(tiny_checkpoint))
    records, expected = [], {}
    for pos0 in (1500, 2000, 2345):
        window = seq[pos0 - 500: pos0 + 500]  # centre base at index 500 = L // 2
        preds = ism(model, dnaseq.one_hot(window), positions=[500])
        for b, base in enumerate("ACGT"):
            if base != seq[pos0]:
                records.append(("chrT", pos0 + 1, f"v{pos0}{base}", seq[pos0], base))
                expected[f"v{pos0}{base}"] = preds[0, b, 0].numpy()
    vcf = write_vcf(str(tmp_path / "all.vcf"), records)
    score_variants(model, vcf, str(fa), str(tmp_path / "sv"), fmt="hdf5", progress=False)
    from dnaseq.apply.variant_writers import read_scores_h5
    table, scores, _ = read_scores_h5(str(tmp_path / "sv.h5"))
    assert (table.status == "scored").all() and len(table) == 9
    for i, vid in enumerate(table.id):
        assert np.allclose(scores["alt"][i], expected[vid], atol=1e-5)
    both = ism(model, dnaseq.one_hot(seq[1000:2000]), positions=[500], strand="both")  # row 0: pos0 1500
    score_variants(model, vcf, str(fa), str(tmp_path / "sv2"), fmt="hdf5", progress=False, strand="both")
    table, scores, _ = read_scores_h5(str(tmp_path / "sv2.h5"))
    b = "ACGT".index(table.alt[0])
    assert np.allclose(scores["alt"][0], both[0, b, 0].numpy(), atol=1e-5)


def test_ism_cli_region_and_fasta_with_plots(tiny_checkpoint, tmp_path):
    import h5py
    rng = np.random.default_rng(2)
    seq = "".join(rng.choice(list("ACGT"), size=3000))
    fa = write_fasta(tmp_path / "g.fa", {"chr1": seq})
    p = run_cli("ism", "-m", tiny_checkpoint, "-r", fa, "--region", "chr1:1,401-1,440", "-o", tmp_path / "r.h5",
                "--feature", "CTCF_Kc", "--plot-dir", tmp_path / "plots", "-q")
    assert "40 positions" in p.stdout
    with h5py.File(tmp_path / "r.h5") as h5:
        assert h5["ism"].shape == (1, 4, 40, 8)
        assert h5["positions"][0] == 1400 - (1420 - 500)
    for png in sorted((tmp_path / "plots").glob("*.png")):
        with Image.open(png) as im:
            assert im.format == "PNG"
    assert len(list((tmp_path / "plots").glob("*CTCF_Kc.heatmap.png"))) == 1
    assert len(list((tmp_path / "plots").glob("*CTCF_Kc.logo.png"))) == 1
    seqs = write_fasta(tmp_path / "s.fa", {"s1": seq[:1000], "s2": seq[1000:2000]})
    run_cli("ism", "-m", tiny_checkpoint, "--fasta", seqs, "-o", tmp_path / "f.h5", "-q", "--batch-size", "1000")
    with h5py.File(tmp_path / "f.h5") as h5:
        assert h5["ism"].shape == (2, 4, 1000, 8)
    short = write_fasta(tmp_path / "short.fa", {"s": seq[:50]})
    bad = run_cli("ism", "-m", tiny_checkpoint, "--fasta", short, "-o", tmp_path / "x.h5", check=False)
    assert bad.returncode == 1 and "1000 bp" in bad.stderr
    wide = run_cli("ism", "-m", tiny_checkpoint, "-r", fa, "--region", "chr1:1-2000", "-o", tmp_path / "x.h5",
                   check=False)
    assert wide.returncode == 1 and "more than the model" in wide.stderr


@pytest.mark.parametrize("arch,kwargs", [
    ("deepsea", {}),
    ("conv_recurrent", dict(conv_filters=[16, 16], conv_widths=[9, 5], pool_sizes=[4, 3], rnn_type="none",
                            readout="flatten", head_hidden=[32], batch_norm=True)),
    ("conv_recurrent", dict(conv_filters=[16], conv_widths=9, pool_sizes=5, rnn_type="gru", rnn_hidden=8,
                            readout="max")),
    ("conv_recurrent", dict(conv_filters=[8], conv_widths=11, pool_sizes=13, rnn_type="lstm", rnn_hidden=8)),
])
@pytest.mark.parametrize("strand", ["forward", "both"])
def test_local_ism_equals_full_forward_passes(arch, kwargs, strand):
    from dnaseq.models.fast_ism import supported
    torch.manual_seed(0)
    n_features = 919 if arch == "deepsea" else 5
    model = dnaseq.SequenceModel(arch, kwargs, seq_len=1000, n_features=n_features).eval()
    assert supported(model)
    codes = np.random.default_rng(1).integers(0, 4, size=(1, 1000)).astype(np.uint8)
    codes[0, 10] = 4
    positions = [0, 1, 10, 499, 500, 640, 998, 999] if arch == "deepsea" else None
    fast = ism(model, dnaseq.one_hot(codes), positions=positions, strand=strand, fast=True)
    full = ism(model, dnaseq.one_hot(codes), positions=positions, strand=strand, fast=False)
    assert torch.allclose(fast, full, atol=1e-5)
