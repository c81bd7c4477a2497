import pytest
import torch

from dnaseq.models import DanQ, DeepSEA, build_model, count_parameters


def test_published_parameter_counts():
    assert count_parameters(build_model("deepsea", 1000, 919)) == 52_843_119
    assert count_parameters(build_model("danq", 1000, 919)) == 46_929_039


@pytest.mark.parametrize("length", [500, 1000, 2000])
@pytest.mark.parametrize("name", ["deepsea", "danq"])
def test_forward_shapes_any_length(name, length):
    model = build_model(name, length, 7).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 4, length)).shape == (2, 7)


def test_dense_layer_sized_from_length():
    assert DeepSEA(2000, 3).head[1].in_features == 960 * ((((2000 - 7) // 4 - 7) // 4) - 7)
    assert DanQ(1000, 3).head[0].in_features == 75 * 640


@pytest.mark.parametrize("readout", ["flatten", "mean", "max", "maxmean", "attention", "last"])
def test_conv_recurrent_readouts(readout):
    m = build_model("conv_recurrent", 300, 5, conv_filters=[8, 8], conv_widths=[9, 5], pool_sizes=[4, 2],
                    batch_norm=True, rnn_type="gru", rnn_hidden=6, rnn_layers=2, rnn_dropout=0.1,
                    readout=readout, head_hidden=[10, 10], head_dropout=0.1).eval()
    assert m(torch.rand(3, 4, 300)).shape == (3, 5)


@pytest.mark.parametrize("conv_readout", ["max", "mean", "maxmean"])
@pytest.mark.parametrize("rnn_type", ["lstm", "none"])
def test_conv_readout_beside_the_recurrent_layer(conv_readout, rnn_type):
    torch.manual_seed(0)
    m = build_model("conv_recurrent", 300, 5, conv_filters=[8], conv_widths=9, pool_sizes=4, rnn_type=rnn_type,
                    rnn_hidden=6, readout="flatten", conv_readout=conv_readout, head_hidden=[10]).eval()
    x = torch.rand(3, 4, 300)
    assert m(x).shape == (3, 5)
    # the head reads the pooled conv tower: changing the tower's strongest position changes it
    width = (6 * 2 if rnn_type == "lstm" else 8) * 73 + 8 * (2 if conv_readout == "maxmean" else 1)
    assert m.head[0].in_features == width
    with pytest.raises(ValueError, match="conv_readout must be one of"):
        build_model("conv_recurrent", 300, 5, conv_readout="sum")


def test_attention_pool_starts_between_mean_and_max():
    from dnaseq.models.recurrent import AttentionPool
    h = torch.randn(4, 30, 6)
    out = AttentionPool(6)(h)
    assert ((out <= h.max(1).values + 1e-6) & (out >= h.mean(1) - 1e-6)).all()
    assert not torch.allclose(out, h.mean(1))


def test_pure_cnn_without_recurrent_layer():
    m = build_model("conv_recurrent", 600, 4, conv_filters=[16, 16], conv_widths=[19, 11], pool_sizes=[3, 4],
                    rnn_type="none", readout="max")
    assert m.rnn is None and m(torch.rand(2, 4, 600)).shape == (2, 4)


@pytest.mark.parametrize("rnn_type", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_one_training_step_changes_weights(rnn_type, bidirectional):
    torch.manual_seed(0)
    m = build_model("conv_recurrent", 200, 3, conv_filters=[8], conv_widths=9, pool_sizes=4,
                    rnn_type=rnn_type, rnn_hidden=5, bidirectional=bidirectional, head_hidden=[6])
    assert isinstance(m.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[rnn_type])
    assert m.rnn.bidirectional == bidirectional
    before = [p.detach().clone() for p in m.parameters()]
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    x, y = torch.rand(4, 4, 200), (torch.rand(4, 3) > 0.5).float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(m(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in m.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, m.parameters()))


@pytest.mark.parametrize("name,kwargs", [
    ("danq", {}),
    ("conv_recurrent", dict(conv_filters=[16], conv_widths=11, pool_sizes=5, rnn_type="gru",
                            rnn_hidden=8, rnn_layers=2, readout="last")),
    ("deepsea", {}),
])
def test_prediction_does_not_depend_on_the_batch(name, kwargs):
    torch.manual_seed(1)
    model = build_model(name, 1000, 11, **kwargs).eval()
    batch = torch.rand(6, 4, 1000)
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(batch[i:i + 1]) for i in range(6)])
        reordered = model(batch.flip(0)).flip(0)
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(together, reordered, atol=1e-5)


def test_registry_errors_name_the_fix():
    with pytest.raises(ValueError, match="did you mean 'danq'"):
        build_model("danqq", 1000, 3)
    with pytest.raises(ValueError, match="did you mean 'rnn_hidden'"):
        build_model("conv_recurrent", 1000, 3, rnn_hiden=4)
    with pytest.raises(ValueError, match="rnn_type"):
        build_model("conv_recurrent", 1000, 3, rnn_type="transformer")
    with pytest.raises(ValueError, match="shrinks"):
        build_model("conv_recurrent", 20, 3)
    with pytest.raises(ValueError, match="longer inputs"):
        build_model("deepsea", 40, 3)


@pytest.mark.parametrize("name, kwargs", [
    ("deepsea", {"dropout": (0.0, 0.0, 0.0)}),
    ("conv_recurrent", {"conv_filters": [16, 8], "conv_widths": [9, 5], "pool_sizes": [4, 3], "batch_norm": True,
                        "conv_dropout": 0.0, "rnn_hidden": 8, "head_hidden": [16], "readout_dropout": 0.0,
                        "conv_readout": "max"}),
    ("beluga", {"dropout": (0.0, 0.0, 0.0), "filters": (8, 8, 8), "hidden": 16}),
])
def test_training_tower_path_gives_the_same_values_and_gradients(name, kwargs):
    """In training mode the conv tower runs pooled first and channels-last (models/tower.py):
    the same outputs and gradients as calling its modules, up to float rounding."""
    from dnaseq.models import tower

    torch.manual_seed(0)
    length = 2000 if name == "beluga" else 1000
    model = build_model(name, seq_len=length, n_features=5, **kwargs).train()
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (6, length)), 4).float().transpose(1, 2)
    grads, outs = [], []
    for fast in (True, False):
        model.zero_grad()
        if name == "conv_recurrent":
            h = tower.run(model.conv, x) if fast else model.conv(x)
            out = model._after_conv(h)
        else:
            out = model(x) if fast else model.head(model.conv(x))
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    for n, g in grads[1].items():
        # a conv bias before batch norm has a true gradient of 0: compare against the layer's scale
        scale = max(g.abs().max().item(), grads[1][n.replace("bias", "weight")].abs().max().item())
        assert (grads[0][n] - g).abs().max().item() <= 1e-4 * scale + 1e-7, n


