"""Local recomputation of edited sequences (the fastISM idea, Nair et al. 2022).

A base edit changes a convolution's output only where its kernel covers the edit, a
max-pool's only where its window does, and an elementwise layer's only where its input
changed. So for a batch of edits we recompute every layer of the model's conv tower on the
few positions that can differ, splice them into the cached activations of the unedited
windows, and then finish the model:

* when the tower ends in Flatten + Linear (DeepSEA, or a flatten readout with no recurrent
  layer), the first dense layer is updated by its change only:
  ``W @ h_mut = W @ h_ref + W[:, changed] @ (h_mut - h_ref)[changed]``;
* when a single-layer recurrent layer (RNN / GRU / LSTM, uni- or bidirectional) follows the
  tower, its forward direction reproduces the reference's outputs up to the first changed
  position s and its backward direction those from the last changed position e - 1 on: the
  edited windows rerun the forward direction only on s..T-1, starting from the reference's
  state after s - 1, and the backward direction only on e-1..0, starting from the reference's
  state after consuming T-1..e (:class:`dnaseq.models.local_recurrence.LocalRecurrence`; the
  reference's recurrence runs in pieces split at those positions, so its states come at no
  extra cost). The readout and head then run in full on the spliced outputs, or, when the head
  starts with a dense layer on the flattened outputs (DanQ), that layer takes their change as a
  delta, as above;
* otherwise (a deeper recurrence sees the whole sequence in every layer) the rest of the model
  runs in full on the spliced activations.

:class:`CachedTower` holds the reference activations of a batch of windows and does that
layer-by-layer recompute (:meth:`CachedTower.local_logits`); two front ends use it:

* :class:`LocalISM` -- one cached sequence, batches of single-base edits at nearby positions
  (saturation mutagenesis, :func:`dnaseq.apply.ism.ism`);
* :func:`edited_logits` -- many different reference windows, each with its own edit of a
  common width (variant scoring: REF and ALT windows that differ at one or a few columns).

Models expose the split through ``ism_parts()`` (tower, finish, first dense layer or None,
whether the flatten is position-major), and recurrent ones also through ``ism_recurrence()``
((recurrent layer, head of its outputs) or None); layers other than Conv1d (no padding, stride 1,
dilation 1, one group), MaxPool1d (no padding, dilation 1, floor mode), pointwise activations
and eval-mode Dropout/BatchNorm/Identity make :func:`supported` return False, and the callers
fall back to full forward passes. A part beside the tower that reads the whole window is allowed
only when the model can update it exactly (``ism_side()``: the k-mer wide part in eval mode, whose
logits follow from the window's k-mer counts, which an edit changes only within k - 1 columns of
itself; :meth:`CachedTower.local_logits` adds it).
"""
from __future__ import annotations

from typing import List, Optional, Tuple, Union

import torch
from torch import nn

from .local_recurrence import LocalRecurrence, derived, take_rows
from .overlap import Strips, layer_lengths, shared_prefix
from .tower import geometry_ok, pool_first, pool_params, whole_windows

_POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Identity)
_EVAL_ONLY = (nn.Dropout, nn.BatchNorm1d)  # positionwise in eval mode only

# edited_logits: rows whose edit starts lie within MERGE_GAP columns of each other share one
# recomputed span; at most MAX_GROUPS spans per call (the widest gaps split them).
MERGE_GAP = 32
MAX_GROUPS = 16

# Rerun a single-layer recurrence only from the first changed position on (LocalRecurrence);
# False runs it in full on the spliced tower output (kept for benchmarks and as a switch).
LOCAL_RECURRENCE = True


