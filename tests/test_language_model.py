"""DNA language models: a base never sees itself, windows straight from a FASTA, training through
`dnaseq train`, bits per base, and chromatin commands refusing a language model."""
import math
import re
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
    with pytest.raises(ValueError, match="its longest chromosome is 1,000 bp, shorter than a 5,000 bp window"):
        GenomeWindowSplit(str(fa), "train", GenomeWindows(window=5000, valid_chroms=["chr2"], test_chroms=["chr3"]))
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
    # what the windows are and what the N rule left out, said as the run starts
    assert re.search(r"train: [\d,]+ windows of 200 bp on 3 chromosome\(s\) \(chr2R, chr3L, chr3R\); [\d,]+ of "
                     r"[\d,]+ left out for more than 0.5 N", proc.stderr), proc.stderr[-3000:]
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


def test_checkpoint_records_its_chromosomes(lm_run):
    import dnaseq
    folder, _ = lm_run
    model = dnaseq.load_model(str(next(folder.rglob("best.ckpt"))))
    assert model.held_out_chromosomes("test") == ["chr2L"] and model.held_out_chromosomes("valid") == ["chrX"]
    assert model.held_out_chromosomes("train") == ["chr2L", "chr2R", "chr3L", "chr3R", "chrX"][1:4]


def test_evaluate_a_language_model_beside_the_ngram(lm_run, tmp_path, tiny_checkpoint):
    import pandas as pd
    folder, _ = lm_run
    best = next(folder.rglob("best.ckpt"))
    run_cli("lm-baseline", "--reference", LM_FASTA, "--train-chromosomes", "chr2R,chr3L,chr3R",
            "--test-chromosomes", "chr2L", "--max-k", "3", "--out", tmp_path / "ng", cwd=tmp_path)
    bed = tmp_path / "peaks.bed"
    bed.write_text("chr2L\t0\t100000\n2L\t500000\t600000\n")  # names in another scheme resolve too
    proc = run_cli("evaluate", "-m", best, "--data", LM_FASTA, "--classes", f"peaks={bed}",
                   "--baseline", tmp_path / "ng.best.npz", "-o", tmp_path / "ev", cwd=tmp_path)
    assert "held-out chr2L" in proc.stdout
    table = pd.read_csv(tmp_path / "ev" / "lm_metrics.tsv", sep="\t")
    assert list(table["class"]) == ["all", "peaks", "elsewhere"]
    assert table.bases[0] == 240_907 == table.bases[1] + table.bases[2]  # every known base of chr2L, once
    assert table.bits_per_base.between(1.5, 2.5).all() and table.ngram_bits_per_base.between(1.8, 2.1).all()
    assert (tmp_path / "ev" / "lm_metrics.png").stat().st_size > 10_000
    proc = run_cli("evaluate", "-m", best, "--data", LM_FASTA, "--split", "valid", "--chroms", "chr2R,chr2L")
    assert "held-out chr2R, chr2L" in proc.stdout and "chr2R was trained on: bits per base there are not held-out" \
        in proc.stderr
    proc = run_cli("evaluate", "-m", best, "--data", LM_FASTA, "--strand", "both", check=False)
    assert proc.returncode == 2 and "--strand both: for a chromatin model" in proc.stderr  # was silently ignored
    proc = run_cli("evaluate", "-m", best, "--data", LM_FASTA, "--split", "nonsense", check=False)
    assert proc.returncode == 1 and "split 'nonsense': a language model is evaluated on" in proc.stderr
    proc = run_cli("evaluate", "-m", tiny_checkpoint, "--data", LM_FASTA, check=False)
    assert proc.returncode == 1 and "is a chromatin model" in proc.stderr
    proc = run_cli("evaluate", "-m", best, "--data", DATA / "dm3_insulators.h5", check=False)
    assert proc.returncode == 1 and "is a DNA language model" in proc.stderr


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_one_step_at_a_time_equals_the_window_pass(rnn_type):
    torch.manual_seed(1)
    model = RecurrentLM(30, 4, "causal", rnn_type, 8, 2, 5, 4, 0.0).eval()
    x = _one_hot(torch.randint(0, 4, (3, 30)))
    column, state, steps = torch.zeros(3, 4), None, []
    for i in range(30):
        logits, state = model.step(column, state)
        steps.append(logits)
        column = x[:, :, i]
    assert torch.allclose(torch.stack(steps, 2), model(x), atol=1e-5)
    with pytest.raises(ValueError, match="bidirectional"):
        RecurrentLM(30, 4, "bidirectional", rnn_hidden=4).step(column)


