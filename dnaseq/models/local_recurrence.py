"""A single-layer recurrent layer rerun only from where an edit changes its input.

Part of the local recomputation of edited windows (:mod:`dnaseq.models.fast_ism`): for an edit that
changes the conv tower's output on positions [lo, hi), the forward direction of the recurrence
is unchanged before ``lo`` and the backward one after ``hi``, so edited windows rerun each
direction only from there on, starting from the reference's state (:class:`LocalRecurrence`).

Written by hand: torch runs a recurrence only whole; its own kernels (``torch._VF``) run each
direction here, with the module's own parameters.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import _VF, nn

_RNN_FNS = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}


class LocalRecurrence:
    """A single-layer, batch-first RNN / GRU / LSTM (uni- or bidirectional) run one direction
    at a time and in pieces, so that edited windows rerun only what their edit can change.

    Each direction d works in its own order: the forward direction on positions 0..T-1, the
    backward one on T-1..0 (the flipped sequence). A state "at q" is the state after consuming
    the first q steps in that order. An edit that changes the tower output on [lo, hi) leaves
    the first ``lo`` forward steps and the first ``T - hi`` backward steps as they are: the
    edited windows rerun each direction from there on, from the reference's state at that q,
    and take the reference's outputs before it.

    The reference recurrence (:meth:`ref_logits`) splits at the q's announced through
    :meth:`plan`; a state asked for later is computed from the nearest earlier one kept.
    Directions run through ``torch._VF`` with the module's own parameter tensors (as its
    forward does), one direction's weights at a time: nothing is copied or re-registered.
    """

    def __init__(self, rnn: nn.RNNBase, head, skip=None):
        self.fn = _RNN_FNS[rnn.mode]
        self.lstm = rnn.mode == "LSTM"
        self.bias = rnn.bias
        self.hidden = rnn.hidden_size
        names = ["weight_ih_l0", "weight_hh_l0"] + (["bias_ih_l0", "bias_hh_l0"] if rnn.bias else [])
        suffixes = ["", "_reverse"] if rnn.bidirectional else [""]
        self.weights = [[getattr(rnn, n + sfx) for n in names] for sfx in suffixes]  # as _VF wants them
        self.head = head
        self.skip = skip  # tower output (B, C, T) -> what the head reads beside the recurrence, or None
        self.tower_out: Optional[torch.Tensor] = None  # the reference's, kept when ``skip`` needs it
        self.splits: List[set] = [set() for _ in self.weights]
        self.memo: List[Dict[int, object]] = [{0: None} for _ in self.weights]  # q -> state (all rows)
        self.seq: List[torch.Tensor] = []  # reference input of each direction, in its order (B, T, C)
        self.out: List[torch.Tensor] = []  # reference output of each direction, in its order (B, T, H)

    @classmethod
    def of(cls, core: nn.Module) -> Optional["LocalRecurrence"]:
        """The local recurrence of ``core``, or None when it has none this class can run."""
        get = getattr(core, "ism_recurrence", None)
        parts = get() if get is not None else None
        if parts is None:
            return None
        rnn, head, skip = parts if len(parts) == 3 else (*parts, None)
        if not (isinstance(rnn, (nn.RNN, nn.GRU, nn.LSTM)) and rnn.mode in _RNN_FNS and rnn.num_layers == 1
                and rnn.batch_first and not rnn.training and getattr(rnn, "proj_size", 0) == 0):
            return None
        return cls(rnn, head, skip)

    def plan(self, lo: int, hi: int, T: int) -> None:
        self.splits[0].add(lo)
        if len(self.splits) > 1:
            self.splits[1].add(T - hi)

    def _run(self, d: int, x: torch.Tensor, state):
        """Direction d on ``x`` (n, t, C) (in its order) from ``state`` (None: zeros)."""
        if state is None:
            zeros = torch.zeros(1, x.shape[0], self.hidden, dtype=x.dtype, device=x.device)
            state = (zeros, zeros) if self.lstm else zeros
        result = self.fn(x, state, self.weights[d], self.bias, 1, 0.0, False, False, True)
        return result[0], (tuple(result[1:]) if self.lstm else result[1])

    def _combine(self, outs: List[torch.Tensor]) -> torch.Tensor:
        return outs[0] if len(outs) == 1 else torch.cat([outs[0], outs[1].flip(1)], dim=-1)

    def ref_logits(self, tower_out: torch.Tensor) -> torch.Tensor:
        """Logits of the reference windows from their tower output (B, C, T)."""
        x = tower_out.transpose(1, 2)
        T = x.shape[1]
        for d in range(len(self.weights)):
            seq = x if d == 0 else x.flip(1)
            self.seq.append(seq)
            outs, state, prev = [], None, 0
            for q in sorted(q for q in self.splits[d] if 0 < q < T) + [T]:
                o, state = self._run(d, seq[:, prev:q], state)
                outs.append(o)
                if q < T:
                    self.memo[d][q] = state
                prev = q
            self.out.append(outs[0] if len(outs) == 1 else torch.cat(outs, dim=1))
        if self.skip is None:
            return self.head(self._combine(self.out))
        self.tower_out = tower_out
        return self.head(self._combine(self.out), self.skip(tower_out))

    def _state(self, d: int, q: int):
        memo = self.memo[d]
        if q not in memo:
            p = max(k for k in memo if k < q)
            memo[q] = self._run(d, self.seq[d][:, p:q], memo[p])[1]
        return memo[q]

    def alt_logits(self, mut: torch.Tensor, lo: int, hi: int, src: Optional[torch.Tensor]) -> torch.Tensor:
        """Logits of edited windows whose tower output ``mut`` (m, C, hi - lo) differs from the
        cached rows' (``src`` as in :meth:`dnaseq.models.fast_ism.CachedTower.local_logits`) only on [lo, hi)."""
        m = mut.shape[0]
        span = mut.transpose(1, 2)  # (m, w, C)
        T = self.seq[0].shape[1]
        outs = []
        for d in range(len(self.weights)):
            if d == 0:
                q, alt = lo, torch.cat([span.to(self.seq[0].dtype), _rows(self.seq[0][:, hi:], src, m)], dim=1)
            else:  # the span flipped, then positions lo-1 .. 0
                q, alt = T - hi, torch.cat([span.flip(1).to(self.seq[1].dtype),
                                            _rows(self.seq[1][:, T - lo:], src, m)], dim=1)
            state = self._state(d, q)
            if state is not None:
                state = tuple(_rows(s, src, m, dim=1) for s in state) if self.lstm else _rows(state, src, m, dim=1)
            o, _ = self._run(d, alt, state)
            outs.append(torch.cat([_rows(self.out[d][:, :q], src, m), o.to(self.out[d].dtype)], dim=1) if q else o)
        if self.skip is None:
            return self.head(self._combine(outs))
        tower = _rows(self.tower_out, src, m).clone()  # the edited windows' whole tower output, for the skip
        tower[:, :, lo:hi] = mut.to(tower.dtype)
        return self.head(self._combine(outs), self.skip(tower))


def _rows(t: torch.Tensor, src: Optional[torch.Tensor], m: int, dim: int = 0) -> torch.Tensor:
    """Rows ``src`` of ``t`` along ``dim``; with ``src=None`` all of them, broadcast to ``m``
    when ``t`` holds one."""
    if src is not None:
        return t.index_select(dim, src)
    if t.shape[dim] == m:
        return t
    shape = list(t.shape)
    shape[dim] = m
    return t.expand(shape).contiguous()
