"""The published weight files ``dnaseq import-weights`` reads: each format's parameter names, conv
layout and base order (no torch here, so the command's options are known before torch loads)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


def _pairs(mapping: Dict[str, str]) -> Dict[str, str]:
    """{peer module: dnaseq module} -> {peer parameter: dnaseq parameter} (weight and bias)."""
    return {f"{p}.{s}": f"{d}.{s}" for p, d in mapping.items() for s in ("weight", "bias")}


_LSTM = [f"{w}_l0{r}" for r in ("", "_reverse") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    family: str                 # deepsea | danq | beluga
    keys: Dict[str, str]        # peer parameter (no prefix) -> dnaseq parameter
    convs: Tuple[str, ...]      # peer conv weights in order (first = the one reading bases)
    conv2d: bool                # weights stored as Conv2d (O, I, 1, K)
    base_order: str
    published_len: int
    note: str = ""


FORMATS = [
    Format("selene-deepsea", "DeepSEA (Selene's DeepSEA class)", "deepsea",
           _pairs({"conv_net.0": "conv.0", "conv_net.4": "conv.4", "conv_net.8": "conv.8",
                   "classifier.0": "head.1", "classifier.2": "head.3"}),
           ("conv_net.0.weight", "conv_net.4.weight", "conv_net.8.weight"), False, "ACGT", 1000),
    Format("selene-danq", "DanQ (Selene's DanQ class)", "danq",
           {**_pairs({"nnet.0": "conv.0", "classifier.1": "head.0", "classifier.3": "head.2"}),
            **{f"bdlstm.0.{n}": f"rnn.{n}" for n in _LSTM}},
           ("nnet.0.weight",), False, "ACGT", 1000,
           "Selene's DanQ.forward runs its LSTM over the batch axis (it transposes to (L, N, C) for a "
           "batch_first LSTM); dnaseq runs it along the sequence, as DanQ was published, so weights "
           "trained with Selene's class predict differently here (weights from the original DanQ match)"),
    Format("kipoi-deepsea", "DeepSEA 0.94 (Kipoi DeepSEA/predict, DeepSEA/variantEffects)", "deepsea",
           _pairs({"0": "conv.0", "4": "conv.4", "8": "conv.8", "12.1": "head.1", "14.1": "head.3"}),
           ("0.weight", "4.weight", "8.weight"), True, "AGCT", 1000,
           "DeepSEA 0.94 uses Threshold(0, 1e-6) where dnaseq uses ReLU: probabilities differ by a tiny "
           "amount (at most 4e-7 with the random weights of dnaseq's tests)"),
    Format("kipoi-beluga", "Beluga (Kipoi DeepSEA/beluga, ExPecto deepsea.beluga.pth)", "beluga",
           {**_pairs({f"model.0.{i}": f"conv.{i}" for i in (0, 2, 6, 8, 12, 14)}),
            **_pairs({"model.1.2.1": "head.1", "model.1.4.1": "head.3"})},
           tuple(f"model.0.{i}.weight" for i in (0, 2, 6, 8, 12, 14)), True, "AGCT", 2000,
           "ExPecto averages Beluga over both strands (--strand both); Kipoi's model runs the forward strand"),
]
BY_NAME = {f.name: f for f in FORMATS}
_BOTH_PREFIXES = {"selene-deepsea": ("model.",), "selene-danq": ("model.",), "kipoi-deepsea": ("2.",)}
#: md5 of the published files, as the Kipoi model zoo lists them (DeepSEA/*/model.yaml)
PUBLISHED_MD5 = {"89e640bf6bdbe1ff165f484d9796efc7": "Kipoi DeepSEA/predict deepsea_predict.pth",
                 "35956ab9c28960b5a3693f470fe980c1": "Kipoi DeepSEA/variantEffects deepsea_variant_effects.pth",
                 "62360f2db4ac96554d28d058b50ab654": "Kipoi DeepSEA/beluga deepsea.beluga.pth"}
