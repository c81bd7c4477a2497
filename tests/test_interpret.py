"""Interpretation: motif files, TOMTOM matching, filter PFMs on both strands, filter influence,
attributions (strand averaging, completeness, planted motif), the motifs/attribute commands."""
import gzip
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import dnaseq
from dnaseq.interpret import (
    METHODS,
    attribute,
    contributions,
    dinucleotide_shuffle,
    filter_influence,
    filter_motifs,
    filter_pfms,
    first_conv,
    information_content,
    read_motifs,
    tomtom,
    write_meme,
)
from dnaseq.interpret.motif_match import benjamini_hochberg
from dnaseq.sequence.encoding import decode, encode, reverse_complement
from dnaseq.sequence.motifs import parse_jaspar, parse_meme
from dnaseq.sequence.motifs import reverse_complement as motif_rc
from dnaseq.sequence.onehot import one_hot
from tests.conftest import DATA, TEST_DATA, run_cli

pytest.importorskip("memelite")
pytest.importorskip("captum")
pytest.importorskip("logomaker")

MOTIFS = TEST_DATA / "interpret"
SUBSET = MOTIFS / "jaspar2024_core_subset.meme"
SLICE_FASTA = DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz"


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models run fastest on one thread; on a busy 2-core machine two threads spin-wait
    on every small op (7x slower measured). The commands' subprocesses inherit the setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def db():
    return read_motifs(str(SUBSET))


def _motif(db, prefix):
    return next(m for m in db if m.id.startswith(prefix))


# -- motif files -------------------------------------------------------------------------------
def test_motif_files_meme_and_jaspar_round_trip(db, tmp_path):
    assert len(db) == 33
    ctcf = _motif(db, "MA0531")
    assert (ctcf.id, ctcf.name, ctcf.width, ctcf.nsites) == ("MA0531.2", "CTCF", 10, 1902)
    assert ctcf.pfm[:, 5].tolist() == [0.0, 0.0, 1.0, 0.0]  # 6th row of the file: certain G
    assert information_content(ctcf.pfm)[5] == pytest.approx(2.0)
    jas = read_motifs(str(MOTIFS / "jaspar_insecta_subset.jaspar"))
    assert [m.id for m in jas] == ["MA0010.1", "MA0011.1", "MA0012.1"] and jas[0].name == "br_Z1"
    assert jas[1].nsites == 12 and jas[1].pfm[:, 2] == pytest.approx([0, 10 / 12, 0, 2 / 12])
    out = write_meme(str(tmp_path / "x.meme"), jas + [ctcf])
    again = read_motifs(out)
    assert [m.label for m in again] == [m.label for m in jas + [ctcf]]
    assert all(np.allclose(a.pfm, b.pfm, atol=1e-6) for a, b in zip(again, jas + [ctcf]))
    with gzip.open(tmp_path / "x.meme.gz", "wb") as fh:
        fh.write((tmp_path / "x.meme").read_bytes())
    assert [m.label for m in read_motifs(str(tmp_path / "x.meme.gz"))] == [m.label for m in again]
    with pytest.raises(ValueError, match="is a folder; give a MEME or JASPAR motif file"):
        read_motifs(str(tmp_path))  # was IsADirectoryError's traceback
    with pytest.raises(ValueError, match=":3: expected '>ID NAME' or a count row"):
        parse_jaspar([">M1 x", "A [1 2]", "oops"], "bad.jaspar")
    good = [">M0 ok", "A [1 2]", "C [0 0]", "G [0 0]", "T [1 0]"]  # the error names the row at fault
    for rows, expect in [(["A [1 2]", "C [0 0]", "G [0 0 3]", "T [1 0]"],
                          r"bad.jaspar:9: the G row of motif M1 has 3 counts, its A row \(line 7\) 2"),
                         (["A [1 2]", "C [0 0]", "A [0 0]", "T [1 0]"],
                          r"bad.jaspar:9: motif M1 has a second A row \(the first is line 7\)"),
                         (["A [1 2]", "C [0 0]", "T [1 0]"], r"bad.jaspar:9: motif M1 has no G row"),
                         (["A [1 2]", "C [0 -1]", "G [0 0]", "T [1 0]"],
                          r"bad.jaspar:8: counts must be finite numbers >= 0: 'C \[0 -1\]'"),
                         (["A [1 nan]", "C [0 0]", "G [0 0]", "T [1 0]"], r"bad.jaspar:7: counts must be finite")]:
        with pytest.raises(ValueError, match=expect):
            parse_jaspar(good + [">M1 x"] + rows + [">M2 y", "A [1]", "C [1]", "G [1]", "T [1]"], "bad.jaspar")
    with pytest.raises(ValueError, match=r"rows.meme:4: probabilities must be finite numbers >= 0: '0.5 -0.1"):
        parse_meme(["MEME version 4", "MOTIF M1", "letter-probability matrix: w= 2",
                    "0.5 -0.1 0.3 0.3", "0.25 0.25 0.25 0.25"], "rows.meme")
    with pytest.raises(ValueError, match="alphabet"):
        parse_meme(["MEME version 4", "ALPHABET= ACGU"], "rna.meme")


