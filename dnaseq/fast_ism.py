"""Local recomputation for saturation mutagenesis (the fastISM idea, Nair et al. 2022).

A single-base edit changes a convolution's output only where its kernel covers the edit, a
max-pool's only where its window does, and an elementwise layer's only where its input
changed. So for each block of edited positions we recompute every layer of the model's conv
tower on the few positions that can differ, splice them into the cached activations of the
unedited sequence, and then finish the model:

* when the tower ends in Flatten + Linear (DeepSEA, or a flatten readout with no recurrent
  layer), the first dense layer is updated by its change only:
  ``W @ h_mut = W @ h_ref + W[:, changed] @ (h_mut - h_ref)[changed]``;
* otherwise (a recurrent layer sees the whole sequence) the rest of the model runs in full on
  the spliced activations.

Models expose the split through ``ism_parts()`` (tower, finish, first dense layer or None,
whether the flatten is position-major); layers other than Conv1d (no padding,
stride 1), MaxPool1d, ReLU and eval-mode Dropout/BatchNorm/Identity make :func:`supported`
return False and :func:`dnaseq.ism.ism` falls back to full forward passes.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

_ELEMENTWISE = (nn.ReLU, nn.Dropout, nn.Identity, nn.BatchNorm1d)


def _layer_ok(layer: nn.Module) -> bool:
    if isinstance(layer, nn.Conv1d):
        return (layer.stride == (1,) and layer.dilation == (1,) and layer.groups == 1
                and layer.padding in ((0,), "valid"))
    if isinstance(layer, nn.MaxPool1d):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
        pad = layer.padding if isinstance(layer.padding, int) else layer.padding[0]
        dil = layer.dilation if isinstance(layer.dilation, int) else layer.dilation[0]
        return pad == 0 and dil == 1 and not layer.ceil_mode and k >= 1 and s >= 1
    return isinstance(layer, _ELEMENTWISE)


def supported(model: nn.Module) -> bool:
    core = getattr(model, "model", model)
    if not hasattr(core, "ism_parts"):
        return False
    tower = core.ism_parts()[0]
    return all(_layer_ok(layer) for layer in tower)


def _pool_params(layer: nn.MaxPool1d) -> Tuple[int, int]:
    k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
    s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
    return k, s


def _assemble(ref: torch.Tensor, mut: torch.Tensor, lo: int, hi: int, a: int, b: int) -> torch.Tensor:
    """Mutant activations on [a, b): the reference there, with the mutants' [lo, hi) spliced in."""
    m = mut.shape[0]
    out = ref[:, :, a:b].expand(m, -1, -1).clone()
    s, e = max(lo, a), min(hi, b)
    if e > s:
        out[:, :, s - a:e - a] = mut[:, :, s - lo:e - lo]
    return out


class LocalISM:
    """Caches one sequence's activations and scores batches of single-base edits locally."""

    def __init__(self, model: nn.Module, x: torch.Tensor):
        core = getattr(model, "model", model)
        self.tower, self.finish, self.first_linear, self.position_major = core.ism_parts()
        self.tower = list(self.tower)
        self.acts: List[torch.Tensor] = [x]  # (1, C, L) per layer input, plus the tower output
        h = x
        for layer in self.tower:
            h = layer(h)
            self.acts.append(h)
        self.ref_out = h
        self.ref_pre = None
        if self.first_linear is not None:
            flat = h.transpose(1, 2).flatten(1) if self.position_major else h.flatten(1)
            self.ref_pre = self.first_linear(flat)  # (1, hidden)

    def logits(self, positions: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
        """Logits for mutants (one per entry of ``positions`` / ``bases``) of the cached sequence."""
        x = self.acts[0]
        m = len(positions)
        lo, hi = int(positions.min()), int(positions.max()) + 1
        mut = x[:, :, lo:hi].expand(m, -1, -1).clone()
        rows = torch.arange(m, device=x.device)
        cols = (positions - lo).to(x.device)
        mut[rows, :, cols] = 0.0
        mut[rows, bases.to(x.device), cols] = 1.0
        for i, layer in enumerate(self.tower):
            ref_in, ref_out = self.acts[i], self.acts[i + 1]
            if isinstance(layer, nn.Conv1d):
                k = layer.kernel_size[0]
                olo, ohi = max(0, lo - k + 1), min(ref_out.shape[-1], hi)
                if ohi <= olo:
                    return self._finish_unchanged(m)
                mut = layer(_assemble(ref_in, mut, lo, hi, olo, ohi + k - 1))
            elif isinstance(layer, nn.MaxPool1d):
                k, s = _pool_params(layer)
                olo = max(0, -(-(lo - k + 1) // s))
                ohi = min(ref_out.shape[-1], (hi - 1) // s + 1)
                if ohi <= olo:
                    return self._finish_unchanged(m)
                mut = layer(_assemble(ref_in, mut, lo, hi, olo * s, (ohi - 1) * s + k))
            else:
                olo, ohi = lo, hi
                mut = layer(mut)
            lo, hi = olo, ohi
        if self.first_linear is not None:
            ref_slice = self.ref_out[:, :, lo:hi]
            delta = (mut - ref_slice)  # (m, C, w)
            C, Lf = self.ref_out.shape[1], self.ref_out.shape[2]
            chan = torch.arange(C, device=x.device)[:, None]
            at = torch.arange(lo, hi, device=x.device)[None, :]
            # column of each (channel, position) in the flattened vector the dense layer reads
            idx = (at * C + chan) if self.position_major else (chan * Lf + at)
            w = self.first_linear.weight[:, idx.reshape(-1)]  # (hidden, C * width)
            pre = self.ref_pre + delta.reshape(m, -1) @ w.T
            return self.finish(pre)
        full = _assemble(self.ref_out, mut, lo, hi, 0, self.ref_out.shape[-1])
        return self.finish(full)

    def _finish_unchanged(self, m: int) -> torch.Tensor:
        if self.first_linear is not None:
            return self.finish(self.ref_pre.expand(m, -1))
        return self.finish(self.ref_out.expand(m, -1, -1))
