"""The Python API a notebook user meets first: ``load_model`` + ``predict_proba`` on every input
form, and ``one_hot`` / ``encode`` on what ``Genome.window`` returns (issue 11, "Python API").

Everything runs on the session's ``tiny_checkpoint`` (a real conv+LSTM trained two steps on
the shipped dm3 slice) and on the shipped FASTA through ``dnaseq.Genome``.
"""
import numpy as np
import pytest
import torch
from conftest import DATA

import dnaseq
from dnaseq.models.strand import StrandWrapper

FASTA = DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz"
ATOL = 1e-6


@pytest.fixture
def model(tiny_checkpoint):
    return dnaseq.load_model(str(tiny_checkpoint))


@pytest.fixture(scope="module")
def genome():
    with dnaseq.Genome(FASTA) as g:
        yield g


def _windows(genome, length, centres=(6_000, 20_500, 151_000)):
    # 6,000 holds some N (the slice's first bases are a gap), the others are mostly bases
    return [genome.window("chr2L", c, length) for c in centres]


def _reference(model, codes, strand=None):
    """The plain one-hot tensor path: dnaseq.one_hot with the model's fill, then predict_proba."""
    return model.predict_proba(dnaseq.one_hot(codes, fill=model.fill), strand=strand)


def test_every_input_form_gives_the_one_hot_tensor_path_probabilities(model, genome):
    L = model.seq_len
    wins = _windows(genome, L)
    assert any((w.codes == 4).any() for w in wins), "keep one window with N in it, to check the fill"
    codes = np.stack([w.codes for w in wins])
    ref = _reference(model, codes)
    assert isinstance(ref, torch.Tensor) and ref.shape == (3, model.n_features)
    ref = ref.numpy()
    raw_text = genome.fetch_text("chr2L", wins[1].start, wins[1].end)  # soft-masked, as in the FASTA
    assert raw_text != raw_text.upper()
    x = dnaseq.one_hot(codes, fill=model.fill)
    forms = {
        "str": (wins[0].text, ref[:1]),
        "lowercase str": (raw_text, ref[1:2]),
        "bytes": (raw_text.encode(), ref[1:2]),
        "list of str": ([w.text for w in wins], ref),
        "codes (L,)": (codes[2], ref[2:]),
        "codes (N, L)": (codes, ref),
        "int64 codes": (codes.astype(np.int64), ref),
        "list of codes": (list(codes), ref),
        "codes tensor": (torch.from_numpy(codes), ref),
        "one-hot (4, L) numpy": (x[0].numpy(), ref[:1]),
        "one-hot (N, 4, L) numpy": (x.numpy(), ref),
        "one-hot float64 numpy": (x.numpy().astype(np.float64), ref),
        "one-hot (4, L) tensor": (x[0], ref[:1]),
        "one-hot (N, 4, L) tensor": (x, ref),
        "list of one-hot (4, L)": ([a.numpy() for a in x], ref),
        "window": (wins[0], ref[:1]),
        "list of windows": (wins, ref),
        "tuple of windows": (tuple(wins), ref),
    }
    for name, (inp, want) in forms.items():
        got = model.predict_proba(inp)
        got = got.numpy() if isinstance(got, torch.Tensor) else got
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=name)
    # batching does not change a number
    np.testing.assert_allclose(model.predict_proba(wins, batch_size=2), ref, atol=ATOL, rtol=0)


