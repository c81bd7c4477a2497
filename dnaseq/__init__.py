"""dnaseq: deep-learning models of DNA sequence (DeepSEA / DanQ and relatives)."""
__version__ = "0.1.0"

from .encoding import (ALPHABET, decode, encode, one_hot, reverse_complement,  # noqa: E402
                       reverse_complement_one_hot, codes_from_one_hot)
from .genome import Genome, UnknownChromosomeError  # noqa: E402
from .intervals import read_intervals, BedFormatError  # noqa: E402
from .dataset import open_split, read_info, available_splits  # noqa: E402
from .build import build_dataset, read_manifest, Feature  # noqa: E402
from .models import MODELS, build_model, count_parameters  # noqa: E402
from .task import SequenceModel, load_model  # noqa: E402
from .datamodule import DNADataModule  # noqa: E402
from .evaluate import evaluate, evaluate_predictions, load_evaluation  # noqa: E402
from .compare import compare, compare_evaluations  # noqa: E402

__all__ = ["__version__", "ALPHABET", "encode", "decode", "one_hot", "reverse_complement",
           "reverse_complement_one_hot", "codes_from_one_hot", "Genome", "UnknownChromosomeError",
           "read_intervals", "BedFormatError", "open_split", "read_info", "available_splits",
           "build_dataset", "read_manifest", "Feature", "MODELS", "build_model", "count_parameters",
           "SequenceModel", "load_model", "DNADataModule", "evaluate", "evaluate_predictions",
           "load_evaluation", "compare", "compare_evaluations"]
