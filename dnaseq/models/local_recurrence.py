"""A single-layer recurrent layer rerun only from where an edit changes its input.

Part of the local recomputation of edited windows (:mod:`dnaseq.models.fast_ism`): for an edit that
changes the conv tower's output on positions [lo, hi), the forward direction of the recurrence
is unchanged before ``lo`` and the backward one after ``hi``, so edited windows rerun each
direction only from there on, starting from the reference's state (:class:`LocalRecurrence`).
When the head starts with a dense layer on the flattened outputs (DanQ), that layer takes the
edit as a delta: only the outputs each direction reran change it,
``W @ o_mut = W @ o_ref + W[:, fwd, q:] @ (o_mut - o_ref)[fwd, q:] + W[:, bwd, :e] @ (...)``,
about half of its multiply-adds for an edit near the middle.

Written by hand: torch runs a recurrence only whole; its own kernels (``torch._VF``) run each
direction here, with the module's own parameters.
"""
from __future__ import annotations

import weakref
from typing import Callable, Dict, List, Optional, Tuple

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

    def __init__(self, rnn: nn.RNNBase, head, skip=None, dense=None):
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
        # (first dense layer, rest of the head) when the head reads the flattened outputs alone
        self.dense = dense if skip is None else None
        self.ref_pre: Optional[torch.Tensor] = None  # the reference's first dense pre-activation
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
        rnn, head, skip, dense = (tuple(parts) + (None, None))[:4]
        if not (isinstance(rnn, (nn.RNN, nn.GRU, nn.LSTM)) and rnn.mode in _RNN_FNS and rnn.num_layers == 1
                and rnn.batch_first and not rnn.training and getattr(rnn, "proj_size", 0) == 0):
            return None
        return cls(rnn, head, skip, dense)

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
        if self.dense is not None:
            self.ref_pre = self.dense[0](self._combine(self.out).flatten(1))
            return self.dense[1](self.ref_pre)
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
            if self.dense is not None:  # the change of the first dense layer's input, in this direction's order
                outs.append((q, o.to(self.out[d].dtype) - take_rows(self.out[d][:, q:], src)))
                continue
            outs.append(torch.cat([_rows(self.out[d][:, :q], src, m), o.to(self.out[d].dtype)], dim=1) if q else o)
        if self.dense is not None:
            return self._dense_delta(outs, src, m)
        if self.skip is None:
            return self.head(self._combine(outs))
        tower = _rows(self.tower_out, src, m).clone()  # the edited windows' whole tower output, for the skip
        tower[:, :, lo:hi] = mut.to(tower.dtype)
        return self.head(self._combine(outs), self.skip(tower))


    def _dense_delta(self, deltas: List[Tuple[int, torch.Tensor]], src: Optional[torch.Tensor], m: int) -> torch.Tensor:
        """Logits from the reference's first dense pre-activation plus each direction's change
        (``deltas``: (q, change of its outputs from step q on, in its order))."""
        linear, finish = self.dense
        pre = take_rows(self.ref_pre, src)
        T, D = self.out[0].shape[1], self.hidden * len(self.weights)
        for d, (q, delta) in enumerate(deltas):
            w = _position_blocks(linear.weight, T, D, self.hidden, d)[q:].reshape(-1, linear.out_features)
            pre = torch.addmm(pre, delta.reshape(m, -1).to(w.dtype), w)
        return finish(pre)


def derived(weight: torch.Tensor, key: tuple, build: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``build(weight)`` (a rearranged copy of part of a weight), kept across calls: variant
    scoring asks for the same ones batch after batch. Keyed by the weight's id and ``key`` and
    checked against a weak reference to the weight and its version, so a new model at the same
    address, or weights changed in place, never reuse a stale copy."""
    key = (id(weight),) + key
    got = _DERIVED.get(key)
    if got is not None and got[0]() is weight and got[1] == weight._version:
        return got[2]
    value = build(weight.detach())
    _DERIVED.pop(key, None)
    while len(_DERIVED) >= _MAX_DERIVED:
        _DERIVED.pop(next(iter(_DERIVED)))
    _DERIVED[key] = (weakref.ref(weight), weight._version, value)
    return value


_DERIVED: Dict[tuple, Tuple["weakref.ref", int, torch.Tensor]] = {}
_MAX_DERIVED = 6  # the DanQ blocks are 89 MB per direction


def _position_blocks(weight: torch.Tensor, T: int, D: int, H: int, d: int) -> torch.Tensor:
    """The columns of ``weight`` (out, T * D, read from outputs flattened position-major) that
    direction ``d`` feeds, as (T, H, out) in that direction's order (the backward direction's
    from the last position to the first), so that steps q.. are one contiguous slice."""
    def build(w: torch.Tensor) -> torch.Tensor:
        blocks = w.view(-1, T, D)[:, :, d * H:(d + 1) * H]
        return (blocks.flip(1) if d else blocks).permute(1, 2, 0).contiguous()
    return derived(weight, ("blocks", T, D, H, d), build)


def take_rows(t: torch.Tensor, src: Optional[torch.Tensor]) -> torch.Tensor:
    """Rows ``src`` of ``t``, or ``t`` itself when ``src`` is None (one row, to broadcast, or one
    per edited window)."""
    return t if src is None else t.index_select(0, src)


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
