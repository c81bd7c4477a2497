"""fast_ism.edited_logits: ALT logits of many reference windows, recomputed locally, equal full
forward passes of the ALT windows."""
import functools

import numpy as np
import pytest
import torch
from torch import nn

import dnaseq
from dnaseq.models import fast_ism, local_recurrence
from dnaseq.models import tower as tower_ops
from dnaseq.models.fast_ism import edited_logits, supported
from dnaseq.sequence.onehot import reverse_complement_one_hot

L = 1000
ATOL = 1e-5

ARCHS = {
    "deepsea": ("deepsea", dict()),
    "danq": ("danq", dict()),
    "gru": ("conv_recurrent", dict(conv_filters=[16, 16], conv_widths=[9, 5], pool_sizes=[4, 2], rnn_type="gru",
                                   rnn_hidden=8, readout="max")),
    "cnn_bn": ("conv_recurrent", dict(conv_filters=[16, 16], conv_widths=[9, 5], pool_sizes=[4, 3], rnn_type="none",
                                      readout="flatten", head_hidden=[32], batch_norm=True)),
}


@functools.lru_cache(maxsize=None)
def get_model(name: str) -> nn.Module:
    arch, kwargs = ARCHS[name]
    torch.manual_seed(0)
    model = dnaseq.build_model(arch, L, 919 if name in ("deepsea", "danq") else 8, **kwargs)
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def rows_for(name: str) -> int:
    return 4 if name in ("deepsea", "danq") else 8  # big models: ~10 ms a window on 2 cores


def windows(n: int, seed: int, n_cols=(), length: int = L) -> torch.Tensor:
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length)).astype(np.uint8)
    for c in n_cols:
        codes[:, c] = 4  # N: 0.25 in every row
    return dnaseq.one_hot(codes).float()


def random_alt(n: int, k: int, seed: int) -> torch.Tensor:
    bases = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, size=(n, k)))
    return nn.functional.one_hot(bases, 4).permute(0, 2, 1).float()  # (n, 4, k)


def full_alt(model, x, starts, alt) -> torch.Tensor:
    """ALT windows built one by one and run through the model in full."""
    alt_x = x.clone()
    for b in range(len(x)):
        s = int(starts[b])
        alt_x[b, :, s:s + alt.shape[-1]] = alt[b]
    with torch.no_grad():
        return model(alt_x)


def check(model, x, starts, alt, atol=ATOL, effects=None):
    """edited_logits equals full passes; the edits must matter (more than ``atol``) unless
    ``effects`` (a list) is given: then the largest effect is appended to it."""
    starts_t = torch.as_tensor(starts).expand(len(x))
    ref, out = edited_logits(model, x, starts_t, alt)
    with torch.no_grad():
        assert torch.allclose(ref, model(x), atol=atol)
    expected = full_alt(model, x, starts_t, alt)
    assert out.shape == expected.shape
    effect = float((expected - ref).abs().max())
    if effects is None:
        assert effect > atol  # the edits matter
    else:
        effects.append(effect)
    assert (out - expected).abs().max() <= atol, float((out - expected).abs().max())
    return ref, out


