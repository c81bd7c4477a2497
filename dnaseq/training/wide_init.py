"""Warm start of a wide-and-deep model: fit its k-mer part alone before training starts.

A wide-and-deep model (``kmer_k > 0``, :class:`~dnaseq.models.kmers.KmerLinear`) adds a linear
model of k-mer counts to the deep model's logits. Trained jointly from a random start, the
deep part has to learn what the counts already say at the same time as the rest, for a few
epochs; on rare features (1% positives) the result can end up no better than a k-mer logistic
regression fitted to convergence. ``model.wide_fit`` (:class:`~dnaseq.training.task.SequenceModel`) starts training from that fit
instead: on the training windows (a random subset of at most ``wide_fit_windows``) it

1. counts the k-mers with the model's own layer and sets the wide part's standardisation (its
   batch norm's running mean and variance) to their mean and variance;
2. fits the wide part's weights and bias by full-batch L-BFGS on the training objective with the
   deep part left out: binary cross-entropy weighted by the model's ``pos_weight`` (averaged over
   windows and features, as in training) plus the wide part's L2 penalty ``kmer_l2 * ||W||^2``
   (the model's ``kmer_l2``);

and training then goes on from there. With ``wide_fit: frozen`` the wide part then stays as fitted
(no gradient, its dropout and batch norm in eval mode) and the deep part learns only what the
counts leave (the residual, as in boosting); otherwise the fit is only where joint training starts,
and the wide part's dropout and the optimiser move it from the first steps.
Nothing is fitted when a run resumes from a checkpoint (its weights are the run's). With several
processes each fits the same subset and rank 0's result is broadcast, so all start equal.

Written here: the fit is a few lines of torch over the layer's own counts, and scikit-learn's
logistic regression would neither weight by ``pos_weight`` nor share the model's scaling.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..sequence.onehot import one_hot


def kmer_features(counts: torch.nn.Module, codes: np.ndarray, fill: float, batch: int = 2048) -> torch.Tensor:
    """The wide part's inputs (log1p k-mer counts, float32 (n, m)) of base codes (n, L)."""
    out = []
    with torch.no_grad():
        for lo in range(0, len(codes), batch):
            x = one_hot(torch.from_numpy(np.ascontiguousarray(codes[lo:lo + batch])), fill=fill)
            out.append(counts(x).float())
    return torch.cat(out) if out else torch.zeros(0, counts.n)


def fit_linear(z: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor, l2: float, max_iter: int = 100):
    """Weights (F, m) and bias (F,) minimising mean BCE(z @ W.T + b, y; pos_weight) + l2 ||W||^2
    by L-BFGS, from zero weights and the features' log-odds."""
    prev = y.mean(0).clamp(1e-4, 1 - 1e-4)
    w = torch.zeros(y.shape[1], z.shape[1], requires_grad=True)
    b = torch.log(prev / (1 - prev)).requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(torch.addmm(b, z, w.t()), y, pos_weight=pos_weight)
        loss = loss + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        loss = F.binary_cross_entropy_with_logits(torch.addmm(b, z, w.t()), y, pos_weight=pos_weight)
    return w.detach(), b.detach(), float(loss)


def fit_wide_part(wide: torch.nn.Module, codes: np.ndarray, labels: np.ndarray, pos_weight: torch.Tensor,
                  l2: float, fill: float, max_iter: int = 100) -> dict:
    """Set ``wide`` (a :class:`~dnaseq.models.kmers.KmerLinear`) to the fit of the module
    docstring on windows ``codes`` (n, L) with ``labels`` (n, F). Returns a small report."""
    t0 = time.perf_counter()
    counts = kmer_features(wide.counts, codes, fill)
    mean = counts.mean(0)
    var = counts.var(0, unbiased=True) if len(counts) > 1 else torch.ones_like(mean)
    norm = wide.norm
    z = counts.sub_(mean).div_(torch.sqrt(var + norm.eps))  # in place: one (n, m) copy at a time
    y = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
    w, b, loss = fit_linear(z, y, pos_weight.detach().float().cpu(), l2, max_iter=max_iter)
    with torch.no_grad():
        dev = wide.linear.weight.device
        norm.running_mean.copy_(mean.to(norm.running_mean))
        norm.running_var.copy_(var.to(norm.running_var))
        wide.linear.weight.copy_(w.to(dev, wide.linear.weight.dtype))
        wide.linear.bias.copy_(b.to(dev, wide.linear.bias.dtype))
    return {"windows": int(len(z)), "loss": loss, "seconds": round(time.perf_counter() - t0, 1)}


def fit_on_split(wide: torch.nn.Module, source, pos_weight: torch.Tensor, l2: float, fill: float,
                 max_windows: int = 200_000, seed: int = 0, max_iter: int = 100) -> dict:
    """:func:`fit_wide_part` on a training split (a :class:`~dnaseq.data.layout.SplitSource`), or on a
    random subset of ``max_windows`` of its windows (chosen by ``seed``)."""
    if max_windows < 1:
        raise ValueError(f"wide_fit_windows must be >= 1, got {max_windows}")
    n = len(source)
    idx = np.arange(n)
    if n > max_windows:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_windows, replace=False))
    codes, labels = source.read(idx)
    return fit_wide_part(wide, codes, labels, pos_weight, l2, fill, max_iter)
