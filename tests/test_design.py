"""Sequence design (dnaseq.design): exact batched scoring of every edit, greedy / beam / sampling
agree where they must, beam search reaches the exhaustive optimum, constraints hold, CLI outputs."""
import itertools
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import dnaseq
from dnaseq.apply.ism import ism
from dnaseq.design import (
    Constraints,
    EditScorer,
    MotifSet,
    Objective,
    beam,
    design,
    evaluating,
    greedy,
    sample,
)
from dnaseq.design.motifs import threshold
from dnaseq.design.objective import parse_terms
from dnaseq.design.sources import Starts, protected_mask, region_starts
from dnaseq.sequence.genome import write_fasta
from dnaseq.sequence.motifs import read_background, read_motifs
from tests.conftest import DATA, run_cli

L = 64
LSTM = dict(conv_filters=[6], conv_widths=7, pool_sizes=4, rnn_type="lstm", rnn_hidden=4, head_hidden=[8])
DENSE = dict(conv_filters=[6], conv_widths=7, pool_sizes=4, rnn_type="none", readout="flatten", head_hidden=[8])


def make_model(arch_args, seq_len=L, strand="both", seed=0):
    torch.manual_seed(seed)
    model = dnaseq.SequenceModel("conv_recurrent", arch_args, seq_len=seq_len, n_features=3, strand=strand)
    for p in model.parameters():  # larger weights: edits move the predictions visibly
        p.data.mul_(3.0)
    return model.eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, above all on a shared machine (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lstm_model():
    return make_model(LSTM)


@pytest.fixture(scope="module")
def dense_model():
    return make_model(DENSE, strand="forward")


def random_codes(n, length=L, seed=0):
    return np.random.default_rng(seed).integers(0, 4, size=(n, length)).astype(np.uint8)


def run(strategy, model, codes, objective="+feature_0 -feature_1", constraints=None, protected=None, **kw):
    """A search on a bare model (no engine), model left in eval mode."""
    rules = (constraints or Constraints(max_edits=3)).bind(codes, protected)
    obj = Objective.parse(objective, model.feature_names, kw.pop("space", "prob"))
    scorer = EditScorer.from_model(model, batch_size=kw.pop("batch_size", 256))
    with evaluating(scorer.net):
        return strategy(scorer, obj, rules, **kw)


def edits(result):
    """(origin, chain, step, position, after) of every step > 0, in order."""
    t = result.trajectory
    keep = t["step"] > 0
    return list(zip(*(t[k][keep].tolist() for k in ("origin", "chain", "step", "position", "after"))))


@pytest.mark.parametrize("which,strand", [("lstm", "both"), ("lstm", "forward"), ("dense", "both")])
def test_every_edit_is_scored_exactly(lstm_model, dense_model, which, strand):
    model = lstm_model if which == "lstm" else dense_model
    codes = random_codes(3, seed=1)
    codes[1, 5] = 4  # an N: never edited, filled as the checkpoint says
    allowed = Constraints(max_edits=3).bind(codes).allowed(codes, np.arange(3))
    assert not allowed[1, 5].any() and allowed.sum() == 3 * 3 * L - 3
    with evaluating(model.model):
        fast = EditScorer.from_model(model, strand=strand, batch_size=97).score(codes, allowed)
        full = EditScorer.from_model(model, strand=strand, fast=False).score(codes, allowed)
        assert EditScorer.from_model(model).local and (fast.row == full.row).all()
        assert torch.allclose(fast.probs, full.probs, atol=1e-5) and torch.allclose(fast.ref, full.ref, atol=1e-5)
        for j in (0, 500, len(fast) - 1):  # against the model's own predict_proba
            mutant = codes[fast.row[j]].copy()
            mutant[fast.pos[j]] = fast.base[j]
            alone = model.predict_proba(dnaseq.one_hot(mutant), strand=strand)[0]
            assert torch.allclose(fast.probs[j], alone, atol=1e-5)


@pytest.mark.parametrize("space", ["prob", "logit"])
def test_greedy_first_step_is_the_best_gain_of_ism(lstm_model, space):
    codes = random_codes(1, seed=2)
    res = run(greedy, lstm_model, codes, space=space, steps=1)
    preds, = ism(lstm_model, dnaseq.one_hot(codes), progress=False)  # (4, L, F), checkpoint's strand mode
    obj = Objective.parse("+feature_0 -feature_1", lstm_model.feature_names, space)
    values = obj(preds)  # (4, L)
    values[codes[0], np.arange(L)] = -np.inf  # the reference base is no edit
    base, pos = np.unravel_index(np.argmax(values), values.shape)
    (_, _, _, got_pos, got_base), = edits(res)
    assert (got_pos, got_base) == (pos, base)
    t = res.trajectory
    ref = obj(lstm_model.predict_proba(dnaseq.one_hot(codes))[0])
    assert np.isclose(t["gain"][1], values.max() - ref, atol=1e-5)
    assert np.isclose(t["objective"][1], values.max(), atol=1e-5)


def test_beam_of_width_one_is_greedy(lstm_model):
    codes = random_codes(2, seed=3)
    g, b = run(greedy, lstm_model, codes, steps=4), run(beam, lstm_model, codes, width=1, steps=4)
    assert edits(g) == edits(b)
    assert np.allclose(g.trajectory["objective"], b.trajectory["objective"], atol=1e-6)
    assert (g.best_codes == b.best_codes).all()


@pytest.mark.parametrize("temperature", [0.0, 1e-7])
def test_sampling_as_temperature_goes_to_zero_is_greedy(lstm_model, temperature):
    codes = random_codes(2, seed=4)
    g = run(greedy, lstm_model, codes, steps=3)
    s = run(sample, lstm_model, codes, temperature=temperature, chains=3, seed=5, steps=3)
    greedy_path = {(o, st): (p, a) for o, _, st, p, a in edits(g)}
    for o, _, st, p, a in edits(s):
        assert greedy_path[(o, st)] == (p, a)
    assert len(edits(s)) == 3 * len(edits(g))


def test_sampling_is_reproducible_and_independent_of_batching(lstm_model):
    codes = random_codes(2, seed=6)
    kw = dict(temperature=0.002, chains=4, steps=3, final_temperature=0.0005)
    a, b = run(sample, lstm_model, codes, seed=7, **kw), run(sample, lstm_model, codes, seed=7, **kw)
    assert edits(a) == edits(b)
    assert edits(a) != edits(run(sample, lstm_model, codes, seed=8, **kw))
    alone = run(sample, lstm_model, codes[1:], seed=7, start_ids=[1], **kw)  # start 1 scored without start 0
    assert [e[1:] for e in edits(alone)] == [e[1:] for e in edits(a) if e[0] == 1]
    assert len({e[3] for e in edits(a)}) > 3  # the chains did not all make the same edits


def test_beam_search_finds_the_exhaustive_optimum():
    length, budget = 9, 2
    model = make_model(dict(conv_filters=[4], conv_widths=3, pool_sizes=2, rnn_type="lstm", rnn_hidden=3,
                            head_hidden=[4]), seq_len=length, seed=11)
    start = random_codes(1, length, seed=12)
    variants = [start[0].copy()]
    for k in range(1, budget + 1):
        for pos in itertools.combinations(range(length), k):
            for bases in itertools.product(range(3), repeat=k):
                v = start[0].copy()
                v[list(pos)] = (start[0][list(pos)] + 1 + np.array(bases)) % 4
                variants.append(v)
    assert len(variants) == 1 + 3 * 9 + 9 * 36
    obj = Objective.parse("+feature_2 -0.5*feature_0", model.feature_names, "logit")
    with torch.no_grad():
        values = obj(model.predict_proba(dnaseq.one_hot(np.stack(variants))))
    g = run(greedy, model, start, "+feature_2 -0.5*feature_0", Constraints(max_edits=budget), space="logit")
    b = run(beam, model, start, "+feature_2 -0.5*feature_0", Constraints(max_edits=budget), space="logit",
            width=len(variants))
    assert np.isclose(b.best_objective[0], values.max(), atol=1e-5)
    assert (b.best_codes[0] == variants[int(np.argmax(values))]).all()
    assert g.best_objective[0] <= b.best_objective[0] + 1e-9
    # step 2 holds every distinct sequence once: distance 2, distance 1 (re-edits) and the start (reverts)
    assert (b.trajectory["step"] == budget).sum() == len(variants)
    assert b.trajectory["n_edits"].max() == budget


def naive_hits(motif_set, seq):
    """(motif name, window start) of every hit in seq, by a plain loop."""
    hits = set()
    for m in motif_set.motifs:
        for s in range(len(seq) - m.width + 1):
            if sum(m.lo[k, seq[s + k]] for k in range(m.width)) >= m.threshold:
                hits.add((m.name, s))
    return hits


def replay(result, starts):
    """Every visited sequence, rebuilt from the trajectory's edits and parents."""
    t, seqs = result.trajectory, {}
    for i in range(len(t["step"])):
        o, c, st, parent = (int(t[k][i]) for k in ("origin", "chain", "step", "parent"))
        seq = starts[o].copy() if st == 0 else seqs[(o, parent, st - 1)].copy()
        if st:
            seq[t["position"][i]] = t["after"][i]
        seqs[(o, c, st)] = seq
    return seqs


def test_constraints_are_never_violated(lstm_model):
    starts = random_codes(2, seed=13)
    gc = ((starts == 1) | (starts == 2)).mean(axis=1)
    motif = np.full((6, 4), 0.02)
    motif[np.arange(6), [0, 0, 3, 3, 0, 0]] = 0.94  # AATTAA
    motifs = MotifSet.from_probabilities({"AATTAA": motif}, pvalue=1e-3)
    protected = np.zeros((2, L), bool)
    protected[:, ::3] = True
    c = Constraints(max_edits=4, protect_core=20, gc_range=(gc.min() - 0.01, gc.max() + 0.01), motifs=motifs)
    rules = c.bind(starts, protected)
    would_create = motifs.creates(starts, [h for h in rules.start_hits])
    assert would_create.any()  # the motif constraint binds
    core = slice(L // 2 - 10, L // 2 + 10)
    for strategy, kw in ((greedy, {}), (beam, {"width": 3}), (sample, {"chains": 3, "temperature": 0.01})):
        res = run(strategy, lstm_model, starts, "+feature_1 -feature_0", c, protected, steps=6, **kw)
        res_rules = c.bind(starts, protected)
        for (o, _, _), seq in replay(res, starts).items():
            changed = seq != starts[o]
            assert changed.sum() <= 4
            assert not (changed & protected[o]).any() and not changed[core].any()
            assert c.gc_range[0] - 1e-9 <= ((seq == 1) | (seq == 2)).mean() <= c.gc_range[1] + 1e-9
            assert naive_hits(motifs, seq) <= naive_hits(motifs, starts[o])
        assert res_rules.violations(res.best_codes, np.arange(2)) == [[], []]


def test_rules_budget_and_gc_from_outside_the_range():
    start = dnaseq.encode("AAAAACCCCC")[None]  # GC 0.5, below the range
    rules = Constraints(max_edits=2, gc_range=(0.6, 0.8)).bind(start)
    ok = rules.allowed(start, np.array([0]))[0]
    assert ok[:5, 1:].all() and ok[5:, 2].all()  # edits that raise GC or keep it
    assert not ok[5:, 0].any() and not ok[5:, 3].any()  # C -> A / T would move it further out
    at_limit = dnaseq.encode("AACAAGCCCC")[None]  # two edits made: only those positions may change again
    ok = rules.allowed(at_limit, np.array([0]))[0]
    assert set(np.nonzero(ok)[0]) == {2, 5} and ok[2, 2] and ok[5, 1] and not ok[2, 0] and not ok[5, 3]
    assert rules.violations(at_limit, np.array([0])) == [[]]
    assert rules.violations(dnaseq.encode("TTTTTTTTTT")[None], np.array([0])) == [
        ["10 edits > 2", "GC 0.000 outside 0.6-0.8"]]


def test_protection_that_leaves_nothing_or_matches_nothing_is_said(tmp_path, caplog):
    start = dnaseq.encode("ACGTACGTAC")[None]
    with pytest.raises(ValueError, match="protect_core 10 covers the whole 10 bp sequence"):
        Constraints(protect_core=10).bind(start)
    with pytest.raises(ValueError, match="no base of any start sequence may change"):
        Constraints().bind(start, np.ones(10, bool))
    starts = Starts(["A", "B"], np.zeros((2, 10), np.uint8), [None, None], [None, None])
    bed = tmp_path / "p.bed"
    bed.write_text("a\t0\t10\nB\t2\t4\nchrZZ\t0\t5\n")  # 'a': the record is 'A'
    with caplog.at_level(logging.WARNING):
        mask = protected_mask(str(bed), starts)
    assert mask[1].tolist() == [False] * 2 + [True] * 2 + [False] * 6 and not mask[0].any()
    assert "intervals on a, chrZZ match no start sequence (their names are A, B) and protect nothing" in caplog.text
    fa = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 500})
    (tmp_path / "r.bed").write_text("chr1\t100\t200\tpk\nchr1\t300\t400\tpk\nchr1\t500\t600\n")
    assert region_starts(str(fa), str(tmp_path / "r.bed"), 100).names == ["pk", "pk#2", "chr1:501-600"]


