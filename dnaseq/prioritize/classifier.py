"""``dnaseq prioritize``: a functional-variant classifier over the effect profile, as DeepSEA's second stage.

Profile. For every scored variant and every chromatin feature ``f``: ``abs_diff:f`` = |alt - ref|
and ``abs_logit_diff:f`` = |logit(alt) - logit(ref)| (DeepSEA's two effect measures); with e-values
in the score files (``score-variants --background``) and ``use_evalues=True`` also
``neglog10_evalue_diff:f`` and ``neglog10_evalue_logit_diff:f``. 2F (or 4F) numbers per variant.

Model. scikit-learn's L2-regularised logistic regression on standardised profiles
(``StandardScaler`` + ``LogisticRegression(C)``, class weights balanced), as DeepSEA fitted
its functional-significance model. It is judged by cross-validation **grouped by chromosome**
(``LeaveOneGroupOut`` up to ``MAX_FOLDS`` chromosomes, ``GroupKFold(MAX_FOLDS)`` past it): a
variant's chromosome is never in both the fit and the test of a fold. Per fold and pooled over
the out-of-fold predictions: ROC AUC and PR AUC, beside two parameter-free scores computed on the
same variants (the largest |diff| over features, and, with e-values, the smallest e-value) so that
the classifier's gain over the raw effect is on the table.

The fitted classifier is a JSON file (no pickle: loading it runs no code): the profile's column
names, the scaler's means and scales, the coefficients and intercept, ``C``, the cross-validated
metrics, and the provenance of the effects it was fitted on (model fingerprint, checkpoint,
features, window, strand, N fill). :func:`functional_scores` refuses scores made with other
weights or features (``dnaseq prioritize rank --classifier``). Written by hand over scikit-learn's estimators (not skops) because a linear
model's parameters are a few arrays that JSON holds exactly and anyone can read.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import h5py
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .._version import __version__
from ..apply.variant_writers import read_scores_h5, read_scores_tsv
from ..apply.variants import score_variants
from ..outputs import prepare_output_prefix
from ..sequence.sniff import sniff
from ..sequence.vcf import check_vcf, read_vcf
from ..training.checkpoint import as_model

FORMAT = "dnaseq functional classifier"
FORMAT_VERSION = 1
MIN_PER_CLASS = 10  # scored variants needed in each class to fit and cross-validate
MAX_FOLDS = 10
PROFILE_SCORES = ("diff", "logit_diff")
#: the score-run settings a classifier and the scores it is applied to must share
MUST_MATCH = ("model_fingerprint", "features", "window", "strand", "fill")


@dataclass
class Scored:
    """The scored rows of one score file: variant columns, per-score (n, F) arrays, the run's meta."""
    table: object  # pandas DataFrame of the variant (and summary) columns
    scores: Dict[str, np.ndarray]
    features: List[str]
    meta: Dict
    path: str
    rows: int = 0  # the file's rows, scored or not