def test_a_wrong_motif_file_stops_filter_motifs_before_its_passes(tiny_checkpoint, tmp_path, monkeypatch):
    from dnaseq.interpret import motifs as motifs_module

    def reached(*args, **kwargs):
        raise AssertionError("the activation pass ran before the motif file was read")
    monkeypatch.setattr(motifs_module, "filter_pfms", reached)
    (tmp_path / "peaks.bed").write_text("chr2L\t100\t200\n")
    codes = np.zeros((2, 1000), np.uint8)
    with pytest.raises(ValueError, match="neither a MEME file"):
        motifs_module.filter_motifs(str(tiny_checkpoint), codes, motif_db=str(tmp_path / "peaks.bed"))
    with pytest.raises(ValueError, match="is a folder"):
        motifs_module.filter_motifs(str(tiny_checkpoint), codes, motif_db=str(tmp_path))


def test_attribute_takes_what_predict_proba_takes_and_names_bad_arguments(tiny_checkpoint):
    import dnaseq

    model = dnaseq.load_model(tiny_checkpoint)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (2, model.seq_len)).astype(np.uint8)
    text = decode(codes[0])
    want = attribute(model, codes, method="saliency")
    for x in (text, [text, decode(codes[1])], one_hot(codes).numpy(), one_hot(codes[0]).numpy(), codes[0]):
        got = attribute(model, x, method="saliency")
        np.testing.assert_allclose(got, want[:len(got)], atol=1e-6)
    for kwargs, expect in [({"feature": 99}, "feature index 99 is out of range: the model predicts 8 features"),
                           ({"feature": -1}, "feature index -1 is out of range"),
                           ({"positions": [model.seq_len]}, f"0 to {model.seq_len - 1}\\), got {model.seq_len}"),
                           ({"method": "integrated-gradients", "steps": 100_000}, "steps must be at most 1,000")]:
        with pytest.raises(ValueError, match=expect):
            attribute(model, codes, **{"method": "saliency", **kwargs})
    with pytest.raises(ValueError, match=f"takes {model.seq_len} bp windows; got 10 bp"):
        attribute(model, "ACGTACGTAC", method="saliency")
    with pytest.raises(TypeError, match="on an object of type 'int'"):
        attribute(model, 5, method="saliency")


def test_benjamini_hochberg_matches_hand_computation():
    q = benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03, 0.5]))
    assert np.isnan(q[2])
    assert q[[0, 1, 3, 4]] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])  # ranks 1, 3, 2, 4 of 4


