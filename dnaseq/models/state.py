"""Leave the caller's network as it was found: its device and every submodule's train/eval mode."""
from __future__ import annotations

from contextlib import contextmanager

from torch import nn


@contextmanager
def preserved(net: nn.Module):
    """Restore ``net``'s device and every submodule's train/eval mode afterwards."""
    modes = [(m, m.training) for m in net.modules()]
    first = next(iter(net.parameters()), None)
    device = first.device if first is not None else None
    try:
        yield net
    finally:
        if device is not None:
            net.to(device)
        for m, mode in modes:
            m.training = mode
