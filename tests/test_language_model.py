"""DNA language models: a base never sees itself, windows straight from a FASTA, training through
`dnaseq train`, bits per base, and chromatin commands refusing a language model."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dnaseq.data.datamodule import DNADataModule, reverse_complement_codes
from dnaseq.data.genome_windows import GenomeWindows, GenomeWindowSplit, tile_starts
from dnaseq.models import MODELS, build_model, is_language_model
from dnaseq.models.language import RecurrentLM, token_nll
from dnaseq.sequence.encoding import encode
from dnaseq.sequence.genome import Genome, is_fasta, write_fasta
from dnaseq.training.lm_objective import lm_loss, lm_summary

from conftest import DATA, run_cli

LM_FASTA = DATA / "dm3_lm" / "dm3_lm.fa.gz"
ROOT = Path(__file__).resolve().parents[1]


def _one_hot(codes: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(codes.long(), 4).float().transpose(1, 2)


def _moved(model, x, j):
    """Positions whose output changes when base j changes."""
    y = model(x)
    x2 = x.clone()
    x2[0, :, j] = torch.roll(x2[0, :, j], 1)
    return set(((model(x2) - y).abs().sum(1)[0] > 1e-7).nonzero().flatten().tolist())


@pytest.mark.parametrize("rnn_type", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embed_filters", [0, 5])
def test_a_base_never_sees_itself(rnn_type, embed_filters):
    torch.manual_seed(0)
    x = _one_hot(torch.randint(0, 4, (1, 40)))
    for j in (0, 17, 39):
        # (an influence may fade below float precision far away: the next position always moves)
        causal = RecurrentLM(40, 4, "causal", rnn_type, 6, 2, embed_filters, 4, 0.0).eval()
        moved = _moved(causal, x, j)
        assert moved <= set(range(j + 1, 40)) and (j == 39 or j + 1 in moved), "causal: only positions after j"
        both = RecurrentLM(40, 4, "bidirectional", rnn_type, 6, 2, embed_filters, 4, 0.0).eval()
        moved = _moved(both, x, j)
        assert j not in moved and {j - 1, j + 1} & set(range(40)) <= moved, "bidirectional: both sides, never j"


def test_registry_and_wrong_uses():
    assert is_language_model("lm") and not is_language_model("danq")
    assert build_model("lm", 100, 4, rnn_hidden=8)(torch.zeros(2, 4, 100)).shape == (2, 4, 100)
    with pytest.raises(ValueError, match="reference FASTA"):
        build_model("lm", 100, 8)
    with pytest.raises(ValueError, match="direction"):
        RecurrentLM(direction="left")
    assert "lm" in MODELS


def test_loss_masks_n_and_uniform_is_two_bits():
    codes = torch.tensor([[0, 1, 4, 3, 2, 4]])
    logits = torch.zeros(1, 4, 6)
    nll = token_nll(logits, codes)
    assert nll[0, 2] == 0 and nll[0, 5] == 0
    mean, count = lm_loss(logits, codes)
    assert int(count) == 4
    summary = lm_summary(float(mean) * int(count), int(count))
    assert summary["bpb"] == pytest.approx(2.0) and summary["ppl"] == pytest.approx(4.0)
    assert math.isnan(lm_summary(0.0, 0)["bpb"])


def test_reverse_complement_codes_keeps_n():
    codes = torch.tensor([[0, 1, 2, 3, 4]], dtype=torch.uint8)
    assert reverse_complement_codes(codes).tolist() == [[4, 0, 1, 2, 3]]


def test_is_fasta_by_content(tmp_path):
    plain = tmp_path / "genome.txt"
    plain.write_text("\n>chr1\nACGT\n")
    assert is_fasta(plain) and is_fasta(LM_FASTA)
    assert not is_fasta(DATA / "dm3_insulators.h5") and not is_fasta(tmp_path)


def _toy_fasta(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    seqs = {c: "".join(rng.choice(list("ACGT"), 1000)) for c in ("chr1", "chr2", "chr3")}
    seqs["chr2"] = seqs["chr2"][:300] + "N" * 700  # 70% N
    return write_fasta(tmp_path / "toy.fa", seqs)


def test_windows_by_chromosome_with_the_n_rule(tmp_path):
    fa = _toy_fasta(tmp_path)
    cfg = GenomeWindows(window=100, stride=100, valid_chroms=["chr2"], test_chroms=["3"])  # '3' -> chr3
    train = GenomeWindowSplit(str(fa), "train", cfg)
    assert len(train) == 10 and train.info.attrs["chroms"] == ["chr1"]
    codes, targets = train.read(np.array([0, 9]))
    with Genome(fa) as g:
        assert np.array_equal(codes[1], g.fetch("chr1", 900, 1000).codes)
    assert np.array_equal(codes, targets)
    valid = GenomeWindowSplit(str(fa), "valid", cfg)
    assert len(valid) == 3 and valid.counts["over_n_limit"] == 7
    test = GenomeWindowSplit(str(fa), "test", cfg)
    assert test.info.attrs["chroms"] == ["chr3"]


def test_windows_in_regions_and_short_regions_centred(tmp_path):
    fa = _toy_fasta(tmp_path)
    bed = tmp_path / "r.bed"
    bed.write_text("chr1\t100\t350\nchr1\t600\t640\nchr3\t0\t500\n")
    cfg = GenomeWindows(window=100, valid_chroms=["chr3"], regions=str(bed))
    train = GenomeWindowSplit(str(fa), "train", cfg)
    assert len(train) == 3  # 100-200, 200-300 in the first region; one centred on 600-640
    assert list(tile_starts(600, 640, 100, 100)) == [570]


def test_windows_errors_name_the_rule(tmp_path):
    fa = _toy_fasta(tmp_path)
    with pytest.raises(ValueError, match="valid_chroms"):
        GenomeWindowSplit(str(fa), "train", GenomeWindows(window=100))
    with pytest.raises(ValueError, match="both a validation and a test"):
        GenomeWindowSplit(str(fa), "train", GenomeWindows(window=100, valid_chroms=["chr1"], test_chroms=["chr1"]))
    with pytest.raises(KeyError, match="chr9"):
        GenomeWindowSplit(str(fa), "train", GenomeWindows(window=100, valid_chroms=["chr9"]))
    with pytest.raises(ValueError, match="0 windows.*max_n_fraction"):
        GenomeWindowSplit(str(fa), "valid", GenomeWindows(window=500, valid_chroms=["chr2"], max_n_fraction=0.0))
    with pytest.raises(ValueError, match="every chromosome is held out"):
        GenomeWindowSplit(str(fa), "train", GenomeWindows(window=100, valid_chroms=["chr1", "chr2"],
                                                          test_chroms=["chr3"]))


def test_datamodule_batches_are_bases_and_flip_together(tmp_path):
    fa = _toy_fasta(tmp_path)
    dm = DNADataModule(str(fa), batch_size=4, rc_augment=True, windows={"window": 100, "valid_chroms": ["chr3"]})
    assert dm.language_model and dm.n_features == 4 and dm.seq_len == 100 and dm.feature_names == list("ACGT")
    codes, _ = dm.source("train").read(np.arange(4))

    class _Trainer:  # in training, so augmentation applies
        training = True
    dm.trainer = _Trainer()
    dm._train_sampler, dm._rank = type("S", (), {"epoch": 0, "consumed": 0})(), 0
    x, y = dm.on_after_batch_transfer((torch.from_numpy(codes), torch.from_numpy(codes)), 0)
    assert x.shape == (4, 4, 100) and y.dtype == torch.uint8
    assert torch.equal(x.argmax(1), y.long())  # the input is the target's own one-hot, flipped or not
    assert any(not torch.equal(y[i], torch.from_numpy(codes[i])) for i in range(4))


@pytest.fixture(scope="session")
def lm_run(tmp_path_factory):
    """A tiny causal LSTM trained through `dnaseq train` on the shipped reference slice."""
    folder = tmp_path_factory.mktemp("lm")
    proc = run_cli("train", "--config", ROOT / "configs" / "lm.yaml", "--data.data", LM_FASTA,
                   "--data.windows.window", "200", "--model.arch_args.rnn_hidden", "8",
                   "--model.arch_args.embed_filters", "4", "--trainer.max_epochs", "2",
                   "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
                   "--trainer.default_root_dir", folder, cwd=folder)
    return folder, proc


def test_train_a_language_model_through_dnaseq_train(lm_run):
    import dnaseq
    folder, proc = lm_run
    assert "valid_bpb" in proc.stdout
    best = next(folder.rglob("best.ckpt"))
    state = torch.load(best, map_location="cpu", weights_only=False)
    callback = next(v for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert callback["monitor"] == "valid_bpb" and math.isfinite(float(callback["best_model_score"]))
    model = dnaseq.load_model(str(best))
    assert model.language_model and model.seq_len == 200
    probs = model.predict_proba("ACGT" * 50)
    assert probs.shape == (1, 4, 200) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    hp = yaml.safe_load((best.parent / "config.yaml").read_text())
    assert hp["data"]["windows"]["valid_chroms"] == ["chrX"]


def test_chromatin_commands_refuse_a_language_model(lm_run, tmp_path):
    folder, _ = lm_run
    best = next(folder.rglob("best.ckpt"))
    fa = tmp_path / "one.fa"
    fa.write_text(">s\n" + "ACGT" * 50 + "\n")
    proc = run_cli("predict", "-m", best, "--fasta", fa, "-o", tmp_path / "p.tsv", check=False)
    assert proc.returncode == 1 and "is a DNA language model" in proc.stderr


def test_objective_and_data_must_match(tmp_path, shipped_dataset):
    proc = run_cli("train", "--config", ROOT / "configs" / "lm.yaml", "--data.data", shipped_dataset,
                   "--trainer.default_root_dir", tmp_path, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "reference FASTA" in proc.stderr
    proc = run_cli("train", "--config", ROOT / "configs" / "quickstart.yaml", "--data.data", LM_FASTA,
                   "--data.windows.valid_chroms", "[chrX]", "--model.wide_fit", "none", "--model.pos_weight", "null",
                   "--trainer.default_root_dir", tmp_path, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "is a reference FASTA" in proc.stderr and "model.arch lm" in proc.stderr
    proc = run_cli("train", "--config", ROOT / "configs" / "lm.yaml", "--model.strand", "both", "--data.data", LM_FASTA,
                   "--trainer.default_root_dir", tmp_path, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "strand: both" in proc.stderr
    assert encode("ACGT").tolist() == [0, 1, 2, 3]
