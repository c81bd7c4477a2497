"""dnaseq.models.overlap: overlapping reference windows run the tower's first layers once, and every
window still gets its own pass's numbers (checked against the windows' contents)."""
import numpy as np
import pytest
import torch
from torch import nn

import dnaseq
from dnaseq.models import overlap
from dnaseq.models.fast_ism import edited_logits
from dnaseq.models.tower import pool_first
from dnaseq.sequence.onehot import one_hot

L = 1000
ATOL = 1e-5

MODELS = {
    "deepsea": ("deepsea", dict(), 919),
    "deepsea_like": ("conv_recurrent", dict(conv_filters=[16, 24, 32], conv_widths=8, pool_sizes=[4, 4, 1],
                                            rnn_type="none", readout="flatten", head_hidden=[16]), 6),
    "gru": ("conv_recurrent", dict(conv_filters=[16, 16], conv_widths=[9, 5], pool_sizes=[4, 2], rnn_type="gru",
                                   rnn_hidden=8, readout="flatten"), 6),
    "danq": ("danq", dict(), 919),
}


def _model(name):
    arch, kwargs, f = MODELS[name]
    torch.manual_seed(0)
    return dnaseq.build_model(arch, L, f, **kwargs).eval()


def _windows(n_dense=24, seed=0):
    """Windows on two sequences (keys 0 and 1, the same coordinates): a dense run of starts on
    key 0 (mixed phases), two on key 1, one far away, and one whose contents disagree with the
    genome (a VCF REF that is not the reference's)."""
    rng = np.random.default_rng(seed)
    genomes = [rng.integers(0, 4, 40_000).astype(np.uint8) for _ in range(2)]
    starts = np.sort(rng.choice(np.arange(100, 3_000), n_dense, replace=False)).tolist()
    keys = [0] * n_dense
    starts += [500, 900]
    keys += [1, 1]
    starts.append(30_000)
    keys.append(0)
    codes = np.stack([genomes[k][s:s + L] for k, s in zip(keys, starts)])
    codes[3, 500] = (codes[3, 500] + 1) % 4  # disagrees with its neighbours
    return (one_hot(torch.from_numpy(codes)), torch.tensor(keys), torch.tensor(starts))


@pytest.mark.parametrize("name,depth,n_dense", [("deepsea_like", 4, 120), ("gru", 1, 120)])
def test_shared_layers_equal_each_windows_own_pass(name, depth, n_dense):
    tower = pool_first(_model(name).ism_parts()[0])
    x, keys, starts = _windows(n_dense)
    keep = [isinstance(layer, (nn.Conv1d, nn.MaxPool1d)) for layer in tower]
    d, acts, h = overlap.shared_prefix(tower, x, keys, starts, keep)
    assert d >= depth  # deepsea_like: at least up to the second pool's input
    own = x
    with torch.no_grad():
        for i, layer in enumerate(tower[:d]):
            if keep[i]:  # the input itself, then slices of the shared stretches
                got = acts[i] if i == 0 else acts[i].cols(0, own.shape[-1])
                torch.testing.assert_close(got, own, atol=ATOL, rtol=0)
                if i:
                    torch.testing.assert_close(acts[i].cols(5, 9), own[:, :, 5:9], atol=ATOL, rtol=0)
            else:
                assert acts[i] is None
            own = layer(own)
    torch.testing.assert_close(h, own, atol=ATOL, rtol=0)


def test_plan_shares_only_when_it_pays():
    tower = pool_first(_model("deepsea").ism_parts()[0])
    one_key = torch.zeros(256, dtype=torch.long)
    dense = torch.arange(0, 256 * 71, 71)  # a variant every 71 bp (the bench's density): 14 per window
    d, clusters = overlap.plan(tower, L, one_key, dense)
    assert isinstance(tower[d - 1], nn.Conv1d) and overlap.layer_lengths(tower[:d], L)[-1] == 241  # conv2
    assert len(clusters) == 4 and sum(len(c) for c in clusters) == 256  # one per phase (mod 4)
    denser = torch.arange(0, 256 * 21, 21)  # every 21 bp: the whole tower, 16 phases
    d, clusters = overlap.plan(tower, L, one_key, denser)
    assert d == len(tower) and len(clusters) == 16
    sparse = torch.arange(0, 256 * 701, 701)  # 1.4 per window: four phases do not pay
    assert overlap.plan(tower, L, torch.zeros(256, dtype=torch.long), sparse) is None
    other_keys = torch.arange(256)  # the same coordinates on 256 different sequences
    assert overlap.plan(tower, L, other_keys, dense) is None


