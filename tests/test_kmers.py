"""The k-mer wide part: exact counts, strand-blind, N-aware, and a model that carries it."""
import itertools

import numpy as np
import pytest
import torch

import dnaseq
from dnaseq.models import fast_ism
from dnaseq.models.kmers import KmerCounts, canonical_kmers
from dnaseq.sequence.encoding import encode
from dnaseq.sequence.onehot import one_hot, reverse_complement_one_hot
from tests.test_local_edit import check, random_alt, windows


def brute_counts(seq: str, k: int) -> dict:
    """Canonical k-mer counts of a DNA string, one k-mer at a time (the reference)."""
    comp = str.maketrans("ACGT", "TGCA")
    out = {}
    for i in range(len(seq) - k + 1):
        word = seq[i:i + k]
        if set(word) <= set("ACGT"):
            key = min(word, word.translate(comp)[::-1])
            out[key] = out.get(key, 0) + 1
    return out


def index_of(word: str) -> int:
    return int("".join(str("ACGT".index(b)) for b in word), 4)


@pytest.mark.parametrize("fill", [0.25, 0.0])
def test_counts_equal_counting_by_hand_with_n_and_both_strands(fill):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=120)) for _ in range(4)]
    seqs.append("N" * 120)
    x = one_hot(torch.as_tensor(encode(seqs)), fill=fill)
    for k in (1, 3, 6):
        layer = KmerCounts(k)
        counts = torch.expm1(layer(x)).round().long()
        canon = canonical_kmers(k)
        for row, seq in enumerate(seqs):
            expected = np.zeros(layer.n, np.int64)
            for word, n in brute_counts(seq, k).items():
                expected[canon[index_of(word)]] += n
            assert counts[row].tolist() == expected.tolist(), (k, seq)
        assert torch.equal(layer(reverse_complement_one_hot(x)), layer(x))  # strand-blind
    assert KmerCounts(6).n == 2080 and KmerCounts(5).n == 512
    with pytest.raises(ValueError, match="1 to 8"):
        KmerCounts(0)


def test_canonical_index_pairs_each_kmer_with_its_reverse_complement():
    canon = canonical_kmers(4)
    comp = str.maketrans("ACGT", "TGCA")
    for word in map("".join, itertools.product("ACGT", repeat=4)):
        assert canon[index_of(word)] == canon[index_of(word.translate(comp)[::-1])]
    assert len(set(canon.tolist())) == 136


def test_wide_and_deep_model_trains_and_scores_by_full_passes():
    torch.manual_seed(0)
    model = dnaseq.build_model("conv_recurrent", 400, 6, conv_filters=[8], conv_widths=9, pool_sizes=4,
                               rnn_type="gru", rnn_hidden=8, head_hidden=[16], kmer_k=5, kmer_dropout=0.2)
    x = one_hot(torch.randint(0, 4, (16, 400), dtype=torch.uint8))
    before = model.wide.linear.weight.detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), (torch.rand(16, 6) < 0.3).float())
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.wide.linear.weight)
    # in training mode (dropout on the counts) an edit's effect is not local: full passes
    assert model.reads_input and not fast_ism.supported(model)
    model.eval()
    with torch.no_grad():
        deep = model._after_conv(model.conv(x[:2]))
        assert torch.allclose(model(x[:2]), deep + model.wide(x[:2]))
    # in eval mode the wide part's change follows from the k-mers an edit touches: local recompute
    assert fast_ism.supported(model)
    xs = windows(4, 41, n_cols=(3,), length=400)
    check(model, xs, torch.tensor([0, 200, 399, 57]), random_alt(4, 1, 42))


