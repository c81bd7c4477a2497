"""Running a conv tower (Conv1d / activation / MaxPool1d / Dropout ...) faster, with the same result.

Two rewrites that change no value (up to float rounding of the conv's sums):

* **pool first**: a non-decreasing activation (ReLU, LeakyReLU with a slope >= 0) commutes
  with the max-pool after it, so the pool runs first and the activation sees 1/k of the columns
  (:func:`pool_first`; bit for bit, gradients included: both send a window's gradient to its
  largest element, and to nothing when that is negative);
* **channels last on the CPU**: Conv1d and MaxPool1d run as 2-D ops over a (B, C, 1, L) tensor
  in the channels-last layout, oneDNN's fastest on the CPU (DeepSEA's tower 1.5x, DanQ's 2.1x
  faster than Conv1d at batch 128 in inference; the quick-start model's training step about
  1.3x) (:func:`whole_windows`).

Local recomputation (:mod:`dnaseq.models.fast_ism`) uses both for its reference passes; models use
:func:`run` for their conv tower when :func:`usable` says so: in training, and in eval mode
without gradients (validation, evaluate, predict: about 4x faster conv towers), but never when a
hook is registered on a layer of the tower or globally, so that hooks and the gradient rules of
attribution methods (captum's DeepLift hooks ``nn.ReLU`` and ``nn.MaxPool1d`` modules, in the
order written) see the model as written. Gradients in eval mode (saliency, integrated gradients)
also take the modules' path, so attributions do not depend on this switch.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

# Only the piecewise-linear activations: a vectorised exp or tanh may round an element
# differently from the scalar loop that handles a tensor's tail, so those would not be the same
# bit for bit after the move.
_MONOTONE = (nn.ReLU,)

# Conv and pool layers run as 2-D channels-last ops on the CPU (a switch for benchmarks).
CHANNELS_LAST_CPU = True


def first(v) -> int:
    """A 1-D layer's size argument, given as an int or a 1-tuple."""
    return v if isinstance(v, int) else v[0]


def pool_params(layer: nn.MaxPool1d) -> Tuple[int, int]:
    """(kernel size, stride) of a 1-D max-pool."""
    k = first(layer.kernel_size)
    return k, first(layer.stride) if layer.stride is not None else k


def geometry_ok(layer: nn.Module) -> bool:
    """Whether a Conv1d / MaxPool1d is the plain kind: no padding, dilation 1 (and for a conv,
    stride 1 and one group; for a pool, floor mode and no indices). Other layers: False."""
    if isinstance(layer, nn.Conv1d):
        return (layer.stride == (1,) and layer.dilation == (1,) and layer.groups == 1
                and layer.padding in ((0,), "valid"))
    if isinstance(layer, nn.MaxPool1d):
        k, s = pool_params(layer)
        return (first(layer.padding) == 0 and first(layer.dilation) == 1 and not layer.ceil_mode
                and not layer.return_indices and k >= 1 and s >= 1)
    return False


def is_monotone(layer: nn.Module) -> bool:
    """Whether the layer is a non-decreasing piecewise-linear activation (commutes with max)."""
    if isinstance(layer, nn.LeakyReLU):
        return layer.negative_slope >= 0
    return isinstance(layer, _MONOTONE)


def pool_first(tower: Sequence[nn.Module]) -> List[nn.Module]:
    """The tower's layers with each non-decreasing activation moved after the max-pool that
    follows it (across eval-mode Dropout / Identity): the same function, bit for bit, with the
    activation on fewer columns. The tower itself is not changed."""
    layers = list(tower)
    i = 0
    while i < len(layers) - 1:
        j = i + 1
        while j < len(layers) and isinstance(layers[j], (nn.Dropout, nn.Identity)) and not layers[j].training:
            j += 1
        if is_monotone(layers[i]) and j < len(layers) and isinstance(layers[j], nn.MaxPool1d):
            layers[i], layers[j] = layers[j], layers[i]
            i = j
        i += 1
    return layers


def whole_windows(layer: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``layer(h)`` for whole windows (B, C, L); see ``CHANNELS_LAST_CPU``. Hands on a (B, C, L)
    view of the channels-last result, which pointwise layers keep and the next conv or pool reads
    as is (and whose transpose to (B, L, C), as a recurrent layer reads it, is contiguous)."""
    if not (CHANNELS_LAST_CPU and h.device.type == "cpu" and h.dim() == 3 and geometry_ok(layer)):
        return layer(h)
    h4 = h.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    if isinstance(layer, nn.Conv1d):
        w = layer.weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return nn.functional.conv2d(h4, w, layer.bias).squeeze(2)
    k, s = pool_params(layer)
    return nn.functional.max_pool2d(h4, (1, k), (1, s)).squeeze(2)


def _hooked(layer: nn.Module) -> bool:
    return bool(layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks
                or getattr(layer, "_backward_pre_hooks", None))


def _global_hooks() -> bool:
    mod = nn.modules.module
    return any(getattr(mod, name, None) for name in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                                      "_global_backward_hooks", "_global_backward_pre_hooks"))


def usable(tower: Sequence[nn.Module], training: bool) -> bool:
    """Whether a model should run ``tower`` through :func:`run` now: in training, or in eval mode
    with gradients off, and only while no hook is registered on its layers or globally."""
    if not training and torch.is_grad_enabled():
        return False
    return not (_global_hooks() or any(_hooked(layer) for layer in tower))


def run(tower: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """The tower's output for ``x``, pooling first and in the channels-last layout on the CPU.
    Conv and pool modules are not called (their weights are), so their hooks do not run."""
    h = x
    for layer in pool_first(tower):
        h = whole_windows(layer, h)
    return h


def forward(tower: nn.Sequential, x: torch.Tensor, training: bool) -> torch.Tensor:
    """The tower's output for ``x``: through :func:`run` when :func:`usable`, else its modules."""
    return run(tower, x) if usable(tower, training) else tower(x)