# -- TOMTOM -------------------------------------------------------------------------------------
def test_tomtom_finds_a_motif_and_its_reverse_complement_with_offset_and_orientation(db):
    suhw = _motif(db, "MA0533").pfm  # 21 columns, not palindromic
    part = suhw[:, 3:12]
    flanked = np.concatenate([np.full((4, 2), 0.25), part], axis=1)  # 2 uniform columns, trimmed
    queries = [part, motif_rc(part), flanked, None]
    res = tomtom(queries, db, names=["fwd", "rc", "flanked", "dead"], trim_ic=0.3)
    best = res.best()
    assert list(best.match_id[:3]) == ["MA0533.1"] * 3
    assert list(best.orientation[:3]) == ["+", "-", "+"]
    # column 0 of the query lies on target column 3; for "-", on column 21 - 12 = 9 of the
    # reverse-complemented target; the flanked query's column 0 two columns before column 3
    assert list(best.offset[:3]) == [3, 9, 1]
    first_informative = int(np.nonzero(information_content(part) >= 0.3)[0][0])
    assert (best.query_start[2], best.query_end[2]) == (2 + first_informative, 11)  # flanks left out
    assert (best.q_value[:3] < 1e-6).all() and np.isnan(best.p_value[3])
    assert res.for_target("MA0533").iloc[0]["query"] in ("fwd", "rc")


# -- filters, both strands, influence -------------------------------------------------------------
KMER = "GATTACAGCA"


def _kmer_model(n_filters: int = 3, **extra) -> nn.Module:
    """A CNN whose filter 0 scores matches to KMER (+1 a match, -1 a mismatch) and filter 1 is zero."""
    net = dnaseq.build_model("conv_recurrent", 80, 2, conv_filters=[n_filters], conv_widths=len(KMER),
                             pool_sizes=1, conv_dropout=0.0, rnn_type="none", readout="max",
                             readout_dropout=0.0, head_hidden=[], **extra)
    conv = first_conv(net)
    with torch.no_grad():
        conv.weight[0] = 2 * one_hot(encode(KMER), fill=0.0) - 1
        conv.bias[0] = 0.0
        conv.weight[1] = 0.0
        conv.bias[1] = 0.0
    return net.eval()


def _kmer_windows(n=24, length=80, seed=0):
    """Random windows with KMER once on the forward strand (even rows) or once as its reverse
    complement (odd rows), and nowhere else on either strand."""
    rng = np.random.default_rng(seed)
    rc = decode(reverse_complement(encode(KMER)))
    rows = []
    while len(rows) < n:
        seq = decode(rng.integers(0, 4, length).astype(np.uint8))
        if KMER in seq or rc in seq:
            continue
        at = int(rng.integers(0, length - len(KMER)))
        seq = seq[:at] + (KMER if len(rows) % 2 == 0 else rc) + seq[at + len(KMER):]
        if seq.count(KMER) + seq.count(rc) == 1:
            rows.append(seq)
    return np.stack([encode(s) for s in rows])


def test_filter_pfms_count_sites_on_the_strands_the_model_runs():
    net, codes = _kmer_model(), _kmer_windows()
    fwd = filter_pfms(net, codes, threshold=0.95, strand="forward")
    both = filter_pfms(net, codes, threshold=0.95, strand="both")
    assert fwd.max_activation[0] == both.max_activation[0] == len(KMER)
    assert fwd.sites[0] == 12 and both.sites[0] == 24  # forward sites only / sites on either strand
    for res in (fwd, both):  # the counts are the k-mer in the filter's own orientation
        assert res.counts[0].argmax(axis=0).tolist() == encode(KMER).tolist()
        assert np.allclose(res.pfm(0), one_hot(encode(KMER), fill=0.0).numpy())
    assert fwd.sites[1] == 0 and fwd.pfm(1) is None  # a filter that never fires has no motif
    assert [m.id for m in both.motifs()] == ["filter0"] + (["filter2"] if both.sites[2] else [])
    assert fwd.mean_activation[1] == 0.0