@pytest.mark.parametrize("name", list(MODELS))
def test_edited_logits_with_coordinates_equal_full_passes_on_both_strands(name):
    model = _model(name)
    x, keys, starts = _windows(n_dense=40 if name == "deepsea" else 24)
    B = x.shape[0]
    alt = one_hot(torch.randint(0, 4, (B, 1), generator=torch.Generator().manual_seed(1)))
    col = torch.full((B,), L // 2)
    alt_x = x.clone()
    alt_x[torch.arange(B), :, L // 2] = alt[:, :, 0]
    with torch.no_grad():
        want_ref, want_alt = model(x), model(alt_x)
        want_ref_rc, want_alt_rc = model(x.flip(1, 2)), model(alt_x.flip(1, 2))
    ref, alt_logits = edited_logits(model, x, col, alt, where=(keys, starts))
    torch.testing.assert_close(ref, want_ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(alt_logits, want_alt, atol=ATOL, rtol=0)
    ref, alt_logits = edited_logits(model, x.flip(1, 2), L - col - 1, alt.flip(1, 2), where=(keys, -(starts + L)))
    torch.testing.assert_close(ref, want_ref_rc, atol=ATOL, rtol=0)
    torch.testing.assert_close(alt_logits, want_alt_rc, atol=ATOL, rtol=0)


def test_dense_vcf_scores_equal_full_passes(tiny_checkpoint, tmp_path, monkeypatch):
    """score-variants on a VCF with a variant every 7 bp, chromosome ends and a REF mismatch
    (its window differs from its neighbours'): local + shared equals full passes."""
    from dnaseq.models import fast_ism
    shared = []

    def spy(*args):
        got = overlap.shared_prefix(*args)
        shared.append(got is not None)
        return got
    monkeypatch.setattr(fast_ism, "shared_prefix", spy)
    from dnaseq.apply.variants import score_variants
    from dnaseq.sequence.genome import write_fasta
    from dnaseq.sequence.vcf import write_vcf
    rng = np.random.default_rng(5)
    seqs = {"chrA": "".join(rng.choice(list("ACGT"), 6_000)), "chrB": "".join(rng.choice(list("ACGT"), 3_000))}
    fa = str(write_fasta(tmp_path / "g.fa", seqs))
    records = []
    for chrom, seq in seqs.items():
        for p in range(1, len(seq) + 1, 7):
            ref = seq[p - 1]
            records.append((chrom, p, f"{chrom}_{p}", ref, "ACGT"[("ACGT".index(ref) + 1) % 4]))
    c, p, i, ref, alt = records[40]
    records[40] = (c, p, i, "ACGT"[("ACGT".index(ref) + 2) % 4], alt)  # REF differs from the genome
    vcf = write_vcf(str(tmp_path / "v.vcf"), records, {k: len(v) for k, v in seqs.items()})
    kw = dict(scores=("ref", "alt"), progress=False, strand="both", chunk_size=256, ref_policy="vcf")
    score_variants(str(tiny_checkpoint), vcf, fa, str(tmp_path / "local"), **kw)
    score_variants(str(tiny_checkpoint), vcf, fa, str(tmp_path / "full"), local=False, **kw)
    import pandas as pd
    opts = dict(sep="\t", keep_default_na=False, na_values=["nan"], dtype={"chrom": str, "id": str})
    a, b = pd.read_csv(tmp_path / "local.tsv", **opts), pd.read_csv(tmp_path / "full.tsv", **opts)
    assert (a.status == "scored").sum() == len(records) and sum(shared) >= len(shared) // 2  # most chunks shared
    num = [col for col in a.columns if ":" in col]
    np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), atol=1e-6)
