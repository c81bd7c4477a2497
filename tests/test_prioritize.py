"""dnaseq prioritize fit / rank: the functional-variant classifier cross-validated by chromosome,
saved without pickle, refused on the wrong inputs, and the ranked table with its heatmap."""
import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from dnaseq.apply.variant_writers import read_scores_tsv
from dnaseq.apply.variants import score_variants
from dnaseq.prioritize.background import random_snvs
from dnaseq.prioritize.classifier import fit_classifier, load_classifier
from dnaseq.prioritize.rank import rank_variants
from dnaseq.sequence.genome import Genome, write_fasta
from tests.conftest import DATA, run_cli


def write_vcf(path, rows):
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for r in sorted(rows, key=lambda r: (r.chrom, r.pos)):
            fh.write(f"{r.chrom}\t{r.pos}\t{r.id}\t{r.ref}\t{r.alt}\t.\t.\t.\n")
    return path


@pytest.fixture(scope="module")
def two_chromosomes(tmp_path_factory):
    """The shipped real dm3 slice cut into two chromosomes (chrA, chrB), as a plain FASTA."""
    d = tmp_path_factory.mktemp("two")
    with gzip.open(DATA / "dm3_slice" / "dm3_chr2L_400k.fa.gz", "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">"))
    return write_fasta(d / "two.fa", {"chrA": seq[:200_000], "chrB": seq[200_000:]})


@pytest.fixture(scope="module")
def labelled(tiny_checkpoint, two_chromosomes, tmp_path_factory):
    """Random SNVs on both chromosomes, scored; "functional" = the 20% with the largest |diff| in
    one feature (a label the effect profile holds, so a working classifier must find it)."""
    d = tmp_path_factory.mktemp("labelled")
    rows = list(random_snvs(Genome(str(two_chromosomes)), 600, 1000, seed=11))
    all_vcf = write_vcf(d / "all.vcf", rows)
    score_variants(str(tiny_checkpoint), str(all_vcf), str(two_chromosomes), str(d / "all"),
                   scores=("ref", "alt", "diff", "logit_diff"), progress=False)
    t = read_scores_tsv(str(d / "all.tsv"))
    effect = t.filter(like="diff:").filter(regex="^diff:").abs().to_numpy()[:, 2]
    top = effect >= np.quantile(effect, 0.8)
    by_key = {(r.chrom, r.pos): r for r in rows}
    pos = [by_key[(c, p)] for c, p in zip(t.chrom[top], t.pos[top])]
    neg = [by_key[(c, p)] for c, p in zip(t.chrom[~top], t.pos[~top])]
    return write_vcf(d / "pos.vcf", pos), write_vcf(d / "neg.vcf", neg)


def test_fit_cross_validates_by_chromosome_and_saves_json(tiny_checkpoint, two_chromosomes, labelled, tmp_path):
    pos, neg = labelled
    out = tmp_path / "clf"
    proc = run_cli("prioritize", "fit", "--positives", str(pos), "--negatives", str(neg), "-m", str(tiny_checkpoint),
                   "-r", str(two_chromosomes), "-o", str(out), "-q")
    assert "cross-validation grouped by chromosome (2 folds)" in proc.stdout
    folds = pd.read_csv(out / "cv_folds.tsv", sep="\t")
    assert set(folds.held_out) == {"chrA", "chrB"} and set(folds.scorer) == {"classifier", "max |diff|"}
    clf = folds[folds.scorer == "classifier"]
    assert (clf.roc_auc > 0.85).all(), clf  # the label is in the profile: it must be found on the held-out chromosome
    doc = load_classifier(str(out / "classifier.json"))
    assert doc["cv"]["grouping"] == "chromosome" and len(doc["coef"]) == len(doc["columns"]) == 16
    assert doc["provenance"]["window"] == 1000 and len(doc["provenance"]["model_fingerprint"]) == 64
    assert doc["cv"]["pooled"]["classifier"]["roc_auc"] > 0.85
    coef = pd.read_csv(out / "coefficients.tsv", sep="\t")
    assert len(coef) == 16 and coef.coefficient.abs().is_monotonic_decreasing
    assert (out / "curves.png").stat().st_size > 10_000
    # the file is plain JSON: no code runs when it is read
    assert json.loads((out / "classifier.json").read_text())["format"] == "dnaseq functional classifier"
    # scores of the positives and negatives were kept: fitting again from them gives the same model
    again = fit_classifier(str(out / "positives.tsv"), str(out / "negatives.tsv"), str(tmp_path / "again"))
    np.testing.assert_allclose(load_classifier(str(tmp_path / "again" / "classifier.json"))["coef"], doc["coef"])
    assert again.pooled["classifier"]["roc_auc"] == pytest.approx(doc["cv"]["pooled"]["classifier"]["roc_auc"])

    # rank by the classifier: the positives come first
    ranked = rank_variants(str(out / "positives.tsv"), str(tmp_path / "ranked.tsv"),
                           classifier=str(out / "classifier.json"))
    assert ranked.rank_by == "functional_score" and ranked.plot is None
    table = pd.read_csv(tmp_path / "ranked.tsv", sep="\t")
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert table.functional_score.is_monotonic_decreasing and table.functional_score.between(0, 1).all()


def test_fit_refuses_what_cannot_be_cross_validated(tiny_checkpoint, two_chromosomes, labelled, tmp_path):
    pos, neg = labelled
    lines = pos.read_text().splitlines()
    only_a = tmp_path / "pos_a.vcf"
    only_a.write_text("\n".join([l for l in lines if not l.startswith("chrB")]) + "\n")
    neg_lines = neg.read_text().splitlines()
    only_b = tmp_path / "neg_b.vcf"
    only_b.write_text("\n".join([l for l in neg_lines if not l.startswith("chrA")]) + "\n")
    proc = run_cli("prioritize", "fit", "--positives", str(only_a), "--negatives", str(only_b), "-m",
                   str(tiny_checkpoint), "-r", str(two_chromosomes), "-o", str(tmp_path / "c1"), "-q", check=False)
    assert proc.returncode == 1 and "lie on disjoint chromosomes" in proc.stderr
    # one error line (the drawn negatives may repeat a site: that is a warning about the input, kept)
    errors = [line for line in proc.stderr.strip().splitlines() if not line.startswith("WARNING: VCF ")]
    assert len(errors) == 1 and not (tmp_path / "c1").exists()  # refused before scoring: nothing written
    few = tmp_path / "few.vcf"
    few.write_text("\n".join(lines[:2 + 5]) + "\n")
    proc = run_cli("prioritize", "fit", "--positives", str(few), "--negatives", str(neg), "-m",
                   str(tiny_checkpoint), "-r", str(two_chromosomes), "-o", str(tmp_path / "c2"), "-q", check=False)
    assert proc.returncode == 1 and "too few scored variants to fit: 5 positive(s)" in proc.stderr
    assert not (tmp_path / "c2").exists()
    proc = run_cli("prioritize", "fit", "--positives", str(pos), "--negatives", str(neg), "-o",
                   str(tmp_path / "c3"), check=False)
    assert proc.returncode == 1 and "give --checkpoint and --reference" in proc.stderr


def test_classifier_of_another_checkpoint_is_refused(tiny_checkpoint, two_chromosomes, labelled, tmp_path):
    pos, neg = labelled
    fit_classifier(str(pos), str(neg), str(tmp_path / "clf"), checkpoint=str(tiny_checkpoint),
                   reference=str(two_chromosomes))
    doc = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    doc["provenance"]["model_fingerprint"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(doc))
    proc = run_cli("prioritize", "rank", "--scores", str(tmp_path / "clf" / "positives.tsv"), "-o",
                   str(tmp_path / "r.tsv"), "--classifier", str(tmp_path / "other.json"), check=False)
    assert proc.returncode == 1 and "another checkpoint (other weights)" in proc.stderr
    (tmp_path / "bad.json").write_text('{"coef": [1]}')
    proc = run_cli("prioritize", "rank", "--scores", str(tmp_path / "clf" / "positives.tsv"), "-o",
                   str(tmp_path / "r.tsv"), "--classifier", str(tmp_path / "bad.json"), check=False)
    assert proc.returncode == 1 and "is not a dnaseq functional classifier" in proc.stderr
    proc = run_cli("prioritize", "rank", "--scores", str(tmp_path / "clf" / "positives.tsv"), "-o",
                   str(tmp_path / "r.tsv"), check=False)
    assert proc.returncode == 1 and "has no e-values and no classifier" in proc.stderr


def test_rank_by_combined_evalue_with_heatmap(tiny_checkpoint, two_chromosomes, tmp_path):
    genome = Genome(str(two_chromosomes))
    bg = tmp_path / "bg.h5"
    run_cli("background", "-m", str(tiny_checkpoint), "-r", str(two_chromosomes), "-o", str(bg), "-n", "800", "-q")
    vcf = write_vcf(tmp_path / "mine.vcf", list(random_snvs(genome, 60, 1000, seed=21)))
    run_cli("score-variants", "-m", str(tiny_checkpoint), "-r", str(two_chromosomes), "--vcf", str(vcf),
            "-o", str(tmp_path / "mine"), "--background", str(bg), "-q")
    proc = run_cli("prioritize", "rank", "--scores", str(tmp_path / "mine.tsv"), "-o", str(tmp_path / "ranked.tsv"),
                   "--top", "12")
    assert "ranked 60 variants by combined_evalue" in proc.stdout and "ranked.png" in proc.stdout
    table = pd.read_csv(tmp_path / "ranked.tsv", sep="\t")
    assert table.combined_evalue.is_monotonic_increasing and len(table) == 60
    assert (table.combined_evalue == table[["combined_evalue_diff", "combined_evalue_logit_diff"]].min(axis=1)).all()
    assert (tmp_path / "ranked.png").stat().st_size > 10_000
    shutil.copy(tmp_path / "mine.tsv", tmp_path / "lonely.tsv")
    proc = run_cli("prioritize", "rank", "--scores", str(tmp_path / "lonely.tsv"), "-o", str(tmp_path / "x.tsv"),
                   check=False)
    assert proc.returncode == 1 and "lonely.summary.json" in proc.stderr and "is missing" in proc.stderr


def test_a_vcf_given_as_scores_is_named(tmp_path):
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nc\t10\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(ValueError, match=r"this is a VCF of variants, not an output of dnaseq score-variants"):
        rank_variants(str(vcf), str(tmp_path / "r.tsv"))
    assert not (tmp_path / "r.tsv").exists()


def test_e_values_against_two_backgrounds_are_refused(tiny_checkpoint, two_chromosomes, labelled, tmp_path):
    """Positives scored against one background and negatives against another: the classifier
    learned the backgrounds (ROC AUC 1.000, exit 0); now refused in fit and in rank."""
    from dnaseq.prioritize.background import build_background

    pos, neg = labelled
    args = (str(tiny_checkpoint), str(two_chromosomes))
    for name, n in (("bg1", 300), ("bg2", 200)):
        build_background(*args, str(tmp_path / f"{name}.h5"), n=n, seed=n)
    for vcf, bg, out in ((pos, "bg1", "pos1"), (neg, "bg1", "neg1"), (neg, "bg2", "neg2")):
        score_variants(args[0], str(vcf), args[1], str(tmp_path / out), background=str(tmp_path / f"{bg}.h5"),
                       scores=("ref", "alt", "diff", "logit_diff"))
    with pytest.raises(ValueError, match="e-values against different backgrounds .*bg1.h5 and .*bg2.h5"):
        fit_classifier(str(tmp_path / "pos1.tsv"), str(tmp_path / "neg2.tsv"), str(tmp_path / "mixed"),
                       use_evalues=True)
    fit_classifier(str(tmp_path / "pos1.tsv"), str(tmp_path / "neg1.tsv"), str(tmp_path / "clf"), use_evalues=True)
    proc = run_cli("prioritize", "rank", "--scores", tmp_path / "neg2.tsv", "--classifier",
                   tmp_path / "clf" / "classifier.json", "-o", tmp_path / "r.tsv", check=False)
    assert proc.returncode == 1 and "e-values against another background" in proc.stderr
    assert not (tmp_path / "r.tsv").exists()


def test_fit_options_that_cannot_work_stop_before_scoring(tiny_checkpoint, two_chromosomes, labelled, tmp_path):
    pos, neg = labelled
    common = dict(checkpoint=str(tiny_checkpoint), reference=str(two_chromosomes))
    for kwargs, expect in [({"C": 0}, "C .* must be a number > 0"),
                           ({"use_evalues": True}, "use_evalues adds e-values .* give a background")]:
        with pytest.raises(ValueError, match=expect):
            fit_classifier(str(pos), str(neg), str(tmp_path / "o"), **common, **kwargs)
    with pytest.raises(ValueError, match="the positives and the negatives are the same file"):
        fit_classifier(str(pos), str(pos), str(tmp_path / "o"), **common)
    assert not (tmp_path / "o").exists()
    proc = run_cli("prioritize", "fit", "--positives", pos, "--negatives", neg, "-o", tmp_path / "o", "--C", "0",
                   check=False)
    assert proc.returncode == 2 and "argument --C: expected a number > 0, not 0" in proc.stderr
