"""Per-base attributions of one feature's predicted probability.

``attribute(model, codes, feature, method)`` returns an array (N, 4, P): for sequence n, base b
and position p, how much base b at p contributes to the feature's probability (the number the
checkpoint reports: sigmoid of its logit, averaged over both strands in strand mode ``both``).
The contribution of the sequence's own base is :func:`contributions` (0 at N). Gradient methods
can explain the logit instead (``output="logit"``), which a saturated sigmoid cannot hide.

Methods (gradient methods are captum's implementations):

* ``ism`` -- :func:`dnaseq.apply.ism.ism`: ``p(base b at p) - mean over the 4 bases of p(base at p)``,
  so each position's four values sum to 0 (a hypothetical contribution).
* ``saliency`` -- the gradient of the probability with respect to the one-hot input (signed).
* ``input-x-gradient`` -- gradient x input (nonzero only at the sequence's own base).
* ``integrated-gradients`` -- path integral from a baseline of all-N windows (the checkpoint's
  N fill in every channel) in ``steps`` steps; completeness: the attributions of a sequence
  sum to ``p(x) - p(baseline)`` up to the integral's error.
* ``deeplift-shap`` -- DeepLIFT (rescale rule) averaged over ``shuffles`` dinucleotide-shuffled
  copies of each sequence as references.

A k-mer wide part (``kmer_k``) counts words, which has no gradient of its own: the counts'
backward (:mod:`dnaseq.models.kmers`) is the gradient of their multilinear form, so at one-hot
windows saliency and input x gradient see the wide part as ISM does to first order (gradient
differences equal ISM exactly for a part linear in the counts). Integrated gradients and
DeepLIFT are not complete for the wide part: their in-between windows are counted by their
argmax bases (all N, so no k-mers, until a channel exceeds 0.5), so their totals need not add up
to the change in prediction (not even in sign); ``ism`` is exact for every model.

Strand: in mode ``both`` each method runs on the window and on its reverse complement and the
reverse-complement result is mapped back (positions reversed, A<->T, C<->G) and averaged. For
every method but deeplift-shap this equals the attribution of the averaged probability (or of
the mean logit), since they are linear in the function attributed. Gradients run in float32
on the device the run options choose (cuDNN is bypassed so recurrent layers can be
differentiated in eval mode).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..apply.ism import ism as saturation_mutagenesis
from ..inference import engine
from ..inference.predictor import settings
from ..models.strand import strand_mean
from ..sequence.encoding import N_CODE
from ..sequence.inputs import as_input_batch, item_length
from ..sequence.onehot import codes_from_one_hot, one_hot
from ..settings import DEFAULT_FILL, MAX_IG_STEPS, RunOptions, whole_number
from .methods import METHODS

OUTPUTS = ("probability", "logit")


class FeatureOutput(nn.Module):
    """One feature's probability ``sigmoid(net(x))[:, j]`` (or its logit) as a module (captum needs one)."""

    def __init__(self, net: nn.Module, feature: int, output: str = "probability"):
        super().__init__()
        self.net, self.feature = net, feature
        # a module, so DeepLIFT applies its rescale rule to it
        self.link = nn.Sigmoid() if output == "probability" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.link(self.net(x)[:, self.feature:self.feature + 1].float())