@pytest.mark.parametrize("wide", [0, 3])
def test_filter_influence_is_zero_for_a_constant_filter_and_matches_brute_force(wide):
    """Also with a k-mer wide part (kmer_k), which reads the windows beside the conv tower."""
    net, codes = _kmer_model(kmer_k=wide, kmer_dropout=0.0), _kmer_windows(n=10)
    if wide:
        with torch.no_grad():
            net.wide.linear.weight.normal_(0, 0.5)
            net.wide.norm.running_var.fill_(4.0)
    with torch.no_grad():
        net.head[0].weight.copy_(torch.tensor([[1.0, 3.0, -0.5], [0.5, 3.0, 0.2]]))
    means = filter_pfms(net, codes, strand="both").mean_activation
    infl = filter_influence(net, codes, means, strand="both")
    assert infl.shape == (3, 2)
    # filter 1's output is constant: replacing it changes nothing (batched float32 rounding aside)
    assert np.abs(infl[1]).max() < 1e-7
    # brute force for filter 0: a hook sets its channel to its mean, both strands averaged
    x = one_hot(codes).float()
    conv = first_conv(net)

    def probs():
        with torch.no_grad():
            return ((torch.sigmoid(net(x)) + torch.sigmoid(net(x.flip(1).flip(2)))) / 2).numpy()

    base = probs()
    handle = conv.register_forward_hook(lambda m, i, o: torch.cat([torch.full_like(o[:, :1], float(means[0])),
                                                                    o[:, 1:]], dim=1))
    try:
        nulled = probs()
    finally:
        handle.remove()
    assert infl[0] == pytest.approx((base - nulled).mean(axis=0), abs=1e-6)
    assert abs(infl[0, 0]) > 1e-3
    assert isinstance(net.conv[0], nn.Conv1d) and not net.training  # the model is left as found


# -- attributions ---------------------------------------------------------------------------------
def test_dinucleotide_shuffle_keeps_dinucleotide_counts():
    rng = np.random.default_rng(1)
    seq = rng.integers(0, 5, 300).astype(np.uint8)
    shuffled = dinucleotide_shuffle(seq, rng)

    def pairs(s):
        return sorted(zip(s[:-1].tolist(), s[1:].tolist()))

    assert pairs(shuffled) == pairs(seq) and shuffled[0] == seq[0] and shuffled[-1] == seq[-1]
    assert not np.array_equal(shuffled, seq)


def _rc_attr(a):
    return a[:, ::-1, ::-1]


def test_attributions_on_both_strands_average_the_two_strands(tiny_checkpoint):
    model = dnaseq.load_model(str(tiny_checkpoint))
    was_training = model.training
    codes = dnaseq.open_split(str(DATA / "dm3_insulators.h5"), "test").read(np.array([0, 7]))[0]
    rc = np.stack([reverse_complement(c) for c in codes])
    for method in ("saliency", "integrated-gradients"):  # input-x-gradient is x * saliency
        both = attribute(model, codes, "CTCF_Kc", method, strand="both", steps=8)
        fwd = attribute(model, codes, "CTCF_Kc", method, strand="forward", steps=8)
        from_rc = attribute(model, rc, "CTCF_Kc", method, strand="forward", steps=8)
        assert both.shape == (2, 4, 1000)
        assert np.allclose(both, (fwd + _rc_attr(from_rc)) / 2, atol=1e-6), method
    pos = np.arange(495, 505)
    both = attribute(model, codes, "CTCF_Kc", "ism", strand="both", positions=pos)
    fwd = attribute(model, codes, "CTCF_Kc", "ism", strand="forward", positions=pos)
    from_rc = attribute(model, rc, "CTCF_Kc", "ism", strand="forward", positions=999 - pos[::-1])
    assert np.allclose(both, (fwd + _rc_attr(from_rc)) / 2, atol=1e-6)
    assert np.allclose(both.sum(axis=1), 0, atol=1e-6)  # ISM values are centred per position
    assert model.training == was_training


