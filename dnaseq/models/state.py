"""Leave the caller's network as it was found (its device and every submodule's train/eval mode),
and ask a network how many outputs it has."""
from __future__ import annotations

from contextlib import contextmanager

import torch
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


def n_outputs(net: nn.Module, length: int) -> int:
    """How many outputs (features) ``net`` gives for one-hot windows of ``length`` bp: one pass of
    a window of zeros, in eval mode and without gradients, with the network left as found."""
    first = next(net.parameters(), None)
    kwargs = {"device": first.device, "dtype": first.dtype} if first is not None and first.is_floating_point() else {}
    with preserved(net), torch.no_grad():
        net.eval()
        return int(net(torch.zeros(1, 4, int(length), **kwargs)).shape[-1])
