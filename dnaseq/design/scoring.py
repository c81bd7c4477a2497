"""Exact predictions of every allowed single-base edit of a batch of sequences, in one batched pass.

A design step needs the model's prediction for each candidate edit of each current sequence
(greedy: one sequence; beam: k; sampling: one per chain), typically 3 x L candidates per
sequence. :class:`EditScorer` gets them all from one call:

* the current sequences get one full forward pass per strand view, whose activations are
  cached for the whole batch (:class:`dnaseq.models.fast_ism.CachedTower`, as ``ism`` and variant
  scoring use it);
* the candidates are sorted by position and cut into chunks of at most ``batch_size`` rows
  spanning at most ``span`` positions; each chunk recomputes only the columns its edits reach
  (conv tower, then a dense-layer delta or the recurrence from the edit on), every row reading
  the cache of its own sequence (``src``). This is exact: equal to full forward passes of the
  edited sequences up to float rounding (tested);
* on the reverse-complement view an edit at position p with base b sits at ``L - 1 - p`` with
  base ``3 - b``; probabilities are averaged over the views of the strand mode (``both``: the
  window and its reverse complement), as everywhere in dnaseq.

Models :func:`dnaseq.models.fast_ism.supported` rejects (or ``fast=False``) get full forward passes of
the edited windows in batches instead, with the same results.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..inference.predictor import settings
from ..models import fast_ism
from ..models.state import n_outputs, preserved
from ..models.strand import StrandWrapper, strand_mean
from ..sequence.onehot import one_hot
from ..settings import DEFAULT_FILL

DENSE_SPAN = 16  # positions per chunk when the finish is a dense-layer delta (small windows pay)
RECURRENT_SPAN = 64  # ... when a recurrence reruns from the edit on (larger batches pay)


@dataclass
class Candidates:
    """The allowed edits of a batch (row, position, new base; M of them, ordered by row, then
    position, then base) with their probabilities (M, F), and the batch's own probabilities (B, F)."""
    row: np.ndarray
    pos: np.ndarray
    base: np.ndarray
    probs: torch.Tensor
    ref: torch.Tensor

    def __len__(self) -> int:
        return len(self.row)


@contextmanager
def evaluating(net: nn.Module):
    """Run ``net`` in eval mode without gradients; its modes and device are restored afterwards."""
    with preserved(net), torch.no_grad():
        net.eval()
        yield net