def test_eval_mode_takes_the_fast_tower_only_without_gradients_or_hooks(monkeypatch):
    """Eval mode without gradients (validation, evaluate, predict) runs the tower pooled first and
    channels-last, with the modules' values; a hook on a tower layer, or gradients (attribution
    methods), make it call the modules, so hooks see them."""
    from dnaseq.models import tower

    model = build_model("conv_recurrent", seq_len=200, n_features=2, conv_filters=[8], conv_widths=5,
                        pool_sizes=4, rnn_hidden=4, head_hidden=[4]).eval()
    x = torch.rand(3, 4, 200)
    calls = []
    real_run = tower.run
    monkeypatch.setattr(tower, "run", lambda t, h: calls.append(1) or real_run(t, h))
    with torch.no_grad():
        fast = model(x)
        assert calls == [1]
        slow = model._after_conv(model.conv(x))
    assert torch.allclose(fast, slow, atol=1e-6)
    model(x.requires_grad_(True)).sum().backward()  # gradients in eval mode: the modules
    assert calls == [1] and x.grad is not None
    seen = []
    handle = model.conv[0].register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    with torch.no_grad():
        model(x)
    handle.remove()
    assert seen == [torch.Size([3, 8, 196])] and calls == [1]
    hook = torch.nn.modules.module.register_module_forward_hook(lambda mod, args, out: None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    assert calls == [1]
    with torch.no_grad():
        model(x)
    assert calls == [1, 1]


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_flop_count_includes_the_recurrence(rnn_type):
    """Lightning's model summary (torch's FLOP counter) counts recurrent layers: 2 x rows x columns
    of each weight matrix per step and sequence, beside the convolutions (was 0 for oneDNN's LSTM)."""
    from pytorch_lightning.utilities.model_summary import ModelSummary
    from torch.utils.flop_counter import FlopCounterMode

    from dnaseq.training.task import SequenceModel
    model = build_model("conv_recurrent", 1000, 8, conv_filters=[16], conv_widths=19, pool_sizes=13,
                               rnn_type=rnn_type, rnn_hidden=32, bidirectional=True, head_hidden=[8]).eval()
    x = torch.zeros(2, 4, 1000)
    with FlopCounterMode(display=False) as whole:
        model(x)
    with FlopCounterMode(display=False) as tower:
        steps = model.conv(x).shape[-1]
    gates = {"lstm": 4, "gru": 3}[rnn_type]
    recurrent = 2 * 2 * steps * 2 * (gates * 32 * 16 + gates * 32 * 32)  # batch 2, two directions
    assert whole.get_total_flops() - tower.get_total_flops() >= recurrent
    task = SequenceModel("conv_recurrent", {"conv_filters": [16], "rnn_type": rnn_type, "rnn_hidden": 8},
                                seq_len=1000, n_features=3)
    assert ModelSummary(task).total_flops > 0  # the summary runs one example window