def test_integrated_gradients_completeness(tiny_checkpoint):
    model = dnaseq.load_model(str(tiny_checkpoint))
    codes = dnaseq.open_split(str(DATA / "dm3_insulators.h5"), "test").read(np.array([3, 11]))[0]
    j = model.feature_names.index("BEAF_Kc")
    a = attribute(model, codes, "BEAF_Kc", "integrated-gradients", strand="forward", steps=200)
    with torch.no_grad():
        p = torch.sigmoid(model(one_hot(codes, fill=model.fill)))[:, j].numpy()
        p0 = torch.sigmoid(model(torch.full((1, 4, 1000), model.fill)))[0, j].item()
    assert a.sum(axis=(1, 2)) == pytest.approx(p - p0, abs=2e-3 * max(1e-3, float(np.abs(p - p0).max())) + 1e-5)


def _planted(db, seed=0, length=60, n=1200):
    """Random windows, every other one with a site sampled from JASPAR's CTCF (MA0531.2)."""
    target = _motif(db, "MA0531").pfm
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    labels, sites = np.zeros(n, np.float32), np.full(n, -1)
    for i in range(0, n, 2):
        at = int(rng.integers(0, length - target.shape[1]))
        codes[i, at:at + target.shape[1]] = [rng.choice(4, p=col) for col in target.T]
        labels[i], sites[i] = 1, at
    return codes, labels, sites


def test_planted_motif_is_recovered_by_filters_and_attributions(db):
    codes, labels, sites = _planted(db)
    torch.manual_seed(0)
    net = dnaseq.build_model("conv_recurrent", 60, 1, conv_filters=[4], conv_widths=10, pool_sizes=1,
                             conv_dropout=0.0, batch_norm=True, rnn_type="none", readout="max",
                             readout_dropout=0.0, head_hidden=[])
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    x, y = one_hot(codes[:1000]).float(), torch.from_numpy(labels[:1000])[:, None]
    for _ in range(150):
        loss = nn.functional.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    held = codes[1000:]
    result = filter_motifs(net, held, motif_db=db, influence_windows=20)
    hits = result.significant(0.05)
    assert "MA0531.2" in set(hits.match_id), result.table
    best = hits[hits.match_id == "MA0531.2"].iloc[0]
    assert best.q_value < 0.05 and best.orientation in "+-"
    print(f"planted MA0531.2 recovered by {best['filter']}: p={best.p_value:.2g} q={best.q_value:.2g}")
    # attributions: share of each positive window's |contribution| on its planted site
    pos = np.nonzero(labels[1000:])[0][:30] + 1000
    shares = {}
    for method in METHODS:
        a = attribute(net, codes[pos], 0, method, output="probability", steps=32, shuffles=8)
        c = np.abs(contributions(a, codes[pos]))
        on_site = [c[k, sites[i]:sites[i] + 10].sum() / max(c[k].sum(), 1e-30) for k, i in enumerate(pos)]
        shares[method] = float(np.mean(on_site))
    print("share of |attribution| on the planted sites (site = 10 of 60 bp):", shares)
    assert all(s > 0.45 for s in shares.values()), shares  # 10/60 = 0.17 by chance


