"""k-mer counts of one-hot windows, as a layer: the "wide" part of a wide-and-deep model.

A linear model of k-mer counts is the baseline that DNA sequence models are compared with
(gkm-SVM, k-mer logistic regression). It learns a weak signal spread over many short words
fast, where a conv tower trained for a few epochs may not (Su(Hw) in the shipped data: 6-mer
logistic regression 0.76 validation ROC AUC, the conv + BiLSTM quick start 0.69). Adding its
logits to the deep model's gives the deep model that baseline to improve on. Counting is index
arithmetic and one ``bincount`` (no per-base Python); nothing in torch or the libraries dnaseq
uses counts k-mers of one-hot tensors, hence these few lines.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def canonical_kmers(k: int) -> np.ndarray:
    """For each k-mer index (base order A,C,G,T, first base most significant) the dense index of
    the smaller of it and its reverse complement: (4**k,) int64 over 0..n-1."""
    digits = np.array(np.unravel_index(np.arange(4 ** k), (4,) * k)).T  # (4**k, k)
    weights = 4 ** np.arange(k - 1, -1, -1)
    forward, reverse = digits @ weights, (3 - digits[:, ::-1]) @ weights
    return np.unique(np.minimum(forward, reverse), return_inverse=True)[1].astype(np.int64)


class KmerCounts(nn.Module):
    """One-hot windows (B, 4, L) -> log1p counts of canonical k-mers (B, n), strand-blind
    (a k-mer and its reverse complement share a count; n = 2080 for k = 6). A position is a base
    when one channel is above 0.5, so N (all channels 0.25, or 0) ends every k-mer over it."""

    def __init__(self, k: int):
        super().__init__()
        if not 1 <= k <= 8:
            raise ValueError(f"k-mer length must be 1 to 8, got {k}")
        self.k = k
        canon = torch.as_tensor(canonical_kmers(k))
        self.register_buffer("canon", canon, persistent=False)
        self.n = int(canon.max()) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self.raw(x))

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The counts themselves (B, n), before ``log1p``; windows shorter than k have none."""
        if x.shape[-1] < self.k:
            return x.new_zeros((x.shape[0], self.n))
        return _Counts.apply(x, self.canon, self.k, self.n)


class _Counts(torch.autograd.Function):
    """Canonical k-mer counts (B, n) of one-hot windows (B, 4, L), with a gradient.

    Counting reads the argmax base of each position, which has no gradient, so gradient
    attributions (saliency, integrated gradients, DeepLIFT) would not see a k-mer wide part.
    The backward is the gradient of the counts' multilinear form, count_m = sum over starts p of
    prod_j x[m_j, p + j] (the number of m's occurrences on a one-hot window): at a one-hot
    window, d count_m / d x[b, q] is the number of starts p whose k-mer, with base b put at q,
    is m (k-mers over an N elsewhere stay 0). So for a function linear in the counts,
    gradient[b, q] - gradient[ref, q] is exactly what in-silico mutagenesis measures when q is
    mutated to b, and per-position-centred gradients equal centred ISM; for the wide part's
    log1p, batch norm and linear map it is the first-order approximation.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, canon: torch.Tensor, k: int, n: int) -> torch.Tensor:
        B, L = x.shape[0], x.shape[-1]
        top, base = x.detach().max(dim=1)  # (B, L)
        base, not_base = base.to(torch.int64), top <= 0.5
        n_pos = L - k + 1
        index, broken = base[:, :n_pos].clone(), not_base[:, :n_pos].clone()
        for j in range(1, k):  # k shifted adds, not a (B, L, k) unfold
            index.mul_(4).add_(base[:, j:j + n_pos])
            broken |= not_base[:, j:j + n_pos]
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(canon, base, not_base, index)
            ctx.k, ctx.shape = k, x.shape
        # k-mers over an N go to an extra bin per row, dropped below: one bincount, no masking
        bins = torch.where(broken, n, canon[index])
        bins += torch.arange(B, device=x.device)[:, None] * (n + 1)
        counts = torch.bincount(bins.flatten(), minlength=B * (n + 1)).view(B, n + 1)[:, :n]
        return counts.to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable  # a second derivative would drop the counts' curvature
    def backward(ctx, grad: torch.Tensor):
        canon, base, not_base, index = ctx.saved_tensors
        k, (B, _, L) = ctx.k, ctx.shape
        n_pos = L - k + 1
        per_kmer = grad[:, canon]  # (B, 4**k): the gradient of every k-mer's (canonical) count
        n_in = not_base.to(torch.int32).unfold(1, k, 1).sum(-1)  # N count of each k-mer (B, n_pos)
        out = torch.zeros((B, 4, L), dtype=grad.dtype, device=grad.device)
        bases = torch.arange(4, device=grad.device)
        for j in range(k):
            place = 4 ** (k - 1 - j)
            at = base[:, j:j + n_pos]
            others_ok = (n_in - not_base[:, j:j + n_pos].to(torch.int32)) == 0  # no N but maybe at j
            swapped = (index - at * place)[..., None] + bases * place  # (B, n_pos, 4): base b at j
            vals = per_kmer.gather(1, swapped.view(B, -1)).view(B, n_pos, 4)
            out[:, :, j:j + n_pos] += (vals * others_ok[..., None]).transpose(1, 2)
        return out, None, None, None


class KmerLinear(nn.Module):
    """Wide part: k-mer counts, standardised by a batch norm without affine terms (running
    statistics of the training windows), dropout, then one linear map to the features' logits."""

    def __init__(self, k: int, n_features: int, dropout: float = 0.5):
        super().__init__()
        self.counts = KmerCounts(k)
        self.norm = nn.BatchNorm1d(self.counts.n, affine=False)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.linear = nn.Linear(self.counts.n, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_counts(self.counts.raw(x.float()), x.dtype)

    def from_counts(self, counts: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The logits of windows whose raw k-mer counts are ``counts`` (B, n): what :meth:`forward`
        computes after counting, so an edit's logits follow from its changed counts alone."""
        z = torch.log1p(counts).to(self.norm.running_mean.dtype)  # float32, or a .double() model's float64
        return self.linear(self.dropout(self.norm(z)).to(dtype))

    @torch.no_grad()
    def edited_counts(self, ref_counts: torch.Tensor, ref_strip: torch.Tensor, alt_strip: torch.Tensor) -> torch.Tensor:
        """Raw counts of edited windows: ``ref_counts`` (m, n) of the unedited windows, minus the
        counts of their columns around the edit (``ref_strip`` (m, 4, w): every k-mer an edit can
        touch lies inside it, i.e. it reaches k - 1 columns past the edit on both sides, or to the
        window's end), plus those of the same columns edited (``alt_strip``). Exact: counts are
        integers, and k-mers that do not reach the edit cancel."""
        return ref_counts - self.counts.raw(ref_strip.float()) + self.counts.raw(alt_strip.float())
