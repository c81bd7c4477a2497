"""dnaseq: deep-learning models of DNA sequence (DeepSEA / DanQ and relatives).

The package is laid out by stage; each stage imports only the ones below it (tests/test_layout.py
fails on an upward arrow or an import loop):

    outputs, settings, metrics, _version   helpers every stage may use (no torch)
    sequence/    encoding, genomes (FASTA index, bytes), intervals, VCF, text I/O, model inputs
    plots/       every figure and logo
    data/        build-dataset, the dataset layout, the DeepSEA bundle, the DataModule
    models/      registry, architectures, strand wrapper, fast internal paths (local recompute,
                 overlap sharing, local recurrence)
    training/    the LightningModule and checkpoints, train, tune, config checks, runs, resume
    inference/   the one engine (Trainer.predict, ordered writers), predictor settings, REF/ALT pairs
    apply/       predict, evaluate, compare, score-variants, ISM
    interpret/   filter motifs, influence, attributions, TF-MoDISco
    design/      sequence design by greedy / beam / temperature search over edits
    cli/         the dnaseq command (nothing imports it)

The public names below are imported on first use, so ``import dnaseq`` loads no torch.
"""
from __future__ import annotations

import importlib

from ._version import __version__

# public name -> the module that defines it (imported when the name is first used)
_PUBLIC = {
    **dict.fromkeys(["ALPHABET", "decode", "encode", "reverse_complement", "InvalidBaseError"],
                    "sequence.encoding"),
    **dict.fromkeys(["one_hot", "reverse_complement_one_hot", "codes_from_one_hot"], "sequence.onehot"),
    **dict.fromkeys(["Genome", "UnknownChromosomeError", "Window"], "sequence.genome"),
    **dict.fromkeys(["read_intervals", "BedFormatError"], "sequence.intervals"),
    **dict.fromkeys(["open_split", "read_info", "available_splits"], "data.dataset"),
    **dict.fromkeys(["build_dataset", "read_manifest", "Feature"], "data.build"),
    **dict.fromkeys(["MODELS", "build_model", "count_parameters"], "models"),
    **dict.fromkeys(["SequenceModel", "load_model"], "training.task"),
    "DNADataModule": "data.datamodule",
    **dict.fromkeys(["evaluate", "evaluate_predictions", "load_evaluation"], "apply.evaluate"),
    **dict.fromkeys(["compare", "compare_evaluations"], "apply.compare"),
    "score_variants": "apply.variants",
    "run_ism": "apply.ism_run",
    "predict": "apply.predict",
}


def train(args=None):
    """Train as ``dnaseq train`` does, from CLI-style arguments, e.g.
    ``dnaseq.train(["--config", "configs/quickstart.yaml", "--trainer.max_epochs", "2"])``;
    returns the LightningCLI object (``.trainer``, ``.model``, ``.datamodule``)."""
    from .training.train import run_training  # imported on use: Lightning is slow to import
    return run_training(args)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'dnaseq' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = ["__version__", *_PUBLIC, "train"]
