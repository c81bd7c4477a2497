"""dnaseq: deep-learning models of DNA sequence (DeepSEA / DanQ and relatives).

The package is laid out by stage; each stage imports only the ones below it (tests/test_layout.py
fails on an upward arrow or an import loop):

    outputs, settings, _version, _lazy   helpers every stage may use (no torch)
    sequence/    encoding, one-hot, genomes (FASTA index, bytes), intervals, VCF, text I/O, the
                 one reader of inputs into model windows, predict_proba's inputs, motifs
    plots/       every figure and logo
    data/        build-dataset, the dataset layout, the DeepSEA bundle, the DataModule
    models/      registry, architectures, strand wrapper and strand_mean, fast internal paths
                 (local recompute, overlap sharing, local recurrence)
    training/    the LightningModule and checkpoints, train, tune, config checks, metrics, runs,
                 resume, import of published weights
    inference/   the one engine (Trainer.predict, ordered writers), predictor settings, REF/ALT pairs
    apply/       predict, evaluate, compare, score-variants (and its e-values against a background), ISM
    prioritize/  which variants matter: backgrounds of variant effects, the functional-variant classifier
    interpret/   filter motifs, influence, attributions, TF-MoDISco
    design/      sequence design by greedy / beam / temperature search over edits
    cli/         the dnaseq command (nothing imports it)

The public names below are imported on first use, so ``import dnaseq`` loads no torch.
"""
from __future__ import annotations

from ._lazy import exports
from ._version import __version__

# the module that defines each public name (imported when the name is first used)
__getattr__, __dir__, _names = exports(__name__, {
    "sequence.encoding": ["ALPHABET", "decode", "encode", "reverse_complement", "InvalidBaseError"],
    "sequence.onehot": ["one_hot", "reverse_complement_one_hot", "codes_from_one_hot"],
    "sequence.genome": ["Genome", "UnknownChromosomeError", "Window"],
    "sequence.intervals": ["read_intervals", "BedFormatError"],
    "data.dataset": ["open_split", "read_info", "available_splits"],
    "data.build": ["build_dataset", "read_manifest", "Feature"],
    "models": ["MODELS", "build_model", "count_parameters"],
    "training.task": ["SequenceModel"],
    "training.checkpoint": ["load_model"],
    "data.datamodule": ["DNADataModule"],
    "apply.evaluate": ["evaluate", "evaluate_predictions", "load_evaluation"],
    "apply.compare": ["compare", "compare_evaluations"],
    "apply.variants": ["score_variants"],
    "apply.ism_run": ["run_ism"],
    "apply.predict": ["predict"],
    "apply.calibration": ["Background"],
    "prioritize.background": ["build_background"],
})


def train(args=None):
    """Train as ``dnaseq train`` does, from CLI-style arguments, e.g.
    ``dnaseq.train(["--config", "configs/quickstart.yaml", "--trainer.max_epochs", "2"])``;
    returns the LightningCLI object (``.trainer``, ``.model``, ``.datamodule``)."""
    from .training.train import run_training  # imported on use: Lightning is slow to import
    return run_training(args)


__all__ = ["__version__", *_names, "train"]
