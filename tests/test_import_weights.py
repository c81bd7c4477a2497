"""dnaseq import-weights: published DeepSEA / DanQ / Beluga state dicts (Selene's and Kipoi's
parameter names, shapes and base order) give dnaseq checkpoints whose predictions equal the
peers' networks run on the same weights.

The peer networks below are written from their published definitions (Selene's
``models/deepsea.py`` and ``models/danQ.py`` with ``NonStrandSpecific``; Kipoi's
``DeepSEA/model_architecture.py`` and ``DeepSEA/beluga/model.py``): same modules, same
parameter names, same input layout and base order. Weights are random (seeded); nothing is
downloaded.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import dnaseq
from dnaseq.data.deepsea_bundle import deepsea_groups
from dnaseq.training.import_weights import convert_state_dict, feature_group, published_features, recognise
from tests.conftest import DATA, run_cli
from tests.train_helpers import checkpoint_metadata


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Batches here are a few sequences: one thread is faster than two contending ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- peers, from their published definitions ---------------------------------------------------
class SeleneDeepSEA(nn.Module):
    """Selene models/deepsea.py: (N, 4, L) in A,C,G,T; hidden layer as wide as the targets."""

    def __init__(self, sequence_length, n_targets):
        super().__init__()
        self.conv_net = nn.Sequential(
            nn.Conv1d(4, 320, 8), nn.ReLU(), nn.MaxPool1d(4, 4), nn.Dropout(0.2),
            nn.Conv1d(320, 480, 8), nn.ReLU(), nn.MaxPool1d(4, 4), nn.Dropout(0.2),
            nn.Conv1d(480, 960, 8), nn.ReLU(), nn.Dropout(0.5))
        self.n_channels = int(np.floor((np.floor((sequence_length - 7) / 4.0) - 7) / 4.0) - 7)
        self.classifier = nn.Sequential(nn.Linear(960 * self.n_channels, n_targets), nn.ReLU(),
                                        nn.Linear(n_targets, n_targets), nn.Sigmoid())

    def forward(self, x):
        out = self.conv_net(x)
        return self.classifier(out.view(out.size(0), 960 * self.n_channels))


class SeleneDanQ(nn.Module):
    """Selene models/danQ.py. ``forward`` is Selene's (the LSTM's time axis is the batch);
    ``along_sequence`` runs the same modules with the recurrence along the sequence."""

    def __init__(self, sequence_length, n_genomic_features):
        super().__init__()
        self.nnet = nn.Sequential(nn.Conv1d(4, 320, 26), nn.ReLU(), nn.MaxPool1d(13, 13), nn.Dropout(0.2))
        self.bdlstm = nn.Sequential(nn.LSTM(320, 320, num_layers=1, batch_first=True, bidirectional=True))
        self._n_channels = (sequence_length - 25) // 13
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(self._n_channels * 640, 925), nn.ReLU(),
                                        nn.Linear(925, n_genomic_features), nn.Sigmoid())

    def forward(self, x):
        out = self.nnet(x).transpose(0, 1).transpose(0, 2)  # (L, N, C) into a batch_first LSTM
        out, _ = self.bdlstm(out)
        out = out.transpose(0, 1).contiguous()
        return self.classifier(out.view(out.size(0), 640 * self._n_channels))

    def along_sequence(self, x):
        out, _ = self.bdlstm(self.nnet(x).transpose(1, 2))
        return self.classifier(out.reshape(out.size(0), -1))


class NonStrandSpecific(nn.Module):
    """Selene's wrapper (mode "mean"): its parameters sit under ``model.``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return (self.model(x) + self.model(torch.flip(x, [1, 2]))) / 2


