"""k-th order Markov (n-gram) baselines, ``dnaseq.models.ngram`` and ``dnaseq lm-baseline``: counts
against a brute-force count, probabilities against a plain-Python Kneser-Ney / Witten-Bell, the
entropy rate of a known Markov chain recovered, N handling, files, and the command on real data."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnaseq.models import ngram
from dnaseq.apply.lm_baseline import baseline_table, stitch_windows
from dnaseq.models.ngram import NgramModel
from tests.conftest import DATA, run_cli

SMOOTHINGS = ("kn", "wb")


def random_codes(rng, n, n_rate=0.0):
    codes = rng.integers(0, 4, n).astype(np.uint8)
    codes[rng.random(n) < n_rate] = 4
    return codes


# -- a plain-Python reference of every rule in the module docstring ----------------------------------
class Reference:
    """Counts by looping over every position, and the smoothed probabilities by recursion."""

    def __init__(self, seqs, K, smoothing):
        self.K, self.smoothing = K, smoothing
        self.counts = [Counter() for _ in range(K + 1)]
        for s in seqs:
            s = [int(b) for b in s]
            for i in range(len(s)):
                for j in range(min(i, K) + 1):
                    word = s[i - j:i + 1]
                    if all(b < 4 for b in word):
                        self.counts[j][tuple(word)] += 1
        self.cont = [Counter() for _ in range(K)]
        for j in range(K):
            for word in self.counts[j + 1]:  # each key is one distinct left extension
                self.cont[j][word[1:]] += 1

    @staticmethod
    def discounts(counter):
        n1, n2, n3, n4 = (max(sum(1 for v in counter.values() if v == c), 1) for c in (1, 2, 3, 4))
        Y = n1 / (n1 + 2 * n2)
        return [0.0, Y, min(max(2 - 3 * Y * n3 / n2, Y), 2), min(max(3 - 4 * Y * n4 / n3, Y), 3)]

    def prob(self, ctx, w, top=True):
        j = len(ctx)
        table = self.counts[j] if top or self.smoothing == "wb" else self.cont[j]
        lower = 0.25 if j == 0 else self.prob(ctx[1:], w, top=False)
        cs = [table.get(tuple(ctx) + (x,), 0) for x in range(4)]
        total = sum(cs)
        if total == 0:
            return lower
        if self.smoothing == "kn":
            D = self.discounts(table)
            return (cs[w] - D[min(cs[w], 3)]) / total + sum(D[min(c, 3)] for c in cs) / total * lower
        U = sum(c > 0 for c in cs)
        return (cs[w] + U * lower) / (total + U)


def test_counts_equal_a_brute_force_count():
    rng = np.random.default_rng(0)
    seqs = [random_codes(rng, n, 0.05) for n in (1, 3, 40, 300, 700)] + [np.full(5, 4, np.uint8)]
    model = NgramModel(4, "kn", block=64).fit(seqs)  # small blocks: pieces and packing both used
    ref = Reference(seqs, 4, "kn")
    for j in range(5):
        dense = np.zeros(4 ** (j + 1), np.int64)
        for word, n in ref.counts[j].items():
            dense[int(sum(b * 4 ** (j - t) for t, b in enumerate(word)))] = n
        assert np.array_equal(model.counts[j], dense), j
        if j < 4:
            dense = np.zeros(4 ** (j + 1), np.int64)
            for word, n in ref.cont[j].items():
                dense[int(sum(b * 4 ** (j - t) for t, b in enumerate(word)))] = n
            assert np.array_equal(model.cont[j], dense), j
    assert model.n_bases == sum(int((s < 4).sum()) for s in seqs)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("table_max", [ngram._TABLE_MAX, 0])  # precomputed tables / on the fly
def test_probabilities_match_the_reference_and_sum_to_one(smoothing, table_max, monkeypatch):
    monkeypatch.setattr(ngram, "_TABLE_MAX", table_max)
    rng = np.random.default_rng(1)
    seqs = [random_codes(rng, 3000, 0.01), random_codes(rng, 500)]
    seqs[1][:200] = 0  # a run of A: counts of 3 and more, contexts with one base seen
    K = 5
    model = NgramModel(K, smoothing).fit(seqs)
    ref = Reference(seqs, K, smoothing)
    contexts = random_codes(rng, 300 * 7, 0.05).reshape(300, 7)
    contexts[:40, -5:] = 0  # seen often
    for k in range(K + 1):
        probs = model.next_base_probs(contexts, k)
        assert probs.shape == (300, 4)
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=0, atol=1e-12)
        assert (probs > 0).all()
        for row in range(0, 300, 7):
            ctx = [int(b) for b in contexts[row][len(contexts[row]) - k:]] if k else []
            if 4 in ctx:  # only the bases after the last N count
                ctx = ctx[len(ctx) - ctx[::-1].index(4):]
            expected = [ref.prob(ctx, w) for w in range(4)]
            np.testing.assert_allclose(probs[row], expected, rtol=1e-12, err_msg=f"k={k} ctx={ctx}")


def test_unseen_contexts_back_off():
    seq = np.tile(np.array([0, 1, 2], np.uint8), 2000)  # no T at all; C always follows A
    for smoothing in SMOOTHINGS:
        model = NgramModel(3, smoothing).fit([seq])
        never = np.array([3, 3, 3], np.uint8)            # TTT never seen, nor TT, T
        # WB: the order-0 model; KN: its order-0 continuation distribution
        expected = model.next_base_probs(never, 0) if smoothing == "wb" else _kn_continuation_order0(model)
        for k in (1, 2, 3):
            np.testing.assert_allclose(model.next_base_probs(never, k), expected, rtol=1e-12)
        seen = model.next_base_probs(np.array([2, 0], np.uint8), 2)
        assert seen[1] > 0.99 and seen.sum() == pytest.approx(1.0)


def _kn_continuation_order0(model):
    """KN's order-0 continuation distribution over the uniform, written out."""
    cont = model.cont[0].astype(float)
    D = ngram._discounts(model.cont[0])
    total = cont.sum()
    each = D[np.minimum(model.cont[0], 3)]
    return (cont - each) / total + each.sum() / total * 0.25