def test_motif_threshold_and_meme_reader(tmp_path):
    meme = tmp_path / "m.meme"
    meme.write_text("MEME version 4\n\nALPHABET= ACGT\n\nBackground letter frequencies\nA 0.3 C 0.2 G 0.2 T 0.3\n\n"
                    "MOTIF M1 first\nletter-probability matrix: alength= 4 w= 4 nsites= 20 E= 0\n"
                    "0.7 0.1 0.1 0.1\n0.1 0.1 0.7 0.1\n0.25 0.25 0.25 0.25\n0.0 0.0 0.0 1.0\n\n"
                    "MOTIF M2\nletter-probability matrix: alength= 4 w= 2\n1 0 0 0\n0 1 0 0\n")
    motifs, bg = read_motifs(str(meme)), read_background(str(meme))
    assert [m.id for m in motifs] == ["M1", "M2"] and motifs[0].pfm.shape == (4, 4) and np.allclose(bg, [.3, .2, .2, .3])
    ms = MotifSet.from_file(str(meme), pvalue=0.01)
    assert len(ms) == 2 and [m.name for m in ms.motifs] == ["M1", "M1(-)", "M2", "M2(-)"]
    m1 = ms.motifs[0]
    every = np.array(list(itertools.product(range(4), repeat=4)), np.uint8)  # all 256 4-mers
    weight = np.prod(bg[every], axis=1)
    score = m1.scores(every)[:, 0]
    assert weight[score >= m1.threshold].sum() <= 0.01 < weight[score >= m1.threshold - 1].sum()
    assert threshold(m1.lo[:, :4], bg, 1.0) == m1.lo[:, :4].min(axis=1).sum()
    bad = tmp_path / "bad.meme"
    bad.write_text("MOTIF X\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0 0\n0.5 x 0 0\n")
    with pytest.raises(ValueError, match="bad.meme:4"):
        MotifSet.from_file(str(bad))
    jaspar = tmp_path / "m.jaspar"  # the same reader as dnaseq motifs: JASPAR files work too
    jaspar.write_text(">MA1 one\nA [ 7 1 2 0 ]\nC [ 1 1 3 0 ]\nG [ 1 7 2 0 ]\nT [ 1 1 3 10 ]\n")
    assert [m.name for m in MotifSet.from_file(str(jaspar)).motifs] == ["MA1", "MA1(-)"]