class _Lambda(nn.Module):  # Kipoi's parameter-free Lambda / ReCode modules
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def kipoi_deepsea_cpu():
    """DeepSEA 0.94 as Kipoi converted it: (N, 4, 1, 1000) in A,G,C,T, Threshold(0, 1e-6)."""
    return nn.Sequential(
        nn.Conv2d(4, 320, (1, 8)), nn.Threshold(0, 1e-06), nn.MaxPool2d((1, 4), (1, 4)), nn.Dropout(0.2),
        nn.Conv2d(320, 480, (1, 8)), nn.Threshold(0, 1e-06), nn.MaxPool2d((1, 4), (1, 4)), nn.Dropout(0.2),
        nn.Conv2d(480, 960, (1, 8)), nn.Threshold(0, 1e-06), nn.Dropout(0.5),
        _Lambda(lambda x: x.view(x.size(0), -1)),
        nn.Sequential(_Lambda(lambda x: x), nn.Linear(50880, 925)), nn.Threshold(0, 1e-06),
        nn.Sequential(_Lambda(lambda x: x), nn.Linear(925, 919)), nn.Sigmoid())


def kipoi_predict(cpu):
    """Kipoi DeepSEA/predict: A,C,G,T in, recoded to A,G,C,T, both strands averaged (prefix 2.)."""
    return nn.Sequential(_Lambda(lambda x: x[:, [0, 2, 1, 3]]), _Lambda(lambda x: torch.cat([x, x.flip(1, 3)])),
                         cpu, _Lambda(lambda y: y[:len(y) // 2] / 2 + y[len(y) // 2:] / 2))


def kipoi_beluga():
    """Kipoi DeepSEA/beluga (ExPecto's Beluga): (N, 4, 1, 2000) in A,G,C,T."""
    conv = nn.Sequential(
        nn.Conv2d(4, 320, (1, 8)), nn.ReLU(), nn.Conv2d(320, 320, (1, 8)), nn.ReLU(), nn.Dropout(0.2),
        nn.MaxPool2d((1, 4), (1, 4)), nn.Conv2d(320, 480, (1, 8)), nn.ReLU(), nn.Conv2d(480, 480, (1, 8)),
        nn.ReLU(), nn.Dropout(0.2), nn.MaxPool2d((1, 4), (1, 4)), nn.Conv2d(480, 640, (1, 8)), nn.ReLU(),
        nn.Conv2d(640, 640, (1, 8)), nn.ReLU())
    head = nn.Sequential(nn.Dropout(0.5), _Lambda(lambda x: x.view(x.size(0), -1)),
                         nn.Sequential(_Lambda(lambda x: x), nn.Linear(67840, 2003)), nn.ReLU(),
                         nn.Sequential(_Lambda(lambda x: x), nn.Linear(2003, 2002)))
    wrapper = nn.Module()
    wrapper.model = nn.Sequential(conv, head, nn.Sigmoid())
    wrapper.forward = wrapper.model.forward
    return wrapper


# ---- inputs ----------------------------------------------------------------------------------
def random_codes(n, length, seed, n_run=(100, 140)):
    """Random A/C/G/T codes with a stretch of N in the first sequence."""
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length)).astype(np.uint8)
    codes[0, n_run[0]:n_run[1]] = 4
    return codes


def peer_input(codes, order, fill=0.25, conv2d=False):
    """One-hot in the peer's channel order, N = ``fill`` in every channel."""
    x = np.zeros(codes.shape + (4,), np.float32)
    for i, base in enumerate("ACGT"):
        x[..., order.index(base)] += codes == i
    x[codes == 4] = fill
    x = torch.from_numpy(x).permute(0, 2, 1).contiguous()
    return x.unsqueeze(2) if conv2d else x


def ours(model, codes):
    with torch.no_grad():
        return model.predict_proba(dnaseq.one_hot(codes, fill=model.fill)).numpy()


def seeded(build, seed):
    torch.manual_seed(seed)
    return build().eval()


# ---- equality with each peer -------------------------------------------------------------------
def test_selene_deepsea_both_strands_equals_peer():
    peer = seeded(lambda: NonStrandSpecific(SeleneDeepSEA(1000, 919)), 0)
    net, res = convert_state_dict(peer.state_dict(), "selene.pth")
    assert (res.format, res.prefix, res.strand, res.seq_len, res.peer_base_order) == \
        ("selene-deepsea", "model.", "both", 1000, "ACGT")
    assert res.arch == "deepsea" and res.arch_args == {"hidden": 919}  # Selene's hidden = n_targets
    codes = random_codes(3, 1000, 1)
    with torch.no_grad():
        theirs = peer(peer_input(codes, "ACGT")).numpy()
    np.testing.assert_allclose(ours(net, codes), theirs, atol=1e-5)
    assert net.feature_names[0] == "8988T_DNase_None" and len(set(net.feature_names)) == 919


def test_kipoi_deepsea_predict_and_variant_effects_equal_peer():
    cpu = seeded(kipoi_deepsea_cpu, 1)
    codes = random_codes(3, 1000, 2)
    for wrapped, prefix, strand in ((kipoi_predict(cpu), "2.", "both"),
                                    (nn.Sequential(_Lambda(lambda x: x[:, [0, 2, 1, 3]]), cpu), "1.", "forward")):
        net, res = convert_state_dict(wrapped.eval().state_dict(), "deepsea.pth")
        assert (res.format, res.prefix, res.strand, res.arch, res.arch_args) == \
            ("kipoi-deepsea", prefix, strand, "deepsea", {})
        with torch.no_grad():
            theirs = wrapped(peer_input(codes, "ACGT", conv2d=True)).numpy()
        np.testing.assert_allclose(ours(net, codes), theirs, atol=1e-5)
    # the bare converted file (deepsea_cpu.pth) reads A,G,C,T directly
    net, res = convert_state_dict(cpu.state_dict(), "deepsea_cpu.pth")
    assert (res.prefix, res.peer_base_order, res.strand) == ("", "AGCT", "forward")
    with torch.no_grad():
        theirs = cpu(peer_input(codes, "AGCT", conv2d=True)).numpy()
    np.testing.assert_allclose(ours(net, codes), theirs, atol=1e-5)


def test_kipoi_beluga_equals_peer():
    peer = seeded(kipoi_beluga, 2)
    net, res = convert_state_dict(peer.state_dict(), "deepsea.beluga.pth")
    assert (res.format, res.arch, res.seq_len, res.n_features, res.strand) == \
        ("kipoi-beluga", "beluga", 2000, 2002, "forward")
    codes = random_codes(1, 2000, 3, n_run=(1500, 1600))  # one sequence: the peer's Conv2d is slow
    with torch.no_grad():
        theirs = peer(peer_input(codes, "AGCT", conv2d=True)).numpy()
    np.testing.assert_allclose(ours(net, codes), theirs, atol=1e-5)
    assert net.feature_names[576] == "HepG2_SREBP1_insulin" and net.feature_names[-1] == "Osteoblasts_H4K20me1_None"
    with torch.no_grad():
        rc = peer(peer_input(dnaseq.reverse_complement(codes), "AGCT", conv2d=True)).numpy()
        both = net.predict_proba(dnaseq.one_hot(codes), strand="both").numpy()
    np.testing.assert_allclose(both, (theirs + rc) / 2, atol=1e-5)
    # in-silico mutagenesis (local recompute through Beluga's tower) = full passes on the mutants
    from dnaseq.apply.ism import ism
    pos = [0, 1000, 1999]
    got = ism(net, codes, positions=pos, strand="forward")[0].numpy()  # (4, P, F)
    mutants = np.repeat(codes, 4 * len(pos), axis=0)
    for k, (b, p) in enumerate((b, p) for b in range(4) for p in pos):
        mutants[k, p] = b
    np.testing.assert_allclose(got, ours(net, mutants).reshape(4, len(pos), -1), atol=1e-5)


def test_selene_danq_equals_peer_run_along_the_sequence():
    peer = seeded(lambda: SeleneDanQ(1000, 919), 3)
    net, res = convert_state_dict(peer.state_dict(), "danq.pth")
    assert (res.format, res.arch, res.strand) == ("selene-danq", "danq", "forward")
    assert "batch axis" in res.notes[0]
    codes = random_codes(3, 1000, 4)
    x = peer_input(codes, "ACGT")
    with torch.no_grad():
        np.testing.assert_allclose(ours(net, codes), peer.along_sequence(x).numpy(), atol=1e-5)
        # Selene's own forward lets the batch leak into each prediction, which no checkpoint can
        # reproduce: the first sequence's output changes with its batch mates.
        assert not torch.allclose(peer(x)[:1], peer(x[:1]), atol=1e-4)


def test_resized_danq_becomes_conv_recurrent_with_placeholder_names():
    peer = seeded(lambda: SeleneDanQ(1000, 919), 4)
    peer.nnet[0], peer.bdlstm[0] = nn.Conv1d(4, 16, 20), nn.LSTM(16, 8, batch_first=True, bidirectional=True)
    peer.classifier[1], peer.classifier[3] = nn.Linear(75 * 16, 32), nn.Linear(32, 4)
    peer.eval()
    net, res = convert_state_dict(peer.state_dict(), "small_danq.pth")
    assert res.arch == "conv_recurrent" and res.arch_args["conv_widths"] == 20 and res.arch_args["rnn_hidden"] == 8
    assert net.feature_names == [f"feature_{i}" for i in range(4)] and "--features" in res.notes[-1]
    assert res.seq_len == 1000  # (1000 - 19) // 13 = 75 positions, like the published 1000 bp
    codes = random_codes(2, 1000, 8)
    with torch.no_grad():
        np.testing.assert_allclose(ours(net, codes), peer.along_sequence(peer_input(codes, "ACGT")).numpy(),
                                   atol=1e-5)


# ---- recognition, options and errors -----------------------------------------------------------
def test_published_feature_lists_and_groups():
    names, groups = published_features(919)
    assert len(names) == 919 and groups == deepsea_groups(919)  # 125 DNase, 690 TF, 104 histone
    bnames, bgroups = published_features(2002)
    assert bnames[:815] == [n if n != "NA_NA_NA" else "HepG2_SREBP1_insulin" for n in names[:815]]
    assert bgroups[:815] == groups[:815] and {"DNase", "TF", "Histone"} == set(bgroups)
    assert feature_group("H9_Cell_Line_H3T11ph_None") == "Histone" and feature_group("H1-hESC_CTCF_None") == "TF"
    assert published_features(12) is None


def test_small_selene_model_with_features_file_and_seq_len(tmp_path):
    peer = seeded(lambda: SeleneDeepSEA(1000, 5), 5)
    names = tmp_path / "distinct_features.txt"
    names.write_text("# Selene's distinct_features.txt\nA\tTF\nB\nC\nA\nE\n")
    net, res = convert_state_dict({"module." + k: v for k, v in peer.state_dict().items()}, "p.pth",
                                  features=str(names), fill=0.0)
    assert res.prefix == "module." and net.feature_names == ["A", "B", "C", "A#2", "E"]
    assert net.feature_groups[:2] == ["TF", "unknown"] and net.fill == 0.0
    codes = random_codes(2, 1000, 6)
    with torch.no_grad():
        np.testing.assert_allclose(ours(net, codes), peer(peer_input(codes, "ACGT", fill=0.0)).numpy(), atol=1e-5)
    # 1000 and 1003 bp give the same layer sizes: the published length is taken, another is checked
    assert convert_state_dict(peer.state_dict(), "p.pth", seq_len=1003)[1].seq_len == 1003
    with pytest.raises(ValueError, match=r"--seq-len 1200 does not fit.*windows of 995-1010 bp"):
        convert_state_dict(peer.state_dict(), "p.pth", seq_len=1200)
    with pytest.raises(ValueError, match="names 5 features but the weights predict 7"):
        convert_state_dict(seeded(lambda: SeleneDeepSEA(1000, 7), 5).state_dict(), "p.pth", features=str(names))


def test_mismatches_are_one_line_errors_naming_file_guess_and_keys():
    sd = seeded(lambda: SeleneDeepSEA(1000, 4), 0).state_dict()
    sd.pop("classifier.2.bias")
    sd["classifier.9.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as e:
        recognise(sd, "my.pth")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("my.pth: not a selene-deepsea state dict")
    assert "missing 1: classifier.2.bias" in msg and "unexpected 1: classifier.9.weight" in msg
    with pytest.raises(ValueError, match=r"^x.pth: matches none of the published layouts.*first parameters are a"):
        recognise({"a": torch.zeros(1)}, "x.pth")
    bad = seeded(lambda: SeleneDeepSEA(1000, 4), 0).state_dict()
    bad["conv_net.4.weight"] = torch.zeros(480, 320, 9)
    with pytest.raises(ValueError, match=r"conv_net.4.weight has shape \(480, 320, 9\).*needs \(480, 320, 8\)"):
        convert_state_dict(bad, "w.pth")
    with pytest.raises(ValueError, match="not a kipoi-beluga state dict"):
        convert_state_dict(sd, "w.pth", model="kipoi-beluga")


def test_cli_import_then_predict_and_error_lines(tmp_path, capsys):
    peer = seeded(lambda: NonStrandSpecific(SeleneDeepSEA(1000, 3)), 7)
    weights = tmp_path / "best_model.pth.tar"
    torch.save({"epoch": 3, "state_dict": peer.state_dict()}, weights)  # Selene's checkpoint layout
    names = tmp_path / "features.txt"
    names.write_text("CTCF\nBEAF\nSuHw\n")
    ckpt = tmp_path / "imported.ckpt"
    out = run_cli("import-weights", weights, "-o", ckpt, "--features", names).stdout
    assert "selene-deepsea" in out and "wrapper prefix 'model.'" in out and f"wrote {ckpt}" in out and "md5 " in out
    model = dnaseq.load_model(str(ckpt))
    assert model.feature_names == ["CTCF", "BEAF", "SuHw"] and model.trained_strand == "both"
    meta = checkpoint_metadata(str(ckpt))
    assert meta["base_order"] == "ACGT" and meta["fill"] == 0.25 and meta["strand"] == "both"
    assert meta["imported"]["format"] == "selene-deepsea" and len(meta["imported"]["sha256"]) == 64

    bed = tmp_path / "regions.bed"
    bed.write_text("chr2L\t20000\t20200\nchr2L\t150000\t150200\n")
    fasta = tmp_path / "ref.fa.gz"
    fasta.write_bytes((DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz").read_bytes())
    # predict through the same CLI entry point, in this process (a second interpreter would cost
    # another ~8 s of imports)
    from dnaseq.cli.app import main
    assert main(["predict", "-m", str(ckpt), "--regions", str(bed), "-r", str(fasta), "-o",
                 str(tmp_path / "pred"), "--quiet"]) == 0
    import pandas as pd
    table = pd.read_csv(tmp_path / "pred.tsv", sep="\t")
    assert list(table.columns[-3:]) == ["CTCF", "BEAF", "SuHw"] and len(table) == 2
    genome = dnaseq.Genome(str(fasta))
    codes = np.stack([genome.fetch("chr2L", s - 400, s + 600).codes for s in (20000, 150000)])
    with torch.no_grad():
        expected = peer(peer_input(codes, "ACGT")).numpy()
    np.testing.assert_allclose(table[["CTCF", "BEAF", "SuHw"]].to_numpy(), expected, atol=1e-5)

    # errors: one line on stderr, exit 1, no traceback
    capsys.readouterr()
    assert main(["import-weights", str(weights), "-o", str(ckpt)]) == 1
    assert "exists from an earlier run: pass --overwrite" in capsys.readouterr().err
    junk = tmp_path / "notes.txt"
    junk.write_text("not weights\n")
    assert main(["import-weights", str(junk), "-o", str(tmp_path / "x.ckpt")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "notes.txt is not a PyTorch file" in err
    odd = tmp_path / "odd.pth"
    torch.save({"conv.weight": torch.zeros(2)}, odd)
    assert main(["import-weights", str(odd), "-o", str(tmp_path / "x.ckpt")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "odd.pth: matches none of the published layouts" in err
