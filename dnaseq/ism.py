"""In-silico saturation mutagenesis: every position x every other base, every feature.

``ism(model, x)`` returns predictions of shape (N, 4, L, F): entry [n, b, l, :] is the
prediction for sequence n with base b written at position l. Where b is the sequence's own
base the entry is the unmutated prediction, so ``ism(...) - reference`` gives effects with
zeros at reference bases. At an N position all four bases are mutations.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from .encoding import N_CODE, codes_from_one_hot, one_hot


@torch.no_grad()
def ism(model, x, batch_size: int = 512, rc_average: bool = False, positions: Optional[Sequence[int]] = None,
        device: str = "auto", progress: bool = False, fast: bool = True) -> torch.Tensor:
    """Saturation mutagenesis of one-hot ``x`` (N, 4, L) (or codes / strings).

    Args:
        model: a loaded dnaseq model (``predict_proba``) or any module returning logits.
        positions: restrict to these 0-based positions (default: all L); the output's third
            axis then has ``len(positions)`` entries in that order.
        rc_average: average each prediction over both strands.
        fast: recompute only what each edit can change (:mod:`dnaseq.fast_ism`) when the
            model supports it; the results equal full forward passes to float rounding.
    Returns:
        probabilities (N, 4, P, F) float32 on the CPU.
    """
    from tqdm.auto import tqdm

    from . import fast_ism
    from .encoding import reverse_complement_one_hot
    from .predict import resolve_device

    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        x = one_hot(x)
    dev = resolve_device(device)
    model = model.to(dev).eval()
    predict = (lambda t: model.predict_proba(t, rc_average=rc_average)) if hasattr(model, "predict_proba") \
        else (lambda t: torch.sigmoid(model(t)))
    x = x.float().to(dev)
    n, _, L = x.shape
    pos = torch.arange(L) if positions is None else torch.as_tensor(list(positions), dtype=torch.long)
    if len(pos) and (pos.min() < 0 or pos.max() >= L):
        raise ValueError(f"positions must lie in 0..{L - 1}")
    codes = torch.from_numpy(codes_from_one_hot(x.cpu()).astype(np.int64))  # (N, L)
    ref_pred = predict(x).float().cpu()  # (N, F)
    F = ref_pred.shape[1]
    out = ref_pred[:, None, None, :].expand(n, 4, len(pos), F).clone()
    # every (position index, base) pair that is a mutation, per sequence
    bases = torch.arange(4)
    local = fast and fast_ism.supported(model)
    # local ISM batches mutants by nearby positions: a block of positions shares one window.
    # With a dense-delta finish small blocks keep windows tight; when a recurrent layer must
    # run in full anyway, larger blocks keep its batches large.
    if local:
        dense_delta = getattr(model, "model", model).ism_parts()[2] is not None
        block = max(1, min(16, batch_size // 4)) if dense_delta else max(1, batch_size // 3)
    bar = tqdm(total=n * len(pos) * 3, unit="mut", desc="ism", disable=not progress)
    for s in range(n):
        ref_bases = codes[s, pos]  # (P,)
        is_mut = bases[None, :] != ref_bases[:, None]  # (P, 4); all True at N
        p_idx, b_idx = torch.nonzero(is_mut, as_tuple=True)
        if local:
            strands = [(fast_ism.LocalISM(model, x[s:s + 1].contiguous()), False)]
            if rc_average:
                strands.append((fast_ism.LocalISM(model, reverse_complement_one_hot(x[s:s + 1]).contiguous()), True))
            order = torch.argsort(pos[p_idx], stable=True)
            p_idx, b_idx = p_idx[order], b_idx[order]
            genome_pos = pos[p_idx]
            starts = torch.nonzero(torch.diff(genome_pos // block, prepend=torch.tensor([-1]))).flatten()
            bounds = starts.tolist() + [len(p_idx)]
            for a, b in zip(bounds[:-1], bounds[1:]):
                pi, bi = p_idx[a:b], b_idx[a:b]
                probs = 0
                for engine, is_rc in strands:
                    at = (L - 1 - pos[pi]) if is_rc else pos[pi]
                    base = (3 - bi) if is_rc else bi
                    probs = probs + torch.sigmoid(engine.logits(at.to(dev), base.to(dev)).float())
                out[s, bi, pi] = (probs / len(strands)).cpu()
                bar.update(len(pi))
            continue
        for lo in range(0, len(p_idx), batch_size):
            pi, bi = p_idx[lo:lo + batch_size], b_idx[lo:lo + batch_size]
            cols = pos[pi].to(dev)
            batch = x[s:s + 1].expand(len(pi), 4, L).clone()
            rows = torch.arange(len(pi), device=dev)
            batch[rows, :, cols] = 0.0
            batch[rows, bi.to(dev), cols] = 1.0
            out[s, bi, pi] = predict(batch).float().cpu()
            bar.update(len(pi))
    bar.close()
    return out


def ism_effects(ism_preds: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """ISM predictions (N, 4, P, F) minus the unmutated prediction (N, F)."""
    return ism_preds - reference[:, None, None, :]


def importance(effects: torch.Tensor, codes: np.ndarray, positions: Optional[Sequence[int]] = None) -> np.ndarray:
    """Per-position importance of the reference base for one feature: minus the mean effect of
    the three substitutions (positive = the reference base raises the prediction).
    ``effects`` is (4, P) for one sequence and feature; returns (P,)."""
    e = effects.numpy() if isinstance(effects, torch.Tensor) else np.asarray(effects)
    pos = np.arange(e.shape[1]) if positions is None else np.asarray(positions)
    ref = np.asarray(codes)[pos]
    mask = np.ones_like(e, dtype=bool)
    known = ref < N_CODE
    mask[ref[known], np.nonzero(known)[0]] = False
    return -(np.where(mask, e, 0).sum(axis=0) / mask.sum(axis=0))