def _out_span(layer: nn.Module, lo: int, hi: int, n_out: int) -> Tuple[int, int, int, int]:
    """Output columns [olo, ohi) of a conv / pool layer that can change when its input changes
    on [lo, hi), and the input columns [a, b) they read."""
    if isinstance(layer, nn.Conv1d):
        k = layer.kernel_size[0]
        olo, ohi = max(0, lo - k + 1), min(n_out, hi)
        return olo, ohi, olo, ohi + k - 1
    k, s = pool_params(layer)
    olo, ohi = max(0, -(-(lo - k + 1) // s)), min(n_out, (hi - 1) // s + 1)
    return olo, ohi, olo * s, (ohi - 1) * s + k


def _side(core: nn.Module) -> Optional[nn.Module]:
    """The part beside the tower that an edit updates exactly (``ism_side()``: the k-mer wide part
    in eval mode, :class:`dnaseq.models.kmers.KmerLinear`), or None."""
    return core.ism_side() if hasattr(core, "ism_side") else None


def _layer_ok(layer: nn.Module) -> bool:
    if isinstance(layer, (nn.Conv1d, nn.MaxPool1d)):
        return geometry_ok(layer)
    if isinstance(layer, _EVAL_ONLY):
        return not layer.training
    return isinstance(layer, _POINTWISE)


def supported(model: nn.Module) -> bool:
    """Whether ``model`` (a loaded model or its core network) can be recomputed locally."""
    core = getattr(model, "model", model)
    if not hasattr(core, "ism_parts"):
        return False
    if getattr(core, "reads_input", False) and _side(core) is None:
        return False  # a part beside the tower sees the whole window and cannot be updated locally
    tower = core.ism_parts()[0]
    return all(_layer_ok(layer) for layer in tower)


def _dense_slice(weight: torch.Tensor, C: int, Lf: int, lo: int, hi: int, position_major: bool) -> torch.Tensor:
    """Columns of ``weight`` (hidden, C * Lf) for tower positions [lo, hi), laid out as the
    delta is flattened: position-major (w * C) or channel-major (C * w); kept across calls."""
    def build(w: torch.Tensor) -> torch.Tensor:
        if position_major:  # column = position * C + channel
            return w.view(-1, Lf, C)[:, lo:hi, :].reshape(w.shape[0], -1)
        return w.view(-1, C, Lf)[:, :, lo:hi].reshape(w.shape[0], -1)  # column = channel * Lf + position
    return derived(weight, ("slice", C, Lf, lo, hi, position_major), build)


class CachedTower:
    """Reference activations of a batch of windows ``x`` (B, 4, L), cached layer by layer,
    and the local recompute of edited copies of them.

    Only what the recompute reads is kept: the input of every conv / pool layer, the tower's
    output and (for a dense-delta finish) the first dense layer's pre-activation, or (for a
    local recurrence) the recurrent layer's reference outputs and states.
    """

    # the reference pass in the channels-last layout (models.tower.whole_windows) pays for batches of windows
    channels_last = True

    def __init__(self, model: nn.Module, x: torch.Tensor, where: Optional[Tuple[torch.Tensor, torch.Tensor]] = None):
        core = getattr(model, "model", model)
        tower, self.finish, self.first_linear, self.position_major = core.ism_parts()
        self.rec = LocalRecurrence.of(core) if (self.first_linear is None and LOCAL_RECURRENCE) else None
        self.tower = pool_first(tower)
        self.x = x
        # input of layer i where layer i reads it (a Strips where overlapping windows share it)
        self.acts: List[Optional[Union[torch.Tensor, Strips]]] = []
        self.lengths = [x.shape[-1]]  # input length of layer i; the last is the tower's output
        h, d = x, 0
        keep = [isinstance(layer, (nn.Conv1d, nn.MaxPool1d)) for layer in self.tower]
        shared = shared_prefix(self.tower, x, *where, keep) if where is not None and self.channels_last else None
        if shared is not None:  # overlapping windows ran the first d layers together (dnaseq.models.overlap)
            d, self.acts, h = shared
            self.lengths = [x.shape[-1]] + [int(n) for n in layer_lengths(self.tower[:d], x.shape[-1])]
        for layer in self.tower[d:]:
            self.acts.append(h if isinstance(layer, (nn.Conv1d, nn.MaxPool1d)) else None)
            h = whole_windows(layer, h) if self.channels_last else layer(h)
            self.lengths.append(h.shape[-1])
        self.ref_out = h
        self.ref_pre = self.first_linear(self._flat(h)) if self.first_linear is not None else None
        self._ref_logits: Optional[torch.Tensor] = None
        self._deep_ref: Optional[torch.Tensor] = None
        # a wide part beside the tower (k-mer counts): the windows' counts, which each edit updates
        self.side = _side(core)
        self.side_counts = self.side.counts.raw(x.float()) if self.side is not None else None

    def _flat(self, h: torch.Tensor) -> torch.Tensor:
        return h.transpose(1, 2).flatten(1) if self.position_major else h.flatten(1)

    @property
    def ref_logits(self) -> torch.Tensor:
        """Logits (B, F) of the cached windows (the model's forward pass, computed once)."""
        if self._ref_logits is None:
            deep = self.deep_ref_logits
            self._ref_logits = deep if self.side is None else deep + self.side.from_counts(self.side_counts, deep.dtype)
        return self._ref_logits

    @property
    def deep_ref_logits(self) -> torch.Tensor:
        """The tower's part of :attr:`ref_logits` (all of it without a part beside the tower)."""
        if self._deep_ref is None:
            if self.rec is not None:
                self._deep_ref = self.rec.ref_logits(self.ref_out)
            else:
                self._deep_ref = self.finish(self.ref_pre if self.first_linear is not None else self.ref_out)
        return self._deep_ref

    def tower_span(self, lo: int, hi: int) -> Optional[Tuple[int, int]]:
        """Columns [lo', hi') of the tower's output that can change when the input changes on
        [lo, hi); None when none can."""
        for i, layer in enumerate(self.tower):
            if isinstance(layer, (nn.Conv1d, nn.MaxPool1d)):
                lo, hi = _out_span(layer, lo, hi, self.lengths[i + 1])[:2]
                if hi <= lo:
                    return None
        return lo, hi

    def plan(self, lo: int, hi: int) -> None:
        """Announce an edit span [lo, hi) (input columns) before the reference logits are
        computed, so that a local recurrence keeps the reference's states for it as it goes."""
        span = self.tower_span(lo, hi) if self.rec is not None else None
        if span is not None:
            self.rec.plan(*span, self.lengths[-1])

    def local_logits(self, mut: torch.Tensor, lo: int, hi: int, src: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits of edited windows whose input differs from the cache only on columns [lo, hi).

        ``mut`` (m, 4, hi - lo) holds the edited windows' columns [lo, hi). Row j is an edit of
        cached window ``src[j]``; with ``src=None`` the cache holds one window (every row edits
        it) or exactly m windows (row j edits window j). A k-mer wide part beside the tower adds
        its logits from the edited windows' counts (the cached counts, updated by the k-mers that
        reach the edit: :meth:`dnaseq.models.kmers.KmerLinear.edited_counts`).
        """
        deep = self._deep_local_logits(mut, lo, hi, src)
        if self.side is None:
            return deep
        m, k, L = mut.shape[0], self.side.counts.k, self.x.shape[-1]
        a, b = max(0, lo - k + 1), min(L, hi + k - 1)
        ref_strip = take_rows(self.x[:, :, a:b], src).expand(m, -1, -1)
        alt_strip = ref_strip.clone()
        alt_strip[:, :, lo - a:hi - a] = mut.to(alt_strip.dtype)
        counts = self.side.edited_counts(take_rows(self.side_counts, src).expand(m, -1), ref_strip, alt_strip)
        return deep + self.side.from_counts(counts, deep.dtype)

    def _deep_local_logits(self, mut: torch.Tensor, lo: int, hi: int, src: Optional[torch.Tensor]) -> torch.Tensor:
        """The tower's part of :meth:`local_logits`."""
        m = mut.shape[0]
        for i, layer in enumerate(self.tower):
            if not isinstance(layer, (nn.Conv1d, nn.MaxPool1d)):  # pointwise
                mut = layer(mut)
                continue
            olo, ohi, a, b = _out_span(layer, lo, hi, self.lengths[i + 1])
            if ohi <= olo:  # the edit falls where this layer does not look (a pool's tail)
                return take_rows(self.deep_ref_logits, src).expand(m, -1).clone()
            mut = layer(_assemble(self.acts[i], mut, lo, hi, a, b, src))
            lo, hi = olo, ohi
        if self.first_linear is not None:
            delta = mut - take_rows(self.ref_out[:, :, lo:hi], src)  # (m, C, w)
            C, Lf = self.ref_out.shape[1], self.ref_out.shape[2]
            # (hidden, C * Lf), columns as the flatten lays them out
            w = _dense_slice(self.first_linear.weight, C, Lf, lo, hi, self.position_major)
            if self.position_major:
                delta = delta.transpose(1, 2)
            pre = torch.addmm(take_rows(self.ref_pre, src), delta.reshape(m, -1).to(w.dtype), w.T)
            return self.finish(pre)
        if self.rec is not None:
            _ = self.deep_ref_logits  # the reference recurrence runs first: it keeps outputs and states
            return self.rec.alt_logits(mut, lo, hi, src)
        return self.finish(_assemble(self.ref_out, mut, lo, hi, 0, self.lengths[-1], src))


def _assemble(ref: torch.Tensor, mut: torch.Tensor, lo: int, hi: int, a: int, b: int,
              src: Optional[torch.Tensor]) -> torch.Tensor:
    """Edited activations on [a, b): the cached rows there, with the edits' [lo, hi) spliced in."""
    base = ref.cols(a, b) if isinstance(ref, Strips) else ref[:, :, a:b]
    out = base.index_select(0, src) if src is not None else base.expand(mut.shape[0], -1, -1).clone()
    s, e = max(lo, a), min(hi, b)
    if e > s:
        out[:, :, s - a:e - a] = mut[:, :, s - lo:e - lo].to(out.dtype)
    return out


class LocalISM(CachedTower):
    """Caches one sequence's activations (``x`` is (1, 4, L)) and scores batches of single-base
    edits locally."""

    channels_last = False  # one window: its reference pass is negligible, its copies are not

    def logits(self, positions: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
        """Logits for mutants (one per entry of ``positions`` / ``bases``) of the cached sequence."""
        x = self.x
        m = len(positions)
        lo, hi = int(positions.min()), int(positions.max()) + 1
        mut = x[:, :, lo:hi].expand(m, -1, -1).clone()
        rows = torch.arange(m, device=x.device)
        cols = (positions - lo).to(x.device)
        mut[rows, :, cols] = 0.0
        mut[rows, bases.to(x.device), cols] = 1.0
        return self.local_logits(mut, lo, hi)


def _write(win: torch.Tensor, rel: Union[int, torch.Tensor], alt: torch.Tensor) -> torch.Tensor:
    """Write ``alt`` (m, 4, k) into ``win`` (m, 4, w) at columns rel .. rel + k - 1 (rel an int
    for every row, or one per row), in place."""
    k = alt.shape[-1]
    if isinstance(rel, int):
        win[:, :, rel:rel + k] = alt
    else:
        cols = rel[:, None] + torch.arange(k, device=win.device)  # (m, k)
        rows = torch.arange(win.shape[0], device=win.device)[:, None]
        win[rows, :, cols] = alt.transpose(1, 2)  # advanced indices first: (m, k, 4)
    return win


def _groups(starts: torch.Tensor, k: int):
    """Split rows into spans of nearby edit starts: yields (rows or None for all, lo, hi,
    starts as an int when they are all equal in the group, else None)."""
    s = starts.cpu()
    lo, hi = int(s.min()), int(s.max())
    if lo == hi:
        yield None, lo, lo + k, lo
        return
    uniq = torch.unique(s)  # sorted
    gaps = torch.diff(uniq)
    cut = gaps > MERGE_GAP
    if int(cut.sum()) > MAX_GROUPS - 1:  # keep only the widest gaps as cuts
        keep = torch.topk(gaps, MAX_GROUPS - 1).indices
        cut = torch.zeros_like(cut)
        cut[keep] = True
    gid = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(cut.long(), 0)])  # group of each uniq
    if int(gid[-1]) == 0:
        yield None, lo, hi + k, None
        return
    row_gid = gid[torch.searchsorted(uniq, s)]
    for g in range(int(gid[-1]) + 1):
        members = uniq[gid == g]
        rows = torch.nonzero(row_gid == g).flatten()
        g_lo, g_hi = int(members[0]), int(members[-1])
        yield rows, g_lo, g_hi + k, (g_lo if g_lo == g_hi else None)


@torch.no_grad()
def edited_logits(model: nn.Module, ref_x: torch.Tensor, starts: Union[int, torch.Tensor],
                  alt_onehot: torch.Tensor, fast: bool = True,
                  where: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits of B reference windows and of their edited (ALT) copies.

    Args:
        model: a loaded model (``SequenceModel``) or its core network, in eval mode and on
            ``ref_x``'s device.
        ref_x: one-hot reference windows (B, 4, L).
        starts: (B,) first edited column of each row (or one int for all rows).
        alt_onehot: (B, 4, k) (or (4, k) for all rows): row b's ALT window is ``ref_x[b]`` with
            columns ``[starts[b], starts[b] + k)`` replaced by ``alt_onehot[b]``.
        fast: recompute the ALT windows locally when :func:`supported` allows it (otherwise,
            or with ``fast=False``, they get full forward passes).
        where: optional (keys, starts), (B,) ints each: the sequence (e.g. a chromosome's
            number) and coordinate of each window's column 0. Windows that overlap then run the
            first layers of the tower together (:mod:`dnaseq.models.overlap`; checked against the
            windows' contents, so a wrong coordinate costs speed, never correctness).
    Returns:
        (ref_logits, alt_logits), each (B, F) on ``ref_x``'s device. The REF logits are a full
        forward pass whose activations are cached for the batch; each ALT row recomputes the
        conv tower only on the span its edit reaches, then updates the first dense layer by its
        change, or reruns a single-layer recurrence only from that span on in each direction
        (from the REF's states there; the readout and head then run in full), or runs the rest
        of the model on the spliced output.
        Rows with equal starts (the SNV case) share one span; rows with nearby starts are
        grouped (see ``MERGE_GAP`` / ``MAX_GROUPS``). Memory grows with B (the whole tower's
        activations are cached): score a few hundred windows per call.
    """
    core = getattr(model, "model", model)
    dev = ref_x.device
    param = next(core.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = ref_x.to(dtype)
    if x.dim() != 3 or x.shape[1] != 4:
        raise ValueError(f"ref_x must be one-hot (B, 4, L), got shape {tuple(ref_x.shape)}")
    B, _, L = x.shape
    alt = alt_onehot.to(device=dev, dtype=dtype)
    if alt.dim() == 2:
        alt = alt.expand(B, -1, -1)
    k = alt.shape[-1]
    if alt.shape[:2] != (B, 4) or k < 1:
        raise ValueError(f"alt_onehot must be ({B}, 4, k), got shape {tuple(alt_onehot.shape)}")
    starts = torch.as_tensor(starts, dtype=torch.long).to(dev).reshape(-1)
    if starts.numel() not in (1, B):
        raise ValueError(f"starts must hold one column or one per row ({B}), got {starts.numel()}")
    starts = starts.expand(B)
    if B and (int(starts.min()) < 0 or int(starts.max()) + k > L):
        raise ValueError(f"edits must lie in columns 0..{L - 1} (starts + {k} <= {L})")
    if B == 0 or not (fast and supported(model)):
        alt_x = x.clone()
        _write(alt_x, starts, alt)
        return core(x), core(alt_x)
    cache = CachedTower(core, x, where)
    groups = list(_groups(starts, k))
    for _, lo, hi, _ in groups:
        cache.plan(lo, hi)
    ref = cache.ref_logits
    out = None
    for rows, lo, hi, same in groups:
        if rows is None:
            win = x[:, :, lo:hi].clone()
            src, g_alt, g_starts = None, alt, starts
        else:
            rows = rows.to(dev)
            win = x[:, :, lo:hi].index_select(0, rows)
            src, g_alt, g_starts = rows, alt.index_select(0, rows), starts.index_select(0, rows)
        _write(win, (same - lo) if same is not None else g_starts - lo, g_alt)
        logits = cache.local_logits(win, lo, hi, src)
        if rows is None:
            return ref, logits
        if out is None:
            out = torch.empty((B,) + tuple(logits.shape[1:]), dtype=logits.dtype, device=dev)
        out[rows] = logits.to(out.dtype)
    return ref, out