def test_output_type_follows_the_input_and_never_carries_grad(model, genome):
    w = _windows(genome, model.seq_len)[1]
    for inp in (w.text, w.codes, w, [w, w], dnaseq.one_hot(w).numpy()):
        p = model.predict_proba(inp)
        assert isinstance(p, np.ndarray) and p.dtype == np.float32, type(inp)
        assert ((p > 0) & (p < 1)).all()
    x = dnaseq.one_hot(w).requires_grad_(True)
    for inp in (x, torch.from_numpy(w.codes)):
        p = model.predict_proba(inp)
        assert isinstance(p, torch.Tensor) and not p.requires_grad and p.grad_fn is None
        assert p.device == inp.device
        p.numpy()  # the 0.1 failure: "Can't call numpy() on Tensor that requires grad"
    assert torch.is_grad_enabled()
    empty = model.predict_proba([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0, model.n_features)


def test_strand_mode_and_n_fill_follow_the_checkpoint(model, genome):
    L = model.seq_len
    wins = _windows(genome, L)
    codes = np.stack([w.codes for w in wins])
    x = dnaseq.one_hot(codes, fill=model.fill)
    with torch.no_grad():
        fwd = StrandWrapper(model.model, "forward")(x).numpy()
        both = StrandWrapper(model.model, "both")(x).numpy()
    assert not np.allclose(fwd, both)
    np.testing.assert_allclose(model.predict_proba(wins), fwd, atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.predict_proba(wins, strand="both"), both, atol=ATOL, rtol=0)
    with pytest.warns(FutureWarning, match="rc_average=True is the 0.1 spelling; use strand='both'"):
        np.testing.assert_allclose(model.predict_proba(wins, rc_average=True), both, atol=ATOL, rtol=0)
    model.hparams.strand = "both"  # a checkpoint validated on both strands
    assert model.trained_strand == "both"
    np.testing.assert_allclose(model.predict_proba(wins), both, atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.predict_proba(x), both, atol=ATOL, rtol=0)
    model.hparams.strand = "forward"
    # text, codes and windows are one-hot encoded with the checkpoint's fill
    model.hparams.fill = 0.0
    zero = _reference(model, codes).numpy()
    with torch.no_grad():
        quarter = StrandWrapper(model.model, "forward")(dnaseq.one_hot(codes, fill=0.25)).numpy()
    assert not np.allclose(zero, quarter)
    for inp in (wins, codes, [w.text for w in wins]):
        np.testing.assert_allclose(model.predict_proba(inp), zero, atol=ATOL, rtol=0)


def test_wrong_length_names_both_lengths_before_any_forward_pass(model, genome):
    calls = []
    hook = model.model.register_forward_hook(lambda *a: calls.append(1))
    short = genome.window("chr2L", 20_500, 500)
    bad = {
        "str": "ACGT" * 125,
        "codes": short.codes,
        "window": short,
        "one-hot": dnaseq.one_hot(short),
        "one-hot numpy (4, L)": dnaseq.one_hot(short)[0].numpy(),
    }
    for name, inp in bad.items():
        with pytest.raises(ValueError, match=r"the model takes 1000 bp windows; got 500 bp$"):
            model.predict_proba(inp)
    good = genome.window("chr2L", 20_500, 1000)
    with pytest.raises(ValueError, match=r"takes 1000 bp windows; got 1200 bp \(item 2 of 3\)"):
        model.predict_proba([good, good, "ACGT" * 300])
    with pytest.raises(ValueError, match=r"takes 1000 bp windows; got 500 bp"):
        model(dnaseq.one_hot(short))  # forward on user input says the same
    assert calls == []
    hook.remove()


def test_wrong_shapes_and_dtypes_get_a_clear_message(model):
    L = model.seq_len
    x = dnaseq.one_hot("ACGT" * (L // 4))
    with pytest.raises(ValueError, match=r"shape \(N, 4, 1000\).*got shape \(1, 1000, 4\).*transpose"):
        model.predict_proba(x.transpose(1, 2).contiguous())
    with pytest.raises(ValueError, match=r"codes must be \(L,\) or \(N, L\)"):
        model.predict_proba(np.zeros((1, 2, L), np.uint8))
    with pytest.raises(ValueError, match=r"codes must be 0\.\.4"):
        model.predict_proba(np.full(L, 7, np.int64))
    for dtype in (np.uint8, np.int64):  # an integer one-hot (4, L) is not four code sequences
        with pytest.raises(ValueError, match=r"\(4, 1000\) holding only 0 and 1.*looks like a one-hot window"):
            model.predict_proba(x[0].numpy().astype(dtype))
    with pytest.raises(ValueError, match="looks like a one-hot window"):
        model.predict_proba(x[0].to(torch.uint8))
    codes = np.zeros((4, L), np.uint8)  # four real code sequences (all A, one with some C) are codes
    codes[0, :10] = 1
    assert model.predict_proba(codes).shape == (4, model.n_features)
    with pytest.raises(TypeError, match="dtype complex128"):
        model.predict_proba(np.zeros((1, L), complex))
    with pytest.raises(TypeError, match="cannot predict on an object of type 'dict'"):
        model.predict_proba({"seq": "ACGT"})
    with pytest.raises(dnaseq.InvalidBaseError, match="'-' at position 3"):
        model.predict_proba("ACG-" + "A" * (L - 4))


def test_model_mode_and_device_are_left_as_found(model, genome):
    wins = _windows(genome, model.seq_len)
    evaluated = model.predict_proba(wins)
    assert not model.training
    model.train()
    trained = model.predict_proba(wins)
    assert model.training and all(m.training for m in model.modules())
    np.testing.assert_allclose(trained, evaluated, atol=ATOL, rtol=0)  # it ran in eval mode
    device = next(model.parameters()).device
    model.predict_proba(dnaseq.one_hot(wins))
    assert next(model.parameters()).device == device
    model.eval()
    part = next(m for m in model.model.children() if any(True for _ in m.parameters()))
    part.train()  # a mixed state comes back as it was too
    modes = [m.training for m in model.modules()]
    model.predict_proba(wins)
    assert [m.training for m in model.modules()] == modes and part.training and not model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tensor_on_another_device_comes_back_on_that_device(model, genome):
    w = _windows(genome, model.seq_len)[1]
    ref = model.predict_proba(w)
    for model_device, input_device in (("cpu", "cuda"), ("cuda", "cpu"), ("cuda", "cuda")):
        model.to(model_device)
        p = model.predict_proba(dnaseq.one_hot(w).to(input_device))
        assert p.device.type == input_device and next(model.parameters()).device.type == model_device
        np.testing.assert_allclose(p.cpu().numpy(), ref, atol=1e-5, rtol=0)
        assert isinstance(model.predict_proba(w), np.ndarray)


def test_one_hot_and_encode_take_windows_strings_codes_and_lists(genome):
    w = genome.window("chr2L", 20_500, 1000)
    text = genome.fetch_text("chr2L", w.start, w.end)
    assert len(w) == 1000 and w.text == text.upper()
    assert "chr2L:20000-21000" in repr(w) and "1000 bp" in repr(w)
    expect = dnaseq.one_hot(dnaseq.encode(text))
    assert torch.equal(dnaseq.one_hot(w), expect)
    assert torch.equal(dnaseq.one_hot(text), expect)
    assert torch.equal(dnaseq.one_hot(w, fill=0.0), dnaseq.one_hot(dnaseq.encode(text), fill=0.0))
    assert np.array_equal(dnaseq.encode(w), dnaseq.encode(text))
    # windows off the chromosome end: N-padded codes, encoded like the padded text
    edge = genome.window("chr2L", 100, 1000)
    assert edge.padded and edge.text.startswith("N" * edge.pad_left)
    assert torch.equal(dnaseq.one_hot(edge), dnaseq.one_hot(dnaseq.encode(edge.text)))
    other = genome.window("chr2L", 151_000, 1000)
    pair = dnaseq.one_hot([w, other])
    assert pair.shape == (2, 4, 1000)
    assert torch.equal(pair, dnaseq.one_hot(np.stack([w.codes, other.codes])))
    for mixed in ([w, other.text], [w.codes, other], [text, other.text.encode()]):
        assert torch.equal(dnaseq.one_hot(mixed), pair)
    assert np.array_equal(dnaseq.encode([w, other]), np.stack([w.codes, other.codes]))
    assert np.array_equal(dnaseq.encode([text, other]), np.stack([w.codes, other.codes]))
    assert dnaseq.encode(["ACG", "TTT"]).shape == (2, 3)
    assert torch.equal(dnaseq.one_hot(np.array([0, 1, 2, 3, 4])), dnaseq.one_hot("ACGTN"))
    short = genome.window("chr2L", 20_500, 500)
    for fn in (dnaseq.one_hot, dnaseq.encode):
        with pytest.raises(ValueError, match=r"equal lengths.*item 0 is 1000 bp, item 1 is 500 bp"):
            fn([w, short])
        with pytest.raises(ValueError, match=r"equal lengths.*item 0 is 4 bp, item 1 is 2 bp"):
            fn(["ACGT", "AC"])
    with pytest.raises(ValueError, match="codes must be 0..4"):
        dnaseq.one_hot(np.array([0, 5, 1]))
    with pytest.raises(TypeError, match="one-hot already"):
        dnaseq.one_hot(expect.numpy())
    with pytest.raises(dnaseq.InvalidBaseError, match="looks like uint8 codes already"):
        dnaseq.encode(w.codes)


def test_a_double_model_with_a_kmer_part_predicts_as_the_float_one(genome):
    """.double() on a wide-and-deep model (k-mer counts, batch norm) ran counts in float32 into a
    float64 batch norm: 'mixed dtype (CPU)'."""
    torch.manual_seed(0)
    net = dnaseq.SequenceModel("conv_recurrent", {"conv_filters": [4], "conv_widths": 9, "pool_sizes": 10,
                                                  "rnn_hidden": 4, "head_hidden": [4], "kmer_k": 3},
                               seq_len=200, n_features=2).eval()
    windows = _windows(genome, 200)
    single = net.predict_proba(windows)
    double = net.double().predict_proba(windows)
    assert double.shape == (3, 2) and np.allclose(single, double, atol=1e-6)
