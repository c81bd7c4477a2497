"""Leave the caller's network as it was found (its device and every submodule's train/eval mode),
ask a network how many outputs it has, and fingerprint its weights."""
from __future__ import annotations

import hashlib
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


def fingerprint(net: nn.Module) -> str:
    """SHA-256 over the names, shapes, dtypes and bytes of ``net``'s parameters and buffers, in
    name order: the same weights give the same fingerprint whichever file they were saved in."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