# -- commands -------------------------------------------------------------------------------------
def test_motifs_command_writes_tables_meme_influence_and_logos(tiny_checkpoint, shipped_dataset, tmp_path):
    out = tmp_path / "motifs"
    proc = run_cli("motifs", "--checkpoint", tiny_checkpoint, "--data", shipped_dataset, "--split", "test",
                   "--motif-db", SUBSET, "--out", out, "--max-windows", 40, "--influence-windows", 6,
                   "--strand", "both", "--show-motif", "MA0529", "--quiet")
    assert "8 filters of width 11 over 40 windows (test, strand both)" in proc.stdout
    assert "MA0529.3 BEAF-32: best filter filter" in proc.stdout
    # a motif id the database does not have stops before any work, leaving nothing behind
    wrong = run_cli("motifs", "--checkpoint", tiny_checkpoint, "--data", shipped_dataset, "--motif-db", SUBSET,
                    "--out", tmp_path / "m2", "--show-motif", "MA9999", check=False)
    assert wrong.returncode == 1 and "--show-motif MA9999: no motif id in" in wrong.stderr
    assert not (tmp_path / "m2").exists()
    table = pd.read_csv(out / "filter_motifs.tsv", sep="\t")
    assert list(table["filter"]) == [f"filter{i}" for i in range(8)]
    assert {"sites", "information_content", "match_id", "p_value", "q_value", "offset", "orientation",
            "influence", "top_feature"} <= set(table.columns)
    live = table[table.sites > 0]
    assert len(read_motifs(str(out / "filters.meme"))) == len(live)
    assert live.match_id.notna().all() and (live.q_value >= live.p_value).all()
    infl = pd.read_csv(out / "filter_influence.tsv", sep="\t", index_col=0)
    assert infl.shape == (8, 8) and "CTCF_Kc" in infl.columns
    assert sorted(p.name for p in (out / "logos").iterdir()) == sorted(f"{f}.png" for f in live["filter"])
    for name in ("influence_heatmap.png", "filters_overview.png", "tomtom_matches.tsv"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == 40 and summary["strand"] == "both" and summary["database_motifs"] == 33


def test_attribute_command_writes_hdf5_and_logo_track(tiny_checkpoint, tmp_path):
    out = tmp_path / "attr.h5"
    proc = run_cli("attribute", "--checkpoint", tiny_checkpoint, "--reference", SLICE_FASTA,
                   "--region", "chr2L:6,001-6,060", "--region", "chr2L:9,001-9,060", "--method", "ism",
                   "--feature", "BEAF_Kc", "--out", out, "--plot-dir", tmp_path / "plots", "--quiet")
    assert "ism attributions of BEAF_Kc" in proc.stdout and "chr2L:6001-6060" in proc.stdout
    with h5py.File(out, "r") as h5:
        a, c, codes = h5["attributions"][:], h5["contributions"][:], h5["codes"][:]
        assert a.shape == (2, 4, 60) and c.shape == (2, 60) and codes.shape == (2, 1000)
        assert json.loads(h5.attrs["window_starts"])[0] == 6000 + 30 - 500
        assert h5.attrs["method"] == "ism" and h5.attrs["feature"] == "BEAF_Kc"
        pos = h5["positions"][:]
        assert pos[0] == 470 and len(pos) == 60
        assert np.allclose(c, contributions(a, codes, pos))
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["chr2L_6001-6060.BEAF_Kc.ism.png", "chr2L_9001-9060.BEAF_Kc.ism.png"]
    from dnaseq.cli.app import main
    assert main(["attribute", "--checkpoint", str(tiny_checkpoint), "--region", "chr2L:1-10",
                 "--out", str(tmp_path / "x.h5")]) == 1  # no --reference: one-line error, exit 1


def test_discovered_patterns_keep_the_feature_name_and_number_their_patterns(db, monkeypatch):
    """TF-MoDISco itself is replaced by two fixed patterns (it needs hundreds of windows): the
    result names the feature it explains and each pattern by its sign and rank."""
    from types import SimpleNamespace

    import modiscolite.tfmodisco

    from dnaseq.interpret import modisco

    motif = db[0]
    found = [SimpleNamespace(sequence=motif.pfm.T, seqlets=[0] * 7)]
    monkeypatch.setattr(modiscolite.tfmodisco, "TFMoDISco", lambda **kwargs: (found, found[:1]))
    net, codes = _kmer_model(), _kmer_windows(n=4)
    result = modisco.discover_patterns(net, codes, 0, motif_db=db, strand="forward")
    assert result.feature == "0"
    assert [m.id for m in result.motifs] == ["pos_pattern0", "neg_pattern0"] and result.sign == ["+", "-"]
    table = result.table()
    assert (table.match_id == motif.id).all() and table.seqlets.tolist() == [7, 7]
    # several features' patterns, matched together: IDs say whose they are
    other = modisco.discover_patterns(net, codes, 1, motif_db=None, strand="forward")
    assert other.matches is None and other.feature == "1"
    merged = modisco.merge_patterns([result, other], db)
    assert merged.feature == "0,1" and merged.sources == ["0", "0", "1", "1"]
    assert [m.id for m in merged.motifs] == ["0.pos_pattern0", "0.neg_pattern0", "1.pos_pattern0", "1.neg_pattern0"]
    both = merged.table()
    assert both.feature.tolist() == ["0", "0", "1", "1"] and (both.match_id == motif.id).all()
    assert np.allclose(both.q_value[:2], table.q_value)  # per-pattern q-values: as matched alone
    assert modisco.merge_patterns([result], db) is result


def test_meme_matrices_cut_short_are_errors_and_open_ones_end_at_text(tmp_path):
    """A matrix with fewer rows than its w= is an error naming the line (a design would otherwise
    forbid nothing for it); a matrix without w= runs to the first line that is not four numbers."""
    text = ("MOTIF M1 one\nletter-probability matrix: alength= 4 w= 2 nsites= 20\n0.7 0.1 0.1 0.1\n\n"
            "0.1 0.1 0.7 0.1\nMOTIF M2\nletter-probability matrix: alength= 4\n1 0 0 0\n0 1 0 0\nURL http://x\n")
    motifs = parse_meme(text.splitlines(), "ok.meme")
    assert [(m.id, m.name, m.width, m.nsites) for m in motifs] == [("M1", "one", 2, 20), ("M2", "M2", 2, 0)]
    with pytest.raises(ValueError, match=r"short.meme:5: the matrix of motif X \(line 2\) has 2 rows, not w=3"):
        parse_meme("MOTIF X\nletter-probability matrix: w= 3\n1 0 0 0\n0 1 0 0\nMOTIF Y\n".splitlines(), "short.meme")
    with pytest.raises(ValueError, match="end.meme:4: the matrix of motif X"):
        parse_meme("MOTIF X\nletter-probability matrix: w= 3\n1 0 0 0\n".splitlines(), "end.meme")
    with pytest.raises(ValueError, match=r"row.meme:3: expected 4 probabilities \(ACGT\), got '0.5 x 0 0'"):
        parse_meme("MOTIF X\nletter-probability matrix: w= 2\n0.5 x 0 0\n".splitlines(), "row.meme")


def test_meme_rows_past_w_and_typos_in_rows_are_named(tmp_path):
    from dnaseq.sequence.motifs import parse_meme
    head = ["MEME version 4", "", "ALPHABET= ACGT", "", "MOTIF M1 one",
            "letter-probability matrix: alength= 4 w= 2 nsites= 10 E= 0"]
    rows = ["0.7 0.1 0.1 0.1", "0.1 0.7 0.1 0.1", "0.1 0.1 0.7 0.1"]
    with pytest.raises(ValueError, match=r"x.meme:9: a row of numbers after the matrix of motif M1: its w=2"):
        parse_meme(head + rows, "x.meme")  # the third row used to be dropped: a motif cut short
    typo = head[:-1] + ["letter-probability matrix: alength= 4 w= 3"] + [rows[0], "0.86x 0.1 0.02 0.02", rows[2]]
    with pytest.raises(ValueError, match=r"x.meme:8: expected 4 probabilities \(ACGT\), got '0.86x"):
        parse_meme(typo, "x.meme")
    assert parse_meme(head + rows[:2], "x.meme")[0].width == 2