class EditScorer:
    """Scores every allowed single-base edit of a batch of sequences (module docstring).

    Args:
        net: the core logits network over one-hot (B, 4, L), in eval mode (see :func:`evaluating`).
        strand: ``forward`` or ``both`` (use :meth:`from_model` to take the checkpoint's).
        fill: one-hot value of N (the checkpoint's).
        batch_size: rows per recomputation (or per forward pass on the fallback path).
        fast: local recomputation when the model supports it; False forces full passes.
    """

    def __init__(self, net: nn.Module, strand: str = "forward", fill: float = DEFAULT_FILL, batch_size: int = 1024,
                 fast: bool = True):
        if strand not in ("forward", "both"):
            raise ValueError(f"strand must be 'forward' or 'both', got {strand!r}")
        self.net, self.strand, self.fill, self.batch_size = net, strand, fill, max(1, int(batch_size))
        param = next(net.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.local = fast and fast_ism.supported(net)
        dense = self.local and net.ism_parts()[2] is not None
        self.span = DENSE_SPAN if dense else RECURRENT_SPAN

    @classmethod
    def from_model(cls, model: nn.Module, strand: Optional[str] = None, **kwargs) -> "EditScorer":
        """A scorer with the strand mode (``None``/``as-trained``: the checkpoint's) and N fill of ``model``."""
        s = settings(model, strand)
        return cls(s.net, s.strand, s.fill, **kwargs)

    def _onehot(self, codes) -> torch.Tensor:
        codes = torch.as_tensor(np.ascontiguousarray(codes, dtype=np.uint8))
        return one_hot(codes, fill=self.fill).to(self.device, self.dtype).contiguous()

    @torch.no_grad()
    def predict(self, codes: np.ndarray) -> torch.Tensor:
        """Probabilities (B, F) float32 on the CPU of sequences ``codes`` (B, L)."""
        x = self._onehot(codes)
        wrapped = StrandWrapper(self.net, self.strand)
        return torch.cat([wrapped(x[i:i + self.batch_size]).float().cpu()
                          for i in range(0, len(x), self.batch_size)])

    @torch.no_grad()
    def score(self, codes: np.ndarray, allowed: np.ndarray) -> Candidates:
        """Probabilities of every edit ``allowed[b, l, base]`` of ``codes`` (B, L) (module docstring)."""
        row, pos, base = (a.astype(np.int64) for a in np.nonzero(np.asarray(allowed, bool)))
        x = self._onehot(codes)
        if not self.local:
            return Candidates(row, pos, base, self._full(x, row, pos, base), self.predict(codes))
        L = x.shape[-1]

        def one_strand(view, is_rc):
            p, b = (L - 1 - pos, 3 - base) if is_rc else (pos, base)
            ref_logits, logits = self._local(view.contiguous(), row, p, b)
            return torch.sigmoid(ref_logits.float()).cpu(), torch.sigmoid(logits.float()).cpu()

        ref, probs = strand_mean(x, self.strand, one_strand)
        return Candidates(row, pos, base, probs, ref)

    def _local(self, x: torch.Tensor, row: np.ndarray, pos: np.ndarray,
               base: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
        """(logits of x (B, F), logits of the edits (M, F)) by local recomputation over one cache."""
        cache = fast_ism.CachedTower(self.net, x)
        order = np.argsort(pos, kind="stable")
        chunks = list(_chunks(pos[order], self.batch_size, self.span))
        for a, b in chunks:  # a local recurrence keeps the reference's states at these spans
            cache.plan(int(pos[order[a]]), int(pos[order[b - 1]]) + 1)
        ref = cache.ref_logits
        out = torch.empty((len(row), ref.shape[-1]), dtype=ref.dtype, device=ref.device)
        for a, b in chunks:
            idx = order[a:b]
            lo, hi = int(pos[idx[0]]), int(pos[idx[-1]]) + 1
            src = torch.from_numpy(row[idx]).to(x.device)
            mut = _edit(x[:, :, lo:hi].index_select(0, src), pos[idx] - lo, base[idx])
            out[torch.from_numpy(idx).to(out.device)] = cache.local_logits(mut, lo, hi, src).to(out.dtype)
        return ref, out

    def _full(self, x: torch.Tensor, row: np.ndarray, pos: np.ndarray, base: np.ndarray) -> torch.Tensor:
        """Probabilities (M, F) of the edits by full forward passes of the edited windows."""
        wrapped = StrandWrapper(self.net, self.strand)
        parts: List[torch.Tensor] = []
        for a in range(0, len(row), self.batch_size):
            s = slice(a, a + self.batch_size)
            windows = x.index_select(0, torch.from_numpy(row[s]).to(x.device))
            parts.append(wrapped(_edit(windows, pos[s], base[s])).float().cpu())
        if not parts:
            return torch.zeros((0, n_outputs(self.net, x.shape[-1])))
        return torch.cat(parts)


def _edit(win: torch.Tensor, cols: np.ndarray, bases: np.ndarray) -> torch.Tensor:
    """Write base ``bases[j]`` at column ``cols[j]`` of window j of ``win`` (m, 4, w), in place."""
    rows = torch.arange(win.shape[0], device=win.device)
    c = torch.from_numpy(np.asarray(cols)).to(win.device)
    win[rows, :, c] = 0.0
    win[rows, torch.from_numpy(np.asarray(bases)).to(win.device), c] = 1.0
    return win


def _chunks(sorted_pos: np.ndarray, rows: int, span: int) -> Iterator[Tuple[int, int]]:
    """[a, b) pieces of sorted positions: at most ``rows`` long, covering fewer than ``span`` positions."""
    a, M = 0, len(sorted_pos)
    while a < M:
        b = min(a + rows, int(np.searchsorted(sorted_pos, sorted_pos[a] + span, side="left")))
        yield a, max(b, a + 1)
        a = max(b, a + 1)