def test_objective_parsing():
    names = ["BEAF_Kc", "BEAF_Mbn2", "CTCF_Kc"]
    assert parse_terms("+BEAF_Kc -BEAF_Mbn2") == {"BEAF_Kc": 1.0, "BEAF_Mbn2": -1.0}
    assert parse_terms("2*CTCF_Kc, -0.5*BEAF_Kc +BEAF_Kc") == {"CTCF_Kc": 2.0, "BEAF_Kc": 0.5}
    o = Objective.parse("+BEAF_Kc -BEAF_Mbn2", names, "logit")
    p = np.array([[0.5, 0.2, 0.9]])
    assert np.allclose(o(p), 0.0 - np.log(0.2 / 0.8))
    assert o.describe() == "+BEAF_Kc -BEAF_Mbn2 (logit)"
    with pytest.raises(ValueError, match="did you mean BEAF_Kc"):
        Objective.parse("+BEAF_kc", names)
    with pytest.raises(ValueError, match="cannot read"):
        parse_terms("+ * x")


def test_design_api_through_the_engine(lstm_model):
    lstm_model.train()  # left as found
    res = design(lstm_model, random_codes(2, seed=14), {"feature_0": 1.0}, constraints=Constraints(max_edits=2),
                 width=2, chains=2, seed=1, names=["a", "b"])
    assert lstm_model.training and all(m.training for m in lstm_model.modules())
    lstm_model.eval()
    assert res.strand == "both" and list(res.designed.strategy) == ["greedy"] * 2 + ["beam"] * 2 + ["sample"] * 2
    assert (res.designed.objective >= res.designed.start_objective).all()
    assert (res.designed.n_edits <= 2).all()
    direct = run(greedy, lstm_model, random_codes(2, seed=14), "+feature_0", Constraints(max_edits=2))
    assert np.allclose(res.designed.objective[:2], direct.best_objective, atol=1e-6)
    assert set(res.trajectory.columns) >= {"sequence", "strategy", "chain", "step", "position", "objective",
                                          "feature_0", "feature_2"}