# -- known answers ---------------------------------------------------------------------------------
def markov_chain(rng, transition, n):
    """``n`` bases of the 2nd-order chain ``transition[4 a + b, c] = P(c | a b)``."""
    cdf = transition.cumsum(1)
    u = rng.random(n)
    x = np.empty(n, np.uint8)
    x[:2] = rng.integers(0, 4, 2)
    for i in range(2, n):
        x[i] = min(np.searchsorted(cdf[4 * x[i - 2] + x[i - 1]], u[i], side="right"), 3)
    return x


def entropy_rate(transition):
    """Exact entropy rate (bits per base) of a 2nd-order chain: the stationary distribution of
    its 16 pair states, weighting each state's next-base entropy."""
    pairs = np.zeros((16, 16))
    for ab in range(16):
        for c in range(4):
            pairs[ab, 4 * (ab % 4) + c] = transition[ab, c]
    values, vectors = np.linalg.eig(pairs.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    pi /= pi.sum()
    return float(-(pi[:, None] * transition * np.log2(transition)).sum())


@pytest.fixture(scope="module")
def chain_data():
    rng = np.random.default_rng(7)
    transition = rng.dirichlet(np.full(4, 0.6), size=16)
    return markov_chain(rng, transition, 200_000), markov_chain(rng, transition, 60_000), entropy_rate(transition)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_a_second_order_chain_is_found_at_k_2(chain_data, smoothing):
    train, test, H = chain_data
    table = baseline_table([train], [test], max_k=6, smoothing=smoothing)
    assert list(table.columns) == ["k", "train_bases", "held_out_bases", "held_out_bits_per_base",
                                   "perplexity", "train_bits_per_base"]
    bpb = table.held_out_bits_per_base.to_numpy()
    assert int(np.argmin(bpb)) == 2
    assert abs(bpb[2] - H) < 0.01, (bpb[2], H)  # 60 kb of test: sampling error ~0.004 bits
    assert bpb[1] > H + 0.05 and bpb[0] > bpb[1]
    np.testing.assert_allclose(table.perplexity, 2.0 ** table.held_out_bits_per_base)
    assert (table.train_bases == len(train)).all() and (table.held_out_bases == len(test)).all()


def test_order_0_is_the_entropy_of_the_base_frequencies(chain_data):
    train, _, _ = chain_data
    freq = np.bincount(train, minlength=4) / len(train)
    H0 = float(-(freq * np.log2(freq)).sum())
    for smoothing in SMOOTHINGS:
        bits = NgramModel(0, smoothing).fit([train]).bits_per_base([train], k=0)
        # each smoothing moves each of the 4 probabilities by at most 4 * 3 / n: bits by < 1e-4 here
        assert abs(bits - H0) < 1e-4, (smoothing, bits, H0)


def test_one_fit_serves_every_order(chain_data):
    train, test, _ = chain_data
    train, test = [train[:30_000], np.full(3, 4, np.uint8), train[30_000:40_000]], [test[:8000]]
    for smoothing in SMOOTHINGS:
        table = baseline_table(train, test, max_k=5, smoothing=smoothing)
        for k in (0, 2, 5):
            alone = NgramModel(k, smoothing).fit(train)
            assert table.held_out_bits_per_base[k] == pytest.approx(alone.bits_per_base(test), rel=1e-12)
            assert table.train_bits_per_base[k] == pytest.approx(alone.bits_per_base(train), rel=1e-12)


# -- N and breaks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_a_sequence_with_ns_scores_as_its_pieces(smoothing):
    rng = np.random.default_rng(3)
    model = NgramModel(4, smoothing, block=100).fit([random_codes(rng, 5000, 0.01)])
    seq = random_codes(rng, 1200)
    seq[[0, 7, 8, 9, 500, 501, 1199]] = 4
    seq[300] = 9  # any non-ACGT code is a break too
    breaks = np.flatnonzero(seq >= 4)
    pieces = [p[p < 4] for p in np.split(seq, breaks) if (p < 4).any()]
    for k in range(5):
        whole = model.log2_prob(seq, k)
        assert np.isnan(whole[breaks]).all() and not np.isnan(np.delete(whole, breaks)).any()
        separate = np.concatenate([model.log2_prob(p, k) for p in pieces])
        np.testing.assert_allclose(np.delete(whole, breaks), separate, rtol=1e-12)
        assert model.bits_per_base([seq], k) == pytest.approx(model.bits_per_base(pieces, k), rel=1e-12)
        assert model.bits_per_base([seq], k) == pytest.approx(-np.nanmean(whole), rel=1e-12)
    assert np.allclose(model.evaluate([seq])[0], model.evaluate(pieces)[0], rtol=1e-12)
    # a base right after a break is predicted from order 0, the next from order 1, ...
    after = model.log2_prob(seq, 4)[10:13]
    assert after[0] == pytest.approx(model.log2_prob(seq[10:11], 0)[0])
    assert after[2] == pytest.approx(np.log2(model.next_base_probs(seq[10:12], 2)[seq[12]]))


def test_counting_skips_kmers_over_n():
    model = NgramModel(2, "kn").fit([np.array([0, 1, 4, 2, 3, 4, 4, 0], np.uint8)])
    assert model.n_bases == 5 and model.counts[1].sum() == 2 and model.counts[2].sum() == 0


# -- files and inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_save_and_load_round_trip(tmp_path, smoothing):
    rng = np.random.default_rng(4)
    train, test = [random_codes(rng, 20_000, 0.001)], random_codes(rng, 2000, 0.01)
    model = NgramModel(5, smoothing).fit(train)
    path = model.save(str(tmp_path / "m.npz"), k=3)
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert str(z["format"]) == "dnaseq-ngram" and int(z["k"]) == 3 and "counts_4" not in z.files
    loaded = NgramModel.load(path)
    assert loaded.max_k == 3 and loaded.smoothing == smoothing
    np.testing.assert_array_equal(loaded.log2_prob(test), model.log2_prob(test, 3))
    np.testing.assert_allclose(loaded.log2_prob(test), NgramModel(3, smoothing).fit(train).log2_prob(test),
                               rtol=1e-12)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz"):
        NgramModel.load(str(bad))
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        NgramModel.load(str(tmp_path / "nope.npz"))


def test_errors():
    with pytest.raises(ValueError, match="max_k"):
        NgramModel(13)
    with pytest.raises(ValueError, match="smoothing"):
        NgramModel(3, "add-one")
    with pytest.raises(ValueError, match="not fitted"):
        NgramModel(3).log2_prob(np.zeros(5, np.uint8))
    model = NgramModel(2).fit([np.zeros(50, np.uint8)])
    with pytest.raises(ValueError, match=r"order k must be 0\.\.2"):
        model.bits_per_base([np.zeros(5, np.uint8)], k=3)
    with pytest.raises(ValueError, match="held-out sequences hold no base"):
        baseline_table([np.zeros(50, np.uint8)], [np.full(10, 4, np.uint8)], max_k=2)


def test_stitching_overlapping_windows():
    rng = np.random.default_rng(5)
    genome = {"chrA": random_codes(rng, 5000), "chrB": random_codes(rng, 3000)}
    rows, chroms, starts = [], [], []
    for chrom, start in [("chrA", s) for s in list(range(0, 2001, 200)) + [2400, 3600, 3800]] + \
                        [("chrB", s) for s in range(1000, 1801, 400)]:
        rows.append(genome[chrom][start:start + 1000])
        chroms.append(chrom)
        starts.append(start)
    order = rng.permutation(len(rows))  # stored order does not matter
    codes = np.array(rows)[order]
    stretches, disagree = stitch_windows(codes, np.array(chroms)[order], np.array(starts)[order])
    expected = [genome["chrA"][0:3400], genome["chrA"][3600:4800], genome["chrB"][1000:2800]]
    assert disagree == 0 and len(stretches) == 3
    for got, want in zip(stretches, expected):
        np.testing.assert_array_equal(got, want)
    codes[0, 500] = (codes[0, 500] + 1) % 4  # an overlap that disagrees starts a new stretch
    stretches, disagree = stitch_windows(codes, np.array(chroms)[order], np.array(starts)[order])
    assert disagree >= 1 and len(stretches) == 3 + disagree


def test_fasta_regions(tmp_path):
    from dnaseq.apply.lm_baseline import fasta_sequences
    from dnaseq.sequence.genome import write_fasta

    fasta = write_fasta(tmp_path / "g.fa", {"chrA": "ACGTNACGTA" * 10, "chrB": "GGGG" * 5})
    (tmp_path / "r.bed").write_text("chrA\t2\t12\nchrA\t95\t200\nchrB\t0\t3\nchrC\t0\t5\n")
    seqs, info = fasta_sequences(str(fasta), ["chrA"], str(tmp_path / "r.bed"))
    assert [len(s) for s in seqs] == [10, 5] and info["bases"] == 9 + 5
    seqs, info = fasta_sequences(str(fasta), ["chrA", "chrB"])
    assert [len(s) for s in seqs] == [100, 20] and info["bases"] == 90 + 20
    (tmp_path / "empty.bed").write_text("# no record\n")
    with pytest.raises(ValueError, match="empty.bed holds no interval"):
        fasta_sequences(str(fasta), ["chrA"], str(tmp_path / "empty.bed"))
    other = write_fasta(tmp_path / "h.fa", {"B": "ACGT" * 5, "D": "ACGT"})
    (tmp_path / "r.bed").write_text("chrA\t2\t12\nchrB\t30\t40\n")  # chrB's interval lies past B's end
    with pytest.raises(ValueError, match=r"r.bed has no interval inside B \(its intervals lie on chrA, chrB\)"):
        fasta_sequences(str(other), ["B"], str(tmp_path / "r.bed"))
    with pytest.raises(ValueError, match=r"none of its chromosomes \(chrA, chrB\) is in"):
        fasta_sequences(str(write_fasta(tmp_path / "k.fa", {"Z": "ACGT"})), ["Z"], str(tmp_path / "r.bed"))


# -- the command -------------------------------------------------------------------------------------
def check_outputs(prefix: Path, max_k: int):
    table = pd.read_csv(f"{prefix}.tsv", sep="\t")
    assert list(table.k) == list(range(max_k + 1))
    # the best order beats a uniform guess (high orders may not, on the 65 kb of the FASTA test)
    assert table.held_out_bits_per_base.min() < 2 and (table.held_out_bits_per_base[:4] < 2).all()
    assert (table.held_out_bits_per_base > 1.5).all()
    summary = json.loads(Path(f"{prefix}.json").read_text())
    best = int(table.held_out_bits_per_base.idxmin())
    assert summary["best_k"] == best
    assert summary["best_bits_per_base"] == pytest.approx(table.held_out_bits_per_base[best], abs=1e-5)
    assert summary["settings"]["max_k"] == max_k and summary["settings"]["smoothing"] == "kn"
    assert set(summary["seconds"]) >= {"read", "count", "score_held_out", "score_train", "total"}
    assert Path(f"{prefix}.png").stat().st_size > 10_000
    model = NgramModel.load(f"{prefix}.best.npz")
    assert model.max_k == best
    with pytest.raises(ValueError, match=r"\.tsv is not a dnaseq n-gram model: give the PREFIX.best.npz"):
        NgramModel.load(f"{prefix}.tsv")  # the table beside it (numpy said: 'allow_pickle=False')
    return table, summary


def test_cli_on_a_reference(tmp_path):
    from dnaseq.sequence.genome import Genome, write_fasta

    with Genome(DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz") as genome:
        text = genome.fetch_text("chr2L", 0, genome.length("chr2L"))
    fasta = write_fasta(tmp_path / "two.fa", {"chrA": text[:250_000], "chrB": text[250_000:], "chrN": "N" * 500})
    out = tmp_path / "res" / "fa"
    proc = run_cli("lm-baseline", "--reference", fasta, "--train-chromosomes", "chrA", "--test-chromosomes",
                   "chrB", "--max-k", 6, "--out", out)
    _, summary = check_outputs(out, 6)
    assert "best k = " in proc.stdout and "k= 6" in proc.stderr  # one line per order off a terminal
    assert summary["counts"]["train_bases"] == sum(c in "ACGTacgt" for c in text[:250_000])
    assert summary["counts"]["held_out_bases"] == sum(c in "ACGTacgt" for c in text[250_000:])

    proc = run_cli("lm-baseline", "--reference", fasta, "--train-chromosomes", "chrA", "--test-chromosomes",
                   "chrN", "--out", tmp_path / "x", check=False)
    assert proc.returncode == 1 and "no held-out base" in proc.stderr and str(fasta) in proc.stderr
    proc = run_cli("lm-baseline", "--reference", tmp_path / "missing.fa", "--train-chromosomes", "chrA",
                   "--test-chromosomes", "chrB", "--out", tmp_path / "x", check=False)
    assert proc.returncode == 1 and "reference FASTA not found" in proc.stderr
    proc = run_cli("lm-baseline", "--reference", fasta, "--train-chromosomes", "chrA", "--test-chromosomes",
                   "chrA", "--out", tmp_path / "x", check=False)
    assert proc.returncode == 1 and "both a training and a held-out chromosome" in proc.stderr


def test_cli_on_the_shipped_dataset(tmp_path, shipped_dataset):
    out = tmp_path / "h5"
    proc = run_cli("lm-baseline", "--data", shipped_dataset, "--max-k", 6, "--out", out)
    table, summary = check_outputs(out, 6)
    counts = summary["counts"]
    assert counts["train"]["how"] == "stitched" and counts["train"]["overlaps_disagreeing"] == 0
    assert counts["train"]["chromosomes"] == ["chr2R", "chr3L", "chr3R"]
    assert counts["held_out"]["chromosomes"] == ["chr2L"]
    # windows overlap 5-fold: each base is used once
    assert counts["train_bases"] < counts["train"]["windows"] * counts["train"]["window_size"] / 3
    assert table.held_out_bits_per_base.iloc[-1] < table.held_out_bits_per_base.iloc[0] - 0.02
    assert f"best k = {summary['best_k']}" in proc.stdout