def test_comparison_measures():
    from dnaseq.apply.generate import js_distance, kmer_spectrum, parse_strategy, repeat_fraction
    assert repeat_fraction(encode("A" * 12)) == 1.0 and repeat_fraction(encode("A" * 11)) == 0.0
    assert repeat_fraction(encode("ACGTTG" * 2)) == 1.0  # period 6, two periods
    assert repeat_fraction(encode("GGCT" + "AC" * 6 + "TTGCA")) == pytest.approx(12 / 21)
    rng = np.random.default_rng(0)
    assert repeat_fraction(rng.integers(0, 4, 50_000).astype(np.uint8)) < 0.01
    spectrum = kmer_spectrum([encode("ACGTAC" * 20)])
    assert spectrum.sum() == pytest.approx(1) and js_distance(spectrum, spectrum) == 0
    assert js_distance(kmer_spectrum([encode("A" * 50)]), kmer_spectrum([encode("C" * 50)])) == pytest.approx(1)
    assert parse_strategy("topk:2:0.7").name == "top2_T0.7" and parse_strategy("beam").width == 5
    for bad in ("beam:0", "sample:-1", "topk:9", "nucleus:0.9", "greedy:2"):
        with pytest.raises(ValueError, match="strategy"):
            parse_strategy(bad)


def test_generate_from_the_command_line(lm_run, tmp_path):
    from dnaseq.apply.generate import generate
    folder, _ = lm_run
    best = next(folder.rglob("best.ckpt"))
    proc = run_cli("generate", "-m", best, "-n", "3", "-L", "120", "-s", "greedy,beam:2,sample:1.0,topk:2:0.8",
                   "--prompt", "ACGTNACGT", "-r", LM_FASTA, "--chroms", "chr2L", "-o", tmp_path / "gen", cwd=tmp_path)
    assert "genome (held-out sample)" in proc.stdout
    records = (tmp_path / "gen.fa").read_text().split(">")[1:]
    names = [r.split()[0] for r in records]
    assert names == ["greedy_1", "beam2_1", "beam2_2"] + [f"sample_T1_{i}" for i in (1, 2, 3)] + \
        [f"top2_T0.8_{i}" for i in (1, 2, 3)]
    assert all(len("".join(r.splitlines()[1:])) == 120 for r in records)
    import pandas as pd
    table = pd.read_csv(tmp_path / "gen.tsv", sep="\t")
    assert list(table.strategy)[0] == "genome (held-out sample)" and table.gc.between(0, 1).all()
    again = generate(str(best), n=3, length=120, strategies=["sample:1.0"], seed=0)[0].sequences
    assert again == generate(str(best), n=3, length=120, strategies=["sample:1.0"], seed=0)[0].sequences
    proc = run_cli("generate", "-m", best, "-o", tmp_path / "gen", check=False)
    assert proc.returncode == 1 and "exists from an earlier run" in proc.stderr
    (tmp_path / "afile").write_text("")
    for out in (tmp_path / "folder/", tmp_path / "afile" / "x"):  # refused before anything is generated
        proc = run_cli("generate", "-m", best, "-L", "100000", "-o", str(out) + ("/" if out.name == "folder" else ""),
                       check=False)
        assert proc.returncode == 1 and ("is a folder" in proc.stderr or "is a file" in proc.stderr), proc.stderr
    from dnaseq.cli.lm import _strategies
    assert [s.name for s in _strategies("greedy,greedy,sample:1,sample:1.0")] == ["greedy", "sample_T1"]