@pytest.mark.parametrize("arch_args", [
    dict(rnn_type="none", readout="flatten"),  # dense-delta finish
    dict(rnn_type="lstm", bidirectional=True, readout="flatten"),  # local recurrence
    dict(rnn_type="lstm", bidirectional=True, readout="flatten", conv_readout="max"),  # the quick start's shape
])
@pytest.mark.parametrize("k_edit", [1, 3])
def test_wide_part_is_updated_exactly_by_local_recompute(arch_args, k_edit):
    """Wide-and-deep models take the local path: each edit's k-mer counts are the window's, less
    and plus the k-mers within k - 1 columns of it; equal to full passes for SNVs and MNVs at
    both window edges, next to N and in the middle, on both strands and in ISM."""
    from dnaseq.apply.ism import ism
    torch.manual_seed(1)
    model = dnaseq.build_model("conv_recurrent", 400, 5, conv_filters=[8], conv_widths=9, pool_sizes=4,
                               rnn_hidden=6, head_hidden=[8], kmer_k=6, **arch_args).eval()
    with torch.no_grad():  # a wide part whose weights matter as much as the deep part's
        model.wide.linear.weight.normal_(0, 0.5)
        model.wide.norm.running_var.fill_(0.3)
    assert fast_ism.supported(model)
    xs = windows(6, 43, n_cols=(5, 399 - k_edit), length=400)
    starts = torch.tensor([0, 1, 2, 200, 400 - k_edit, 399 - k_edit])
    check(model, xs, starts, random_alt(6, k_edit, 44))
    rc = torch.flip(xs, dims=(-2, -1))
    check(model, rc, 400 - k_edit - starts, random_alt(6, k_edit, 45))
    x = xs[:1]
    fast = ism(model, x, strand="both")
    full = ism(model, x, strand="both", fast=False)
    assert torch.allclose(fast, full, atol=1e-5), float((fast - full).abs().max())


@pytest.mark.parametrize("k,fill", [(3, 0.25), (6, 0.0)])
def test_count_gradient_is_exactly_ism_of_a_linear_count_model(k, fill):
    """d/dx of sum(w * counts): gradient[b, q] - gradient[ref, q] equals the change of the
    sum when q is mutated to b (and gradient[b, q] itself at an N), k-mers over N included."""
    rng = np.random.default_rng(k)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.23, 0.23, 0.23, 0.23, 0.08], size=40)) for _ in range(3)]
    layer = KmerCounts(k)
    w = torch.from_numpy(rng.normal(size=layer.n)).float()

    def total(x):
        return (torch.expm1(layer(x)) * w).sum(-1)  # sum of w * raw counts, per window

    x = one_hot(dnaseq.encode(seqs), fill=fill).requires_grad_(True)
    total(x).sum().backward()
    grad = x.grad.numpy()
    for i, seq in enumerate(seqs):
        mutants, where = [], []
        for q, ref in enumerate(seq):
            for b in "ACGT":
                mutants.append(seq[:q] + b + seq[q + 1:])
                where.append((q, "ACGT".index(b), ref))
        with torch.no_grad():
            delta = total(one_hot(dnaseq.encode(mutants), fill=fill)) - total(x[i:i + 1].detach())
        for (q, b, ref), d in zip(where, delta.numpy()):
            expect = grad[i, b, q] - (grad[i, "ACGT".index(ref), q] if ref != "N" else 0.0)
            assert abs(d - expect) < 1e-3, (i, q, b, ref, d, expect)


def test_gradient_attributions_see_the_wide_part():
    pytest.importorskip("captum")
    import warnings

    from dnaseq.interpret import attribute
    torch.manual_seed(0)
    model = dnaseq.build_model("conv_recurrent", 200, 2, conv_filters=[4], conv_widths=9, pool_sizes=4,
                               rnn_type="none", head_hidden=[4], kmer_k=3).eval()
    codes = torch.randint(0, 4, (2, 200), dtype=torch.uint8).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "sees only the deep part" warning any more
        grads = attribute(model, codes, 0, method="saliency", output="logit")
    assert grads.shape == (2, 4, 200)
    with torch.no_grad():
        model.wide.linear.weight.zero_()
    deep_only = attribute(model, codes, 0, method="saliency", output="logit")
    wide = grads - deep_only  # the wide part's share of the logit's gradient
    assert np.abs(wide).max() > 1e-3