def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random sequence with the same dinucleotide counts and the same first and last base
    (Altschul & Erickson 1985: a random Eulerian path through the sequence's transitions)."""
    codes = np.asarray(codes)
    n = len(codes)
    if n < 3:
        return codes.copy()
    succ = {int(s): [int(c) for c in codes[1:][codes[:-1] == s]] for s in np.unique(codes[:-1])}
    last = int(codes[-1])
    while True:  # each symbol's last exit must lead, symbol by symbol, to the last base
        exit_idx = {s: int(rng.integers(len(v))) for s, v in succ.items() if s != last}
        if _reaches(last, {s: succ[s][i] for s, i in exit_idx.items()}):
            break
    order = {}
    for s, v in succ.items():
        v = list(v)
        tail = [v.pop(exit_idx[s])] if s in exit_idx else []
        rng.shuffle(v)
        order[s] = v + tail
    out, used = [int(codes[0])], {s: 0 for s in order}
    for _ in range(n - 1):
        s = out[-1]
        out.append(order[s][used[s]])
        used[s] += 1
    return np.array(out, dtype=codes.dtype)


def _reaches(root: int, nxt: dict) -> bool:
    for s in nxt:
        seen, cur = set(), s
        while cur != root:
            if cur in seen:
                return False
            seen.add(cur)
            cur = nxt[cur]
    return True


def as_codes(x, seq_len: Optional[int] = None) -> np.ndarray:
    """uint8 codes (N, L) of anything :meth:`dnaseq.SequenceModel.predict_proba` takes (one-hot
    (4, L) / (N, 4, L), codes, DNA text, Genome windows, or lists of these), through the same
    input layer and its checks; ``seq_len``: the length the model takes (default: the input's)."""
    if isinstance(x, (list, tuple)) and not x:
        raise ValueError("no sequence to attribute: the input is an empty list")
    if seq_len is None:
        seq_len = item_length(x[0] if isinstance(x, (list, tuple)) else x)
    if seq_len is None:
        raise TypeError(f"cannot attribute on an object of type {type(x).__name__!r}: pass one-hot floats (4, L) / "
                        "(N, 4, L), integer codes (L,) / (N, L), DNA text, a Genome window or a list of these")
    batch, _ = as_input_batch(x, DEFAULT_FILL, int(seq_len))
    return codes_from_one_hot(batch.float().cpu())


def _rc_attr(a: torch.Tensor) -> torch.Tensor:
    """An attribution of the reverse-complement window, in the forward window's frame."""
    return a.flip(1).flip(2)


def _captum_method(method: str, module: nn.Module):
    # captum is optional: imported only when a gradient method is asked for
    from captum.attr import DeepLiftShap, InputXGradient, IntegratedGradients, Saliency
    return {"saliency": Saliency, "input-x-gradient": InputXGradient, "integrated-gradients": IntegratedGradients,
            "deeplift-shap": DeepLiftShap}[method](module)


def _one_view(method: str, module: nn.Module, x: torch.Tensor, codes: torch.Tensor, fill: float,
              steps: int, shuffles: int, rng: np.random.Generator) -> torch.Tensor:
    algo = _captum_method(method, module)
    if method == "saliency":
        return algo.attribute(x, target=0, abs=False)
    if method == "input-x-gradient":
        return algo.attribute(x, target=0)
    if method == "integrated-gradients":
        base = torch.full_like(x, fill)
        return algo.attribute(x, baselines=base, target=0, n_steps=steps, internal_batch_size=max(steps, 1))
    out = []
    for i in range(len(x)):  # each sequence gets its own shuffled references
        refs = np.stack([dinucleotide_shuffle(codes[i].cpu().numpy(), rng) for _ in range(shuffles)])
        base = one_hot(torch.from_numpy(refs), fill=fill).to(x.device, x.dtype)
        with warnings.catch_warnings():  # captum's notice that it hooks the activations (and removes the hooks)
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks", category=UserWarning)
            out.append(algo.attribute(x[i:i + 1], baselines=base, target=0))
    return torch.cat(out)


def _gradient_step(method: str, feature: int, output: str, fill: float, strand: str, steps: int, shuffles: int,
                   seed: int):
    def step(net, unit):
        codes = unit["codes"]
        rng = np.random.default_rng([seed, int(unit["index"][0])])
        # Lightning predicts in inference mode; gradients need it off, and inputs made outside it
        with torch.inference_mode(False), torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            module = FeatureOutput(net, feature, output)
            x = one_hot(codes.clone(), fill=fill).float()
            rc_codes = torch.where(codes < N_CODE, 3 - codes.long(), codes.long()).flip(1)

            def one_strand(v, is_rc):
                a = _one_view(method, module, v.clone().requires_grad_(True), rc_codes if is_rc else codes,
                              fill, steps, shuffles, rng).detach()
                return _rc_attr(a) if is_rc else a

            total = strand_mean(x, strand, one_strand)
        return {"attr": total}
    return step


def _feature_index(model, feature: Union[int, str, None]) -> int:
    if feature is None:
        return 0
    names = list(getattr(model, "feature_names", None) or [])
    if isinstance(feature, (int, np.integer)) and not isinstance(feature, bool):
        if feature < 0 or (names and feature >= len(names)):
            raise ValueError(f"feature index {feature} is out of range: the model predicts {len(names) or 'its'} "
                             f"features{f' (0 to {len(names) - 1})' if names else ''}")
        return int(feature)
    if feature not in names:
        raise ValueError(f"feature {feature!r} is not predicted by this model; it predicts {names[:10]}"
                         + (" ..." if len(names) > 10 else ""))
    return names.index(feature)


def attribute(model, x, feature: Union[int, str, None] = None, method: str = "input-x-gradient",
              strand: Optional[str] = None, positions: Optional[Sequence[int]] = None, steps: int = 50,
              shuffles: int = 20, seed: int = 0, output: str = "probability",
              run: Optional[RunOptions] = None) -> Optional[np.ndarray]:
    """Attributions (N, 4, P) float32 of ``feature``'s probability (see module docstring).

    Args:
        model: a loaded dnaseq model (its fill and strand mode apply) or a logits network.
        x: what ``predict_proba`` takes: uint8 codes (L,) / (N, L), DNA text, one-hot (4, L) /
            (N, 4, L) (numpy or torch), ``Genome.window`` results, or a list of these.
        feature: name or index (default: the first feature).
        method: one of :data:`METHODS`.
        strand: ``as-trained`` (default), ``forward`` or ``both``.
        positions: 0-based positions to report (default all L), in that order.
        steps: integrated-gradients steps; shuffles: deeplift-shap references per sequence.
        output: ``probability`` (the number the checkpoint reports) or ``logit`` (gradient
            methods only: the feature's logit, averaged over the strands in mode ``both``;
            free of the sigmoid's saturation, whose gradient is 0 in float32 once p rounds to 1).
        run: how the model runs (devices, batch size: sequences per unit of work).
    Returns None on ranks other than 0 of a multi-process run.
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    if method == "ism" and output != "probability":
        raise ValueError("ism reports probabilities (output='probability'); logits are for the gradient methods")
    codes = as_codes(x, getattr(model, "seq_len", None))
    j = _feature_index(model, feature)
    pos = np.arange(codes.shape[1]) if positions is None else np.asarray(list(positions), dtype=np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= codes.shape[1]):
        raise ValueError(f"positions must be 0-based positions in the {codes.shape[1]} bp sequences (0 to "
                         f"{codes.shape[1] - 1}), got {int(pos.min() if pos.min() < 0 else pos.max())}")
    if method == "integrated-gradients" and whole_number(steps, "steps") > MAX_IG_STEPS:
        raise ValueError(f"steps must be at most {MAX_IG_STEPS:,} (got {steps:,}): captum's integration nodes take "
                         "memory in the square of the steps, and attributions converge long before")
    run = RunOptions.for_command("attribute", run)
    if method == "ism":
        return _ism(model, codes, j, strand, pos, run)
    s = settings(model, strand)
    per_unit = max(1, min(run.batch_size, 64 if method != "integrated-gradients" else 4))
    n, length = codes.shape

    def produce():
        for lo in range(0, n, per_unit):
            yield {"codes": torch.from_numpy(np.ascontiguousarray(codes[lo:lo + per_unit])),
                   "index": torch.tensor([lo]), "meta": lo}

    step = _gradient_step(method, j, output, s.fill, s.strand, steps, shuffles, seed)
    info = engine.run(s.net, produce, step, lambda: engine.ArraySink(n, {"attr": (4, length)}), run,
                      total=-(-n // per_unit))
    if not info.is_main:
        return None
    return info.sink.arrays["attr"][:, :, pos]


def _ism(model, codes: np.ndarray, j: int, strand: Optional[str], pos: np.ndarray, run) -> Optional[np.ndarray]:

    preds = saturation_mutagenesis(model, codes, strand=strand, positions=pos, run=run)
    if preds is None:
        return None
    p = preds[..., j].numpy()  # (N, 4, P): probability with base b at the position
    return (p - p.mean(axis=1, keepdims=True)).astype(np.float32)


def contributions(attributions: np.ndarray, codes: np.ndarray, positions: Optional[Sequence[int]] = None) -> np.ndarray:
    """The attribution of each sequence's own base: (N, 4, P) -> (N, P) (0 at N)."""
    a = np.asarray(attributions)
    codes = np.asarray(codes)
    pos = np.arange(codes.shape[1]) if positions is None else np.asarray(positions)
    ref = codes[:, pos].astype(np.int64)  # (N, P)
    known = ref < N_CODE
    picked = np.take_along_axis(a, np.minimum(ref, 3)[:, None, :], axis=1)[:, 0, :]
    return np.where(known, picked, 0.0).astype(np.float32)
