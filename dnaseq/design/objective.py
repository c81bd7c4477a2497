"""What a design run maximises: a weighted sum over chosen features of a model's predictions.

An objective is written as signed terms, e.g. ``+BEAF_Kc -BEAF_Mbn2`` (raise one, lower the
other) or ``BEAF_Kc`` (a bare name is ``+1``), with optional weights ``+2*BEAF_Kc -0.5*CTCF_Kc``;
terms may be separated by spaces or commas. A feature named twice has its weights added. The
value is ``sum_j w_j * f(p_j)`` where ``p_j`` is the predicted probability of feature j (the
strand-averaged one when the model runs on both strands) and ``f`` is the identity
(``space="prob"``) or the logit (``space="logit"``; probabilities are clipped to
``[1e-7, 1 - 1e-7]`` first, so a saturated feature stays finite).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Dict, Mapping, Sequence, Tuple, Union

import numpy as np
import torch

SPACES = ("prob", "logit")
_EPS = 1e-7
_TERM = re.compile(r"([+-]?)\s*(?:([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*\*\s*)?(\S+)")


@dataclass(frozen=True)
class Objective:
    """A weighted sum over features of probabilities or logits (module docstring)."""
    features: Tuple[str, ...]
    weights: Tuple[float, ...]
    indices: Tuple[int, ...]
    space: str = "prob"

    @classmethod
    def parse(cls, spec: Union[str, Mapping[str, float], "Objective"], feature_names: Sequence[str],
              space: str = "prob") -> "Objective":
        """An objective from text (``"+A -B"``), a ``{feature: weight}`` mapping or an Objective,
        checked against the model's ``feature_names``."""
        if isinstance(spec, Objective):
            return spec
        if space not in SPACES:
            raise ValueError(f"objective space must be one of {SPACES}, got {space!r}")
        terms = parse_terms(spec) if isinstance(spec, str) else {str(k): float(v) for k, v in spec.items()}
        if not terms:
            raise ValueError("the objective names no feature; write e.g. '+BEAF_Kc -BEAF_Mbn2'")
        names = list(feature_names)
        for name in terms:
            if name not in names:
                raise ValueError(_unknown(name, names))
        kept = {n: w for n, w in terms.items() if w != 0}
        if not kept:
            raise ValueError("every weight of the objective is 0")
        return cls(tuple(kept), tuple(kept.values()), tuple(names.index(n) for n in kept), space)

    def transform(self, probs: torch.Tensor) -> torch.Tensor:
        """The chosen features of ``probs`` (..., F) in this objective's space (..., K)."""
        p = probs[..., list(self.indices)].double()
        if self.space == "logit":
            return torch.logit(p.clamp(_EPS, 1 - _EPS))
        return p

    def __call__(self, probs: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
        """Objective values (...,) float64 of probabilities (..., F)."""
        p = torch.as_tensor(probs).detach()
        w = torch.tensor(self.weights, dtype=torch.float64, device=p.device)
        return (self.transform(p) * w).sum(-1).cpu().numpy()

    def describe(self) -> str:
        """The objective as text, e.g. ``+BEAF_Kc -BEAF_Mbn2 (prob)``."""
        parts = []
        for name, w in zip(self.features, self.weights):
            sign = "+" if w > 0 else "-"
            parts.append(f"{sign}{name}" if abs(w) == 1 else f"{sign}{abs(w):g}*{name}")
        return " ".join(parts) + f" ({self.space})"


def parse_terms(text: str) -> Dict[str, float]:
    """``"+2*A -B, C"`` -> ``{"A": 2.0, "B": -1.0, "C": 1.0}``."""
    terms: Dict[str, float] = {}
    rest = text.replace(",", " ").strip()
    while rest:
        m = _TERM.match(rest)
        if m is None or not m.group(3) or m.group(3)[0] in "+-*":
            raise ValueError(f"cannot read the objective {text!r} at {rest!r}; write terms such as "
                             f"'+BEAF_Kc', '-BEAF_Mbn2' or '+2*BEAF_Kc'")
        sign = -1.0 if m.group(1) == "-" else 1.0
        weight = float(m.group(2)) if m.group(2) else 1.0
        name = m.group(3)
        terms[name] = terms.get(name, 0.0) + sign * weight
        rest = rest[m.end():].strip()
    return terms


def _unknown(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
    return f"feature {name!r} is not predicted by this model (it predicts {shown}){hint}"
