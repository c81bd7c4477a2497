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

from ..inference import engine
from ..inference.predictor import settings
from ..models import fast_ism
from ..models.strand import StrandWrapper, strand_mean, strand_views
from ..sequence.encoding import N_CODE
from ..sequence.onehot import codes_from_one_hot, one_hot
from ..settings import RunOptions, strand_or_rc_average


def ism(model, x, batch_size: Optional[int] = None, strand: Optional[str] = None,
        positions: Optional[Sequence[int]] = None, device: Optional[str] = None, progress: Optional[bool] = None,
        fast: bool = True, run: Optional[RunOptions] = None, rc_average: Optional[bool] = None) -> torch.Tensor:
    """Saturation mutagenesis of one-hot ``x`` (N, 4, L) (or codes / strings).

    Args:
        model: a loaded dnaseq model or any module returning logits.
        positions: restrict to these 0-based positions (default: all L); the output's third
            axis then has ``len(positions)`` entries in that order.
        strand: ``as-trained`` (default: the checkpoint's strand mode), ``forward`` or ``both``
            (each prediction averaged over the sequence and its reverse complement);
            ``rc_average`` is the 0.1 spelling.
        fast: recompute only what each edit can change (:mod:`dnaseq.models.fast_ism`) when the
            model supports it; the results equal full forward passes to float rounding.
        run: Trainer options (devices, precision ...); sequences are dealt to the devices.
    Returns:
        probabilities (N, 4, P, F) float32 on the CPU (None on ranks other than 0).
    """
    preds, _ = ism_with_reference(model, x, batch_size, strand, positions, device, progress, fast, run, rc_average)
    return preds


def ism_with_reference(model, x, batch_size: Optional[int] = None, strand: Optional[str] = None,
                       positions: Optional[Sequence[int]] = None, device: Optional[str] = None,
                       progress: Optional[bool] = None,
                       fast: bool = True, run: Optional[RunOptions] = None, rc_average: Optional[bool] = None):
    """:func:`ism` plus the unmutated predictions (N, F): ``(ism, reference)``."""
    strand = strand_or_rc_average(strand, rc_average)
    s = settings(model, strand)
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        x = one_hot(x, fill=s.fill)
    x = x.float().cpu()
    n, _, L = x.shape
    pos = torch.arange(L) if positions is None else torch.as_tensor(list(positions), dtype=torch.long)
    if len(pos) and (pos.min() < 0 or pos.max() >= L):
        raise ValueError(f"positions must lie in 0..{L - 1}")
    run = RunOptions.for_command("ism", run, batch_size=batch_size, device=device, progress=progress)

    def produce():
        for i in range(n):
            yield {"x": x[i:i + 1].contiguous(), "meta": i}

    info = engine.run(s.net, produce, _ism_step(s.strand, pos, run.batch_size, fast), lambda: _IsmSink(n), run,
                      total=n)
    if not info.is_main:
        return None, None
    return torch.from_numpy(info.sink.ism), torch.from_numpy(info.sink.ref)


class _IsmSink:
    def __init__(self, n: int):
        self.n = n
        self.ism = self.ref = None

    def write(self, i, out) -> None:
        if self.ism is None:
            self.ism = np.empty((self.n,) + out["ism"].shape, np.float32)
            self.ref = np.empty((self.n,) + out["ref"].shape, np.float32)
        self.ism[i], self.ref[i] = out["ism"], out["ref"]


def _ism_step(strand: str, pos: torch.Tensor, batch_size: int, fast: bool):
    """One sequence (1, 4, L) -> ``{"ism": (4, P, F), "ref": (F,)}``."""

    def step(net, unit):
        x = unit["x"]
        dev = x.device
        L = x.shape[-1]
        predict = StrandWrapper(net, strand)
        ref_pred = predict(x).float()[0]  # (F,)
        out = ref_pred[None, None, :].expand(4, len(pos), ref_pred.shape[0]).clone()
        codes = torch.from_numpy(codes_from_one_hot(x.float().cpu()).astype(np.int64))[0]  # (L,)
        is_mut = torch.arange(4)[None, :] != codes[pos][:, None]  # (P, 4); all True at N
        p_idx, b_idx = torch.nonzero(is_mut, as_tuple=True)
        if fast and fast_ism.supported(net):
            # local ISM batches mutants by nearby positions: a block of positions shares one
            # window. With a dense-delta finish small blocks keep windows tight; when a recurrent
            # layer must run in full anyway, larger blocks keep its batches large.
            dense_delta = net.ism_parts()[2] is not None
            block = max(1, min(16, batch_size // 4)) if dense_delta else max(1, batch_size // 3)
            engines = {is_rc: fast_ism.LocalISM(net, v.contiguous()) for v, is_rc in strand_views(x.float(), strand)}
            order = torch.argsort(pos[p_idx], stable=True)
            p_idx, b_idx = p_idx[order], b_idx[order]
            starts = torch.nonzero(torch.diff(pos[p_idx] // block, prepend=torch.tensor([-1]))).flatten()
            bounds = starts.tolist() + [len(p_idx)]
            for a, b in zip(bounds[:-1], bounds[1:]):
                pi, bi = p_idx[a:b], b_idx[a:b]

                def one_strand(_, is_rc):
                    at = (L - 1 - pos[pi]) if is_rc else pos[pi]
                    base = (3 - bi) if is_rc else bi
                    return torch.sigmoid(engines[is_rc].logits(at.to(dev), base.to(dev)).float())

                out[bi.to(dev), pi.to(dev)] = strand_mean(x, strand, one_strand)
            return {"ism": out, "ref": ref_pred}
        for lo in range(0, len(p_idx), batch_size):
            pi, bi = p_idx[lo:lo + batch_size], b_idx[lo:lo + batch_size]
            cols = pos[pi].to(dev)
            batch = x.float().expand(len(pi), 4, L).clone()
            rows = torch.arange(len(pi), device=dev)
            batch[rows, :, cols] = 0.0
            batch[rows, bi.to(dev), cols] = 1.0
            out[bi.to(dev), pi.to(dev)] = predict(batch).float()
        return {"ism": out, "ref": ref_pred}

    return step


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