@pytest.mark.parametrize("name", list(ARCHS))
def test_snv_at_the_centre_on_both_strands(name):
    model = get_model(name)
    assert supported(model)
    n = rows_for(name)
    x = windows(n, 1, n_cols=(3, L // 2 + 1))
    alt = random_alt(n, 1, 2)
    check(model, x, L // 2, alt)  # forward strand: edit at L // 2
    rc = reverse_complement_one_hot(x)
    check(model, rc, L - 1 - L // 2, alt.flip(1))  # the complement base on the reverse strand
    # both strands in one call: two nearby starts share one span
    both = torch.cat([x, rc])
    starts = torch.tensor([L // 2] * n + [L - 1 - L // 2] * n)
    check(model, both, starts, torch.cat([alt, alt.flip(1)]))


@pytest.mark.parametrize("name", list(ARCHS))
@pytest.mark.parametrize("k", [2, 3])
def test_mnvs(name, k):
    model = get_model(name)
    n = rows_for(name)
    check(model, windows(n, 3), L // 2 - k // 2, random_alt(n, k, 4))


@pytest.mark.parametrize("name", list(ARCHS))
def test_edges_and_different_starts_in_one_call(name):
    model = get_model(name)
    n = rows_for(name)
    x = windows(n, 5, n_cols=(0, L - 1))  # N at both ends of every window
    starts = torch.tensor([0, L - 1, 500, 497, 0, L - 1, 1, 998][:n])
    check(model, x, starts, random_alt(n, 1, 6))
    starts = torch.tensor([0, L - 3, 251, 997, 250, 499, 500, 640][:n])
    check(model, x, starts, random_alt(n, 3, 7))


def test_many_starts_capped_groups(monkeypatch):
    model = get_model("cnn_bn")
    x = windows(12, 8)
    starts = torch.tensor([0, 1, 90, 180, 270, 360, 450, 540, 630, 720, 810, 998])
    alt = random_alt(12, 2, 9)
    groups = list(fast_ism._groups(starts, 2))
    assert len(groups) == 11  # 0 and 1 merge
    check(model, x, starts, alt)
    monkeypatch.setattr(fast_ism, "MAX_GROUPS", 3)
    groups = list(fast_ism._groups(starts, 2))
    assert len(groups) == 3 and sorted(int(i) for g in groups for i in g[0]) == list(range(12))
    check(model, x, starts, alt)


def test_n_columns_at_the_edit_and_a_reference_edit():
    model = get_model("deepsea")
    x = windows(4, 10, n_cols=(L // 2 - 1, L // 2, L // 2 + 1))
    alt = random_alt(4, 1, 11)
    alt[0] = 0.25  # writing N over N: ALT == REF
    ref, out = check(model, x, L // 2, alt)
    assert torch.allclose(out[0], ref[0], atol=ATOL)


def test_loaded_model_wrapper_and_int_start():
    torch.manual_seed(0)
    arch, kwargs = ARCHS["gru"]
    wrapped = dnaseq.SequenceModel(arch, kwargs, seq_len=L, n_features=5).eval()
    x = windows(4, 12)
    alt = random_alt(1, 1, 13)[0]  # (4, 1): the same ALT for every row
    ref, out = edited_logits(wrapped, x, L // 2, alt)
    assert torch.allclose(ref, wrapped(x), atol=ATOL)
    assert torch.allclose(out, full_alt(wrapped.model, x, [L // 2] * 4, alt.expand(4, -1, -1)), atol=ATOL)


class PaddedConv(nn.Module):
    """Has ism_parts, but its padded conv is not local in the sense fast_ism needs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(4, 8, 9, padding=4), nn.ReLU(), nn.MaxPool1d(10))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * (L // 10), 6))

    def forward(self, x):
        return self.head(self.conv(x))

    def ism_parts(self):
        return self.conv, nn.Identity(), self.head[1], False


class Custom(nn.Module):
    """No ism_parts at all."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 5)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).mean(-1))


@pytest.mark.parametrize("make", [PaddedConv, Custom])
def test_unsupported_models_fall_back(make):
    torch.manual_seed(0)
    model = make().eval()
    assert not supported(model)
    x = windows(5, 14, n_cols=(7,))
    starts = torch.tensor([0, 500, 500, 998, 3])
    check(model, x, starts, random_alt(5, 2, 15))


def test_training_mode_is_not_local():
    arch, kwargs = ARCHS["cnn_bn"]
    model = dnaseq.build_model(arch, L, 4, **kwargs)
    assert not supported(model.train())
    assert supported(model.eval())


def test_fast_false_and_empty_batch():
    model = get_model("gru")
    x = windows(3, 16)
    alt = random_alt(3, 1, 17)
    a = edited_logits(model, x, L // 2, alt)[1]
    b = edited_logits(model, x, L // 2, alt, fast=False)[1]
    assert torch.allclose(a, b, atol=ATOL)
    ref, out = edited_logits(model, x[:0], torch.zeros(0, dtype=torch.long), alt[:0])
    assert ref.shape == out.shape == (0, 8)


def test_bad_inputs():
    model = get_model("gru")
    x = windows(2, 18)
    with pytest.raises(ValueError, match="columns"):
        edited_logits(model, x, L - 1, random_alt(2, 2, 0))
    with pytest.raises(ValueError, match="alt_onehot"):
        edited_logits(model, x, 0, random_alt(3, 1, 0))
    with pytest.raises(ValueError, match="starts"):
        edited_logits(model, x, torch.tensor([0, 1, 2]), random_alt(2, 1, 0))


@pytest.mark.parametrize("name", ["deepsea", "danq", "gru", "cnn_bn"])
def test_bf16_autocast(name):
    model = get_model(name)
    x = windows(4, 19)
    starts = torch.tensor([L // 2, L // 2, L - 1 - L // 2, 3])
    alt = random_alt(4, 1, 20)
    ref32, out32 = edited_logits(model, x, starts, alt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref16, out16 = edited_logits(model, x, starts, alt)
    assert torch.isfinite(out16.float()).all()
    assert (ref16.float() - ref32).abs().max() <= 1e-2
    assert (out16.float() - out32).abs().max() <= 1e-2


# --- the recurrent layer, rerun only from the first changed position (local_recurrence.LocalRecurrence) ---

LR = 400  # shorter windows for the small recurrent models: 47 recurrent steps


def small_recurrent(rnn_type: str, bidirectional: bool, readout: str, layers: int) -> nn.Module:
    torch.manual_seed(0)
    model = dnaseq.build_model("conv_recurrent", LR, 6, conv_filters=[16, 16], conv_widths=[9, 5], pool_sizes=[4, 2],
                               conv_dropout=0.1, rnn_type=rnn_type, rnn_hidden=8, rnn_layers=layers,
                               bidirectional=bidirectional, readout=readout, head_hidden=[16]).eval()
    with torch.no_grad():  # larger weights than the default init: edits change the logits more
        for name, p in model.named_parameters():
            p.mul_(3.0 if name.startswith("conv") and name.endswith("weight") else 2.0 if name.startswith("rnn") else 1.0)
    return model


RECURRENT_VARIANTS = (  # one layer: the local recurrence; two: the recurrent part runs in full
    [(t, bi, r, 1) for t in ("lstm", "gru", "rnn") for bi in (False, True) for r in ("flatten", "max", "mean", "last")]
    + [(t, bi, r, 2) for t in ("lstm", "gru", "rnn") for bi, r in ((False, "last"), (True, "flatten"))])


@pytest.mark.parametrize("rnn_type,bidirectional,readout,layers", RECURRENT_VARIANTS)
def test_recurrent_variants(rnn_type, bidirectional, readout, layers):
    model = small_recurrent(rnn_type, bidirectional, readout, layers)
    assert supported(model)
    local = fast_ism.CachedTower(model, windows(1, 0, length=LR)).rec is not None
    assert local == (layers == 1)  # deeper recurrences run in full on the spliced tower output
    # a max readout, or the last step of a unidirectional recurrence, can hide an edit: the
    # values must match everywhere, and the edits must matter somewhere
    effects = []
    n = 6
    x = windows(n, 21, n_cols=(2, LR // 2 + 3), length=LR)
    alt = random_alt(n, 1, 22)
    rc = reverse_complement_one_hot(x)
    both = torch.cat([x, rc])
    starts = torch.tensor([LR // 2] * n + [LR - 1 - LR // 2] * n)
    check(model, both, starts, torch.cat([alt, alt.flip(1)]), effects=effects)  # SNVs at the centre, both strands
    check(model, x, LR // 2 - 1, random_alt(n, 3, 23), effects=effects)  # MNVs
    # window edges and different starts in one call (several groups, several split points)
    check(model, x, torch.tensor([0, LR - 1, 200, 197, 60, LR - 2]), random_alt(n, 1, 24), effects=effects)
    check(model, x, torch.tensor([0, LR - 2, 0, LR - 2, 0, LR - 2]), random_alt(n, 2, 25), effects=effects)
    assert max(effects) > 10 * ATOL, effects


@pytest.mark.parametrize("rnn_type,readout,conv_readout", [("gru", "attention", "none"), ("lstm", "maxmean", "none"),
                                                          ("lstm", "flatten", "max"), ("none", "flatten", "maxmean")])
def test_pooled_readouts_and_conv_readout_equal_full_passes(rnn_type, readout, conv_readout):
    torch.manual_seed(0)
    model = dnaseq.build_model("conv_recurrent", LR, 6, conv_filters=[16], conv_widths=9, pool_sizes=4,
                               rnn_type=rnn_type, rnn_hidden=8, readout=readout, conv_readout=conv_readout,
                               head_hidden=[16]).eval()
    assert supported(model)
    local = fast_ism.CachedTower(model, windows(1, 0, length=LR)).rec is not None
    # a recurrence reruns locally, with a conv_readout too (its pool of the spliced tower beside it)
    assert local == (rnn_type != "none")
    x = windows(4, 31, n_cols=(3,), length=LR)
    check(model, x, torch.tensor([0, LR // 2, LR - 1, 57]), random_alt(4, 1, 32))
    check(model, x, LR // 2 - 1, random_alt(4, 3, 33))


def test_danq_reruns_only_the_changed_part_of_each_direction(monkeypatch):
    model = get_model("danq")
    x = windows(3, 26)
    cache = fast_ism.CachedTower(model, x)
    lo, hi = cache.tower_span(L // 2, L // 2 + 1)
    T = cache.lengths[-1]
    assert T == 75 and 0 < lo < hi < T
    calls = []
    run = local_recurrence.LocalRecurrence._run

    def spy(self, d, seq, state):
        calls.append((d, seq.shape[0], seq.shape[1], state is None))
        return run(self, d, seq, state)

    monkeypatch.setattr(local_recurrence.LocalRecurrence, "_run", spy)
    check(model, x, L // 2, random_alt(3, 1, 27))
    # the reference: each direction once over all T positions, split where the ALT starts;
    # the ALT: forward from lo on, backward from hi - 1 down, each from a reference state
    assert calls == [(0, 3, lo, True), (0, 3, T - lo, False), (1, 3, T - hi, True), (1, 3, hi, False),
                     (0, 3, T - lo, False), (1, 3, hi, False)]


def test_danq_first_dense_layer_takes_the_edits_as_a_delta():
    """DanQ's dense layer on the flattened BiLSTM outputs runs once, on the reference windows;
    the edited windows reach it only as the change of what each direction reran."""
    model = get_model("danq")
    x = windows(3, 26)
    dense_inputs = []
    hook = model.head[0].register_forward_hook(lambda mod, inp, out: dense_inputs.append(tuple(inp[0].shape)))
    try:
        ref, out = edited_logits(model, x, torch.tensor([L // 2, 0, L - 1]), random_alt(3, 1, 27))
    finally:
        hook.remove()
    assert dense_inputs == [(3, 75 * 640)]  # the reference windows only
    check(model, x, torch.tensor([L // 2, 0, L - 1]), random_alt(3, 1, 27))
    # a pooled conv readout beside the recurrence changes the dense layer's input too: no delta
    conv_readout = small_recurrent("lstm", True, "flatten", 1)
    assert fast_ism.CachedTower(conv_readout, windows(1, 0, length=LR)).rec.dense is not None
    conv_readout.conv_readout = "max"
    assert fast_ism.CachedTower(conv_readout, windows(1, 0, length=LR)).rec.dense is None


def test_local_recurrence_off_is_the_full_recurrence(monkeypatch):
    model = small_recurrent("lstm", True, "flatten", 1)
    x = windows(4, 28, length=LR)
    alt = random_alt(4, 1, 29)
    starts = torch.tensor([LR // 2, LR // 2, LR - 1 - LR // 2, 0])
    _, on = check(model, x, starts, alt)
    monkeypatch.setattr(fast_ism, "LOCAL_RECURRENCE", False)
    assert fast_ism.CachedTower(model, x[:1]).rec is None
    _, off = check(model, x, starts, alt)
    assert torch.allclose(on, off, atol=ATOL)


class TinyRecurrent(nn.Module):
    """Conv + a recurrent layer this package's models do not build (ReLU RNN, no biases), mean
    readout."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(4, 6, 7), nn.ReLU(), nn.MaxPool1d(5))
        self.rnn = rnn
        self.fc = nn.Linear((getattr(rnn, "proj_size", 0) or rnn.hidden_size) * (2 if rnn.bidirectional else 1), 3)

    def head(self, h):
        return self.fc(h.mean(dim=1))

    def forward(self, x):
        return self.head(self.rnn(self.conv(x).transpose(1, 2))[0])

    def ism_parts(self):
        return self.conv, lambda h: self.head(self.rnn(h.transpose(1, 2))[0]), None, True

    def ism_recurrence(self):
        return self.rnn, self.head


@pytest.mark.parametrize("rnn", [
    lambda: nn.RNN(6, 5, nonlinearity="relu", batch_first=True, bidirectional=True),
    lambda: nn.GRU(6, 5, bias=False, batch_first=True, bidirectional=True),
    lambda: nn.LSTM(6, 5, bias=False, batch_first=True),
    lambda: nn.LSTM(6, 5, proj_size=3, batch_first=True, bidirectional=True),  # projections: in full
], ids=["relu_rnn", "gru_nobias", "lstm_nobias", "lstm_proj"])
@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_other_recurrent_layers(rnn):
    torch.manual_seed(1)
    layer = rnn()
    model = TinyRecurrent(layer).eval()
    local = fast_ism.CachedTower(model, windows(1, 0)).rec is not None
    assert local == (getattr(layer, "proj_size", 0) == 0)
    x = windows(5, 30)
    check(model, x, torch.tensor([L // 2, L // 2, 0, L - 1, 301]), random_alt(5, 1, 31))


@pytest.mark.parametrize("rnn_type,readout", [("lstm", "flatten"), ("gru", "last")])
def test_local_ism_through_the_recurrence(rnn_type, readout):
    """LocalISM asks for reference states in any order; they are computed on demand."""
    model = small_recurrent(rnn_type, True, readout, 1)
    x = windows(1, 32, n_cols=(40,), length=LR)
    engine = fast_ism.LocalISM(model, x)
    assert engine.rec is not None
    rng = np.random.default_rng(33)
    for block in (range(250, 270), range(0, 12), range(380, 400), range(100, 140), range(40, 41)):
        pos = torch.tensor(list(block))
        bases = torch.from_numpy(rng.integers(0, 4, size=len(pos)))
        got = engine.logits(pos, bases)
        mut = x.expand(len(pos), -1, -1).clone()
        mut[torch.arange(len(pos)), :, pos] = 0.0
        mut[torch.arange(len(pos)), bases, pos] = 1.0
        with torch.no_grad():
            assert (got - model(mut)).abs().max() <= ATOL


@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU(0.1), nn.ELU(), nn.Tanh(), nn.GELU(), nn.LeakyReLU(-0.5)])
def test_pool_first_is_the_same_tower_bit_for_bit(act):
    torch.manual_seed(1)
    tower = nn.Sequential(nn.Conv1d(4, 8, 5), act, nn.MaxPool1d(4), nn.Dropout(0.3), nn.Conv1d(8, 8, 3), act,
                          nn.Dropout(0.1), nn.MaxPool1d(3, 2), nn.Conv1d(8, 4, 3), act).eval()
    layers = tower_ops.pool_first(tower)
    moved = tower_ops.is_monotone(act)
    assert (layers.index(tower[2]) < layers.index(tower[1])) == moved  # GELU, negative slopes stay
    assert len(layers) == len(tower) and list(tower) == list(tower.eval())  # the module is not changed
    x = torch.randn(3, 4, 200)
    h = x
    for layer in layers:
        h = layer(h)
    assert torch.equal(h, tower(x))


def test_dense_slices_are_never_stale():
    """The cached first-dense-layer slices follow in-place weight changes and new models."""
    x = dnaseq.one_hot(np.random.default_rng(2).integers(0, 4, size=(4, L)).astype(np.uint8))
    alt = torch.zeros(4, 1)
    alt[1] = 1
    for seed in (0, 1):  # a second model may reuse the first one's memory
        torch.manual_seed(seed)
        net = dnaseq.build_model("conv_recurrent", L, 5, conv_filters=[8], conv_widths=[9], pool_sizes=[4],
                                 rnn_type="none", readout="flatten", head_hidden=[16]).eval()
        for _ in range(2):
            _, got = edited_logits(net, x, 500, alt)
            mut = x.clone()
            mut[:, :, 500:501] = alt
            with torch.no_grad():
                torch.testing.assert_close(got, net(mut), atol=ATOL, rtol=0)
                next(m for m in net.modules() if isinstance(m, nn.Linear)).weight.mul_(1.5)
        del net