def _is_hdf5(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"


def _is_score_tsv(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(16).startswith(b"chrom\tpos\tid\t")


def read_scored(path: str) -> Scored:
    """A score-variants output (TSV with its ``.summary.json`` beside it, or HDF5), scored rows only."""
    if _is_hdf5(path):
        table, scores, features = read_scores_h5(path)
        with h5py.File(path, "r") as h5:
            meta = json.loads(h5.attrs["meta"])
    else:
        if not os.path.exists(path):
            raise FileNotFoundError(f"score file not found: {path}")
        if not _is_score_tsv(path):
            kind = sniff(path)
            what = f"a {kind.description}" if kind.name not in ("text", "binary") else "not a score table"
            raise ValueError(f"{path}: this is {what}, not an output of dnaseq score-variants (a TSV starting "
                             f"'chrom, pos, id' or its .h5); score the variants first: dnaseq score-variants ...")
        table = read_scores_tsv(path)
        features = list(dict.fromkeys(c.split(":", 1)[1] for c in table.columns if c.startswith("ref:")
                                      or c.startswith("diff:")))
        kinds = dict.fromkeys(c.split(":", 1)[0] for c in table.columns if ":" in c)
        scores = {s: table[[f"{s}:{f}" for f in features]].to_numpy(np.float64) for s in kinds}
        summary = os.path.splitext(path)[0] + ".summary.json"
        if not os.path.exists(summary):
            raise ValueError(f"{path}: its {os.path.basename(summary)} (the run's settings) is missing; score the "
                             f"variants again with dnaseq score-variants")
        with open(summary, encoding="utf-8") as fh:
            meta = json.load(fh)["meta"]
    keep = (table["status"] == "scored").to_numpy()
    missing = [s for s in PROFILE_SCORES if s not in scores]
    if missing:
        raise ValueError(f"{path} has no {' or '.join(missing)} scores; score with --scores including "
                         f"{','.join(PROFILE_SCORES)}")
    return Scored(table[keep].reset_index(drop=True), {s: v[keep] for s, v in scores.items()}, list(features),
                  meta, path, len(table))


def profile(scored: Scored, use_evalues: bool = False) -> Tuple[np.ndarray, List[str]]:
    """The effect profile (n, 2F or 4F) and its column names (module docstring)."""
    blocks, names = [], []
    for s in PROFILE_SCORES:
        blocks.append(np.abs(scored.scores[s]))
        names += [f"abs_{s}:{f}" for f in scored.features]
    if use_evalues:
        for s in PROFILE_SCORES:
            if f"evalue_{s}" not in scored.scores:
                raise ValueError(f"{scored.path} has no e-values; score it with --background, or fit without "
                                 f"--use-evalues")
            blocks.append(-np.log10(scored.scores[f"evalue_{s}"]))
            names += [f"neglog10_evalue_{s}:{f}" for f in scored.features]
    return np.concatenate(blocks, axis=1), names


def _read_or_glance(path: str, can_score: bool) -> Union[Scored, np.ndarray]:
    """A score file, read; or, for a VCF to be scored, the chromosome of each scorable row: enough
    to refuse a set that could not be fitted before any variant is scored (scoring only drops rows)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"variants not found: {path}")
    if _is_hdf5(path) or _is_score_tsv(path):
        return read_scored(path)
    if not can_score:
        raise ValueError(f"{path} is not a score file of dnaseq score-variants: to score a VCF give "
                         f"--checkpoint and --reference")
    check_vcf(path)  # a file of another kind is named as such, not counted as "0 variants"
    return np.array([r.chrom for r in read_vcf(path) if r.scorable], dtype=str)


def _score(path: str, checkpoint, reference, background, out_prefix: str, run) -> Scored:
    score_variants(checkpoint, path, reference, out_prefix, scores=("ref", "alt") + PROFILE_SCORES,
                   background=background, run=run)
    return read_scored(out_prefix + ".tsv")


def _chroms(got: Union[Scored, np.ndarray]) -> np.ndarray:
    return got.table["chrom"].to_numpy(str) if isinstance(got, Scored) else got


def _provenance(meta: Dict, features: Sequence[str]) -> Dict:
    return {"model_fingerprint": meta.get("model_fingerprint"), "checkpoint": meta.get("checkpoint"),
            "features": list(features), "window": meta.get("window"), "strand": meta.get("strand"),
            "fill": meta.get("fill"), "background": meta.get("background"),
            "background_fingerprint": meta.get("background_fingerprint")}


def _differing(mine: Dict, theirs: Dict, use_evalues: bool = False) -> List[str]:
    """The ``MUST_MATCH`` entries on which two provenances differ; with ``use_evalues`` the
    background the e-values came from too (e-values against two backgrounds are not comparable)."""
    keys = MUST_MATCH + (("background_fingerprint",) if use_evalues else ())
    return [k for k in keys if mine.get(k) != theirs.get(k)]


def _folds(groups: np.ndarray):
    n = len(np.unique(groups))
    return LeaveOneGroupOut() if n <= MAX_FOLDS else GroupKFold(MAX_FOLDS)


def _pipeline(C: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000))


def _metrics(y: np.ndarray, score: np.ndarray) -> Dict[str, float]:
    if len(np.unique(y)) < 2:
        return {"roc_auc": float("nan"), "pr_auc": float("nan")}
    return {"roc_auc": float(roc_auc_score(y, score)), "pr_auc": float(average_precision_score(y, score))}


def check_classes(y: np.ndarray, groups: np.ndarray, min_per_class: int = MIN_PER_CLASS) -> None:
    """One-line refusals: too few variants in a class; no chromosome with both classes (then no
    grouped fold could measure anything); a single chromosome (nothing to hold out)."""
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < min_per_class:
        raise ValueError(f"too few scored variants to fit: {n_pos} positive(s), {n_neg} negative(s); at least "
                         f"{min_per_class} of each are needed")
    chroms = np.unique(groups)
    if len(chroms) < 2:
        raise ValueError(f"every variant is on {chroms[0]}: cross-validation grouped by chromosome needs variants "
                         f"on two chromosomes or more")
    pos_chroms, neg_chroms = set(groups[y == 1]), set(groups[y == 0])
    if not pos_chroms & neg_chroms:
        raise ValueError(f"positives ({', '.join(sorted(pos_chroms))}) and negatives ({', '.join(sorted(neg_chroms))}) "
                         f"lie on disjoint chromosomes: every held-out chromosome would hold one class only, so "
                         f"grouped cross-validation measures nothing (and a classifier could learn the chromosome); "
                         f"draw negatives from the positives' chromosomes")


@dataclass
class FitResult:
    """What :func:`fit_classifier` wrote and measured."""
    classifier: str
    folds: object  # DataFrame: one row per held-out group and scorer
    pooled: Dict[str, Dict[str, float]]  # scorer -> {"roc_auc", "pr_auc"}
    coefficients: str
    plot: str
    n_pos: int
    n_neg: int

    def format(self) -> str:
        lines = [f"{self.n_pos:,} positives, {self.n_neg:,} negatives; cross-validation grouped by chromosome "
                 f"({self.folds['held_out'].nunique()} folds), pooled out-of-fold:"]
        for name, m in self.pooled.items():
            lines.append(f"  {name:<18} ROC AUC {m['roc_auc']:.3f}   PR AUC {m['pr_auc']:.3f}")
        return "\n".join(lines)


def fit_classifier(positives: str, negatives: str, out: str, checkpoint=None, reference: Optional[str] = None,
                   background: Optional[str] = None, use_evalues: bool = False, C: float = 1.0,
                   min_per_class: int = MIN_PER_CLASS, run=None) -> FitResult:
    """Fit and cross-validate the classifier (module docstring). ``positives`` / ``negatives``:
    score files of score-variants, or VCFs scored here with ``checkpoint`` and ``reference`` (and
    ``background``, for e-values). Writes into folder ``out``: ``classifier.json``, ``cv_folds.tsv``,
    ``coefficients.tsv``, ``curves.png`` (and the score files of VCFs it scored)."""
    if not (isinstance(C, (int, float)) and C > 0):
        raise ValueError(f"C (the inverse L2 strength) must be a number > 0, got {C!r}")
    if os.path.exists(positives) and os.path.exists(negatives) and os.path.samefile(positives, negatives):
        raise ValueError(f"the positives and the negatives are the same file ({positives}): give two sets")
    can_score = checkpoint is not None and reference is not None
    if can_score:
        as_model(checkpoint)  # a language model is refused by name before anything is read or scored
    sets = {name: _read_or_glance(path, can_score) for name, path in (("positives", positives),
                                                                      ("negatives", negatives))}
    if use_evalues and background is None and not all(isinstance(x, Scored) for x in sets.values()):
        raise ValueError("use_evalues adds e-values to the profile: give a background (--background) to score the "
                         "VCFs against")
    for got in sets.values():
        if use_evalues and isinstance(got, Scored):
            profile(got, use_evalues=True)  # a score file without e-values is named before anything is scored
    pos_chroms, neg_chroms = _chroms(sets["positives"]), _chroms(sets["negatives"])
    check_classes(np.r_[np.ones(len(pos_chroms), np.int64), np.zeros(len(neg_chroms), np.int64)],
                  np.r_[pos_chroms, neg_chroms], min_per_class)  # before anything is scored or written
    prepare_output_prefix(os.path.join(out, "classifier"))
    for name, path in (("positives", positives), ("negatives", negatives)):
        if not isinstance(sets[name], Scored):
            sets[name] = _score(path, checkpoint, reference, background, os.path.join(out, name), run)
    pos, neg = sets["positives"], sets["negatives"]
    prov = _provenance(pos.meta, pos.features)
    differs = _differing(prov, _provenance(neg.meta, neg.features), use_evalues)
    if "background_fingerprint" in differs:
        raise ValueError(f"{pos.path} and {neg.path} have e-values against different backgrounds "
                         f"({pos.meta.get('background')} and {neg.meta.get('background')}): the classifier would learn "
                         f"the backgrounds, not the variants; score both with the same --background")
    if differs:
        raise ValueError(f"{pos.path} and {neg.path} were scored with different {', '.join(differs)}: score both "
                         f"with the same checkpoint and settings")
    Xp, names = profile(pos, use_evalues)
    Xn, _ = profile(neg, use_evalues)
    X = np.concatenate([Xp, Xn])
    y = np.concatenate([np.ones(len(Xp), np.int64), np.zeros(len(Xn), np.int64)])
    groups = np.concatenate([pos.table["chrom"].to_numpy(str), neg.table["chrom"].to_numpy(str)])
    check_classes(y, groups, min_per_class)
    if not np.all(np.isfinite(X)):
        raise ValueError("the effect profiles hold NaN or inf (a model output that is not finite)")
    F = len(pos.features)
    simple = {"max |diff|": np.abs(np.concatenate([pos.scores["diff"], neg.scores["diff"]])).max(axis=1)}
    if all("evalue_diff" in s.scores for s in (pos, neg)):
        e = np.concatenate([np.minimum(s.scores["evalue_diff"], s.scores["evalue_logit_diff"]) for s in (pos, neg)])
        simple["min e-value"] = -np.log10(e.min(axis=1))
    oof = np.full(len(y), np.nan)
    rows = []
    for train, test in _folds(groups).split(X, y, groups):
        held = ",".join(sorted(set(groups[test])))
        if len(np.unique(y[train])) < 2:
            raise ValueError(f"holding out {held} leaves one class to fit on: draw both classes on every chromosome")
        model = _pipeline(C).fit(X[train], y[train])
        oof[test] = model.predict_proba(X[test])[:, 1]
        for scorer, score in [("classifier", oof[test])] + [(k, v[test]) for k, v in simple.items()]:
            rows.append({"held_out": held, "scorer": scorer, "n_pos": int(y[test].sum()),
                         "n_neg": int(len(test) - y[test].sum()), **_metrics(y[test], score)})
    folds = pd.DataFrame(rows)
    curves = {"classifier": oof, **simple}
    pooled = {k: _metrics(y, v) for k, v in curves.items()}
    final = _pipeline(C).fit(X, y)
    scaler, lr = final[0], final[-1]
    os.makedirs(out, exist_ok=True)
    folds.to_csv(os.path.join(out, "cv_folds.tsv"), sep="\t", index=False)
    coef = pd.DataFrame({"column": names, "coefficient": lr.coef_[0]})
    coef["feature"] = [n.split(":", 1)[1] for n in names]
    coef["measure"] = [n.split(":", 1)[0] for n in names]
    coef = coef.reindex(coef["coefficient"].abs().sort_values(ascending=False).index)
    coef_path = os.path.join(out, "coefficients.tsv")
    coef[["feature", "measure", "coefficient"]].to_csv(coef_path, sep="\t", index=False, float_format="%.6g")
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "dnaseq_version": __version__, "columns": names,
           "n_features": F, "use_evalues": bool(use_evalues), "C": float(C), "mean": scaler.mean_.tolist(),
           "scale": scaler.scale_.tolist(), "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]),
           "provenance": prov, "fitted_on": {"positives": pos.path, "negatives": neg.path, "n_pos": int(y.sum()),
                                             "n_neg": int(len(y) - y.sum())},
           "cv": {"grouping": "chromosome", "folds": folds.to_dict("records"), "pooled": pooled}}
    path = os.path.join(out, "classifier.json")
    with open(path + ".partial", "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(path + ".partial", path)
    from ..plots.figures import plot_classifier_curves  # matplotlib costs start-up time: imported for the plot
    plot = plot_classifier_curves(y, curves, os.path.join(out, "curves.png"),
                                  title=f"grouped by chromosome, out-of-fold ({int(y.sum())} pos / "
                                        f"{int(len(y) - y.sum())} neg)")
    return FitResult(path, folds, pooled, coef_path, plot, int(y.sum()), int(len(y) - y.sum()))


def load_classifier(path: str) -> Dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"classifier not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dnaseq functional classifier (make one with dnaseq prioritize fit)")
    if int(doc["format_version"]) > FORMAT_VERSION:
        raise ValueError(f"{path} is of format version {doc['format_version']}; upgrade dnaseq to read it")
    return doc


def functional_scores(doc: Dict, scored: Scored) -> np.ndarray:
    """The classifier's probability that each scored row is functional."""
    mine = doc["provenance"]
    differs = _differing(mine, _provenance(scored.meta, scored.features), doc["use_evalues"])
    if "background_fingerprint" in differs:
        raise ValueError(f"{scored.path} has e-values against another background ({scored.meta.get('background')}) "
                         f"than the classifier was fitted on ({mine.get('background')}): score the variants with "
                         f"--background {mine.get('background')}")
    if differs:
        what = "checkpoint (other weights)" if "model_fingerprint" in differs else ", ".join(differs)
        raise ValueError(f"{scored.path} was scored with another {what} than the classifier was fitted on "
                         f"({mine.get('checkpoint')}): score the variants with that checkpoint, or fit a classifier "
                         f"on this one's effects")
    X, names = profile(scored, doc["use_evalues"])
    if names != doc["columns"]:
        raise ValueError(f"{scored.path}: its effect profile has other columns than the classifier's")
    z = (X - np.asarray(doc["mean"])) / np.asarray(doc["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(doc["coef"]) + doc["intercept"])))