def test_zero_shot_variant_scores(lm_run, tmp_path):
    import dnaseq
    from dnaseq.apply.variant_writers import read_scores_tsv
    folder, _ = lm_run
    best = next(folder.rglob("best.ckpt"))
    with Genome(LM_FASTA) as g:
        codes = g.chromosome_codes("chr2L")
    known = np.flatnonzero(codes < 4)
    sites = [int(known[i]) for i in (100, 5000, 90_000)]
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for p in sites:
        lines.append(f"chr2L\t{p + 1}\tsnv{p}\t{'ACGT'[codes[p]]}\t{'ACGT'[(codes[p] + 1) % 4]}\t.\t.\t.")
    p = sites[0] + 10
    lines.append(f"chr2L\t{p + 1}\tdel\t{'ACGT'[codes[p]]}{'ACGT'[codes[p + 1]]}\t{'ACGT'[codes[p]]}\t.\t.\t.")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    run_cli("score-variants", "-m", best, "--vcf", vcf, "-r", LM_FASTA, "-o", tmp_path / "z", cwd=tmp_path)
    table = read_scores_tsv(str(tmp_path / "z.tsv"))
    assert list(table.columns[-6:]) == ["ref:window", "ref:site", "alt:window", "alt:site", "llr:window", "llr:site"]
    assert (table.status == "scored").all()
    assert np.allclose(table["llr:site"][:3], table["alt:site"][:3] - table["ref:site"][:3])
    assert np.isnan(table["llr:site"][3]) and np.isfinite(table["llr:window"][3])  # an indel: the window only
    model = dnaseq.load_model(str(best))
    L = model.seq_len
    window = codes[sites[1] - L // 2:sites[1] - L // 2 + L]
    probs = model.predict_proba(window)[0]  # (4, L): the REF window's own pass
    ref_base, alt_base = codes[sites[1]], (codes[sites[1]] + 1) % 4
    expected = np.log2(probs[alt_base, L // 2]) - np.log2(probs[ref_base, L // 2])
    assert table["llr:site"][1] == pytest.approx(expected, abs=1e-4)
    proc = run_cli("score-variants", "-m", best, "--vcf", vcf, "-r", LM_FASTA, "-o", tmp_path / "y",
                   "--scores", "diff", check=False)
    assert proc.returncode == 1 and "chromatin scores" in proc.stderr


# -- fine-tuning: model.init_from ------------------------------------------------------------

def test_transfer_rules(tiny_checkpoint):
    from dnaseq.training.finetune import Transfer, check_held_out, transfer_weights
    args = {"conv_filters": [8], "conv_widths": 11, "pool_sizes": 10, "rnn_type": "lstm", "rnn_hidden": 4,
            "head_hidden": [8]}
    three = build_model("conv_recurrent", 1000, 3, **args)  # other features: a new output layer
    source = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    report = transfer_weights(three, str(tiny_checkpoint), 3)
    assert report.new and all(n.startswith("head.") for n in report.new)
    for name in report.copied:
        assert torch.equal(three.state_dict()[name], source["model." + name])
    wider = build_model("conv_recurrent", 1000, 8, **{**args, "conv_filters": [16]})
    with pytest.raises(ValueError, match=r"shapes differ for .*\(8, 4, 11\) -> \(16, 4, 11\)"):
        transfer_weights(wider, str(tiny_checkpoint), 8)
    with pytest.raises(ValueError, match="shares no weight"):
        transfer_weights(build_model("lm_chromatin", 1000, 8, rnn_hidden=4), str(tiny_checkpoint), 8)
    with pytest.raises(FileNotFoundError, match="init_from"):
        transfer_weights(three, "missing.ckpt", 3)
    with pytest.warns(UserWarning, match="chr2L, which this run tests on"):
        check_held_out(Transfer("src", source_record={"chromosomes": {"train": ["chr2L", "chr3R"]}}), ["chr2L"])


def test_a_chromatin_model_starts_from_a_language_model(lm_run, tmp_path, shipped_dataset):
    import dnaseq
    folder, _ = lm_run
    lm_ckpt = next(folder.rglob("best.ckpt"))
    proc = run_cli("train", "--config", ROOT / "configs" / "lm_chromatin.yaml", "--data.data", shipped_dataset,
                   "--model.init_from", lm_ckpt, "--model.arch_args.rnn_hidden", "8",
                   "--model.arch_args.embed_filters", "4", "--model.freeze_trunk_epochs", "-1",
                   "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                   "--trainer.default_root_dir", tmp_path, cwd=tmp_path)
    assert "tensors copied (the trunk)" in proc.stdout and "frozen for the run" in proc.stdout
    tuned = dnaseq.load_model(str(next(tmp_path.rglob("best.ckpt"))))  # loads without touching init_from
    source = dnaseq.load_model(str(lm_ckpt))
    for name, tensor in source.model.forward_stack.state_dict().items():
        assert torch.equal(tuned.model.forward_stack.state_dict()[name], tensor), f"frozen trunk moved: {name}"
    assert tuned.n_features == 8 and not tuned.language_model
    proc = run_cli("train", "--config", ROOT / "configs" / "lm_chromatin.yaml", "--data.data", shipped_dataset,
                   "--model.init_from", lm_ckpt, "--trainer.default_root_dir", tmp_path, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "shapes differ" in proc.stderr  # 128 units against the source's 8


def test_language_model_defaults_in_the_config():
    from dnaseq.training.train import parse_config
    cfg = parse_config(["--config", str(ROOT / "configs" / "lm.yaml"), "--trainer.gradient_clip_val", "null"])
    assert cfg.trainer.gradient_clip_val == 1.0  # clipped by default
    assert cfg.checkpoint.monitor == "valid_bpb" and cfg.checkpoint.mode == "min"
    assert cfg.early_stopping.monitor == "valid_bpb" and cfg.early_stopping.mode == "min"
    chromatin = parse_config(["--config", str(ROOT / "configs" / "quickstart.yaml")])
    assert chromatin.checkpoint.monitor == "valid_auroc"
