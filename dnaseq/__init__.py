"""dnaseq: deep-learning models of DNA sequence (DeepSEA / DanQ and relatives)."""
__version__ = "0.1.0"

from .encoding import (ALPHABET, decode, encode, one_hot, reverse_complement,  # noqa: E402
                       reverse_complement_one_hot, codes_from_one_hot, InvalidBaseError)
from .genome import Genome, UnknownChromosomeError, Window  # noqa: E402
from .intervals import read_intervals, BedFormatError  # noqa: E402
from .dataset import open_split, read_info, available_splits  # noqa: E402
from .build import build_dataset, read_manifest, Feature  # noqa: E402
from .models import MODELS, build_model, count_parameters  # noqa: E402
from .task import SequenceModel, load_model  # noqa: E402
from .datamodule import DNADataModule  # noqa: E402
from .evaluate import evaluate, evaluate_predictions, load_evaluation  # noqa: E402
from .compare import compare, compare_evaluations  # noqa: E402
from .variants import score_variants  # noqa: E402
from .ism_run import run_ism  # noqa: E402
from .predict import predict  # noqa: E402


def train(args=None):
    """Train as ``dnaseq train`` does, from CLI-style arguments, e.g.
    ``dnaseq.train(["--config", "configs/quickstart.yaml", "--trainer.max_epochs", "2"])``;
    returns the LightningCLI object (``.trainer``, ``.model``, ``.datamodule``)."""
    from .train import run_training  # imported on use: LightningCLI is slow to import
    return run_training(args)

__all__ = ["__version__", "ALPHABET", "encode", "decode", "one_hot", "reverse_complement",
           "reverse_complement_one_hot", "codes_from_one_hot", "InvalidBaseError", "Genome", "Window",
           "UnknownChromosomeError",
           "read_intervals", "BedFormatError", "open_split", "read_info", "available_splits",
           "build_dataset", "read_manifest", "Feature", "MODELS", "build_model", "count_parameters",
           "SequenceModel", "load_model", "DNADataModule", "evaluate", "evaluate_predictions",
           "load_evaluation", "compare", "compare_evaluations", "score_variants", "run_ism", "predict", "train"]