def test_cli_design_writes_fasta_tsv_and_plot(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    bed = tmp_path / "regions.bed"
    bed.write_text("chr2L\t65716\t65959\tpeak_7\n")
    protect = tmp_path / "protect.bed"
    protect.write_text("chr2L\t65700\t65900\n")
    out = tmp_path / "res" / "d"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a tiny model on a shared machine
    proc = run_cli("design", "-m", tiny_checkpoint, "--regions", bed, "-r", DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz",
                   "--objective", "+BEAF_Kc -BEAF_Mbn2", "--max-edits", 2, "--beam-width", 2, "--chains", 2,
                   "--protect", protect, "--gc-range", "0.2,0.8", "--out", out, "--quiet")
    assert "greedy" in proc.stdout and "d.designed.fa" in proc.stdout
    designs = (tmp_path / "res" / "d.designed.fa").read_text().splitlines()
    headers = [h for h in designs if h.startswith(">")]
    assert len(headers) == 3 and headers[0].startswith(">peak_7|greedy objective=")  # the BED's name, as predict
    assert "window=chr2L:" in headers[0] and all(len(s) == 60 for s in designs[1:17])
    t = pd.read_csv(tmp_path / "res" / "d.trajectory.tsv", sep="\t")
    assert set(t.strategy) == {"greedy", "beam", "sample"} and t.step.max() == 2 and "BEAF_Mbn2" in t.columns
    w0 = (65716 + 65959) // 2 - 500
    assert not t[t.step > 0].position.between(65700 - w0, 65900 - w0 - 1).any()  # protected bases kept
    assert Image.open(tmp_path / "res" / "d.objective.png").size[0] > 100
    from dnaseq.cli.app import main
    fa = write_fasta(tmp_path / "s.fa", {"s1": "ACGT" * 250})
    assert main(["design", "-m", str(tiny_checkpoint), "--fasta", str(fa), "--objective", "+NOPE",
                 "--out", str(out) + "_nope"]) == 1
    assert "NOPE" in capsys.readouterr().err
