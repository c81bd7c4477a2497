"""DanQ (Quang & Xie 2016) and the configurable conv + recurrent family it belongs to.

Every recurrent layer runs with ``batch_first=True`` over the *length* axis, so a sequence's
prediction never depends on the other sequences in its batch.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn
from torch.utils.flop_counter import register_flop_formula

from . import tower
from .deepsea import conv_out
from .kmers import KmerLinear

RNN_TYPES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _mkldnn_rnn_flops(input_shape, w_ih, w_hh, *args, batch_first: bool = False, out_shape=None, **kwargs) -> int:
    """FLOPs of one layer and direction of a recurrence run by oneDNN (``aten.mkldnn_rnn_layer``,
    what torch's CPU LSTM runs): its input-to-hidden and hidden-to-hidden matrices each multiply one
    vector per step and sequence, 2 x rows x columns FLOPs (gate nonlinearities left out, as for
    other layers). torch's FLOP counter, which Lightning's model summary uses, has no formula for
    this op and counted such a layer as 0 (recurrences that run as matrix products are counted)."""
    first = bool(args[11]) if len(args) > 11 else batch_first
    batch, steps = (input_shape[0], input_shape[1]) if first else (input_shape[1], input_shape[0])
    return 2 * batch * steps * (w_ih[0] * w_ih[1] + w_hh[0] * w_hh[1])


if hasattr(torch.ops.aten, "mkldnn_rnn_layer"):  # CPU builds with oneDNN
    register_flop_formula(torch.ops.aten.mkldnn_rnn_layer)(_mkldnn_rnn_flops)
POOLS = ("mean", "max", "maxmean", "attention")  # over positions: a motif counts wherever it is
READOUTS = ("flatten", "last") + POOLS
CONV_READOUTS = ("none", "mean", "max", "maxmean")


class AttentionPool(nn.Module):
    """Softmax-weighted mean over positions with one weight per position and channel, scored by
    a linear map of the channels (Enformer's attention pooling, over the whole window). It starts
    as a soft max-pool (scores = 2 x the values) and learns where to look."""

    def __init__(self, channels: int):
        super().__init__()
        self.score = nn.Linear(channels, channels)
        with torch.no_grad():
            self.score.weight.copy_(2.0 * torch.eye(channels))
            self.score.bias.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, D)
        return (torch.softmax(self.score(h), dim=1) * h).sum(dim=1)


def _pool(h: torch.Tensor, how: str, attention: Optional[nn.Module] = None) -> torch.Tensor:
    """(B, L, D) -> (B, D), or (B, 2D) for ``maxmean``."""
    if how == "mean":
        return h.mean(dim=1)
    if how == "max":
        return h.max(dim=1).values
    if how == "maxmean":
        return torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=-1)
    return attention(h)


def _as_list(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries but there are {n} conv layers")
        return list(value)
    return [value] * n


class ConvRecurrent(nn.Module):
    """A conv tower, an optional recurrent layer, a readout and a dense head.

    Args:
        seq_len, n_features: input length and number of outputs.
        conv_filters: filters per conv layer, e.g. ``[320]`` or ``[300, 200, 200]``.
        conv_widths: kernel width per layer (or one for all). Convolutions are 'valid'.
        pool_sizes: max-pool size (= stride) after each layer; 1 means none.
        conv_dropout: dropout after each conv block.
        batch_norm: batch norm after each convolution.
        rnn_type: ``rnn``, ``lstm``, ``gru`` or ``none`` (a pure CNN, Basset-like).
        rnn_hidden, rnn_layers, bidirectional, rnn_dropout: the recurrent layer.
        readout: how recurrent (or conv) outputs reach the head: ``flatten`` (as DanQ),
            ``mean``, ``max``, both (``maxmean``) or ``attention`` pooling over positions (a rare
            motif counts wherever it is), or ``last`` state (for bidirectional: the forward
            direction's last step and the backward direction's first step).
        conv_readout: the conv tower's output pooled over positions (``max``, ``mean`` or
            ``maxmean``) and given to the head beside the readout; ``none`` by default. It lets
            a single strong motif reach the head directly, past the recurrent layer.
        readout_dropout: dropout before the head.
        head_hidden: sizes of the dense hidden layers (ReLU), e.g. ``[925]``.
        head_dropout: dropout between dense hidden layers.
        kmer_k: when > 0, a wide part beside the deep one (wide and deep): a linear model of
            the window's canonical k-mer counts (:class:`~dnaseq.models.kmers.KmerLinear`), whose
            logits are added to the head's. It learns a signal spread over many short words
            fast, as k-mer baselines do; the conv + recurrent part learns the rest. Local
            recomputation (ISM, variant scoring) then falls back to full passes.
        kmer_dropout: dropout on the standardised k-mer counts.
        kmer_l2: an L2 penalty ``kmer_l2 * ||W||^2`` on the wide part's weights, added to the
            training loss (:meth:`penalty`), as k-mer logistic regression is regularised; the
            deep part keeps the optimizer's weight decay alone.
    """

    def __init__(self, seq_len: int = 1000, n_features: int = 919,
                 conv_filters: Sequence[int] = (320,), conv_widths: Union[int, Sequence[int]] = 26,
                 pool_sizes: Union[int, Sequence[int]] = 13, conv_dropout: Union[float, Sequence[float]] = 0.2,
                 batch_norm: bool = False, rnn_type: str = "lstm", rnn_hidden: int = 320,
                 rnn_layers: int = 1, bidirectional: bool = True, rnn_dropout: float = 0.0,
                 readout: str = "flatten", readout_dropout: float = 0.5,
                 head_hidden: Sequence[int] = (925,), head_dropout: float = 0.0, conv_readout: str = "none",
                 kmer_k: int = 0, kmer_dropout: float = 0.5, kmer_l2: float = 0.0):
        super().__init__()
        if rnn_type not in RNN_TYPES and rnn_type != "none":
            raise ValueError(f"rnn_type must be one of {sorted(RNN_TYPES)} or 'none', got {rnn_type!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if conv_readout not in CONV_READOUTS:
            raise ValueError(f"conv_readout must be one of {CONV_READOUTS}, got {conv_readout!r}")
        n = len(conv_filters)
        widths, pools = _as_list(conv_widths, n, "conv_widths"), _as_list(pool_sizes, n, "pool_sizes")
        drops = _as_list(conv_dropout, n, "conv_dropout")
        layers, channels, L = [], 4, seq_len
        for filters, width, pool, drop in zip(conv_filters, widths, pools, drops):
            layers.append(nn.Conv1d(channels, filters, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(filters))
            layers.append(nn.ReLU())
            L = conv_out(L, width)
            if pool > 1:
                layers.append(nn.MaxPool1d(pool, pool))
                L //= pool
            if drop:
                layers.append(nn.Dropout(drop))
            channels = filters
        if L < 1:
            raise ValueError(f"the conv tower shrinks {seq_len} bp inputs to nothing; use narrower "
                             f"kernels or smaller pools")
        self.conv = nn.Sequential(*layers)
        self.rnn: Optional[nn.RNNBase] = None
        width_out = channels
        if rnn_type != "none":
            self.rnn = RNN_TYPES[rnn_type](channels, rnn_hidden, num_layers=rnn_layers, batch_first=True,
                                           bidirectional=bidirectional,
                                           dropout=rnn_dropout if rnn_layers > 1 else 0.0)
            width_out = rnn_hidden * (2 if bidirectional else 1)
        self.bidirectional = bidirectional and self.rnn is not None
        self.readout, self.conv_readout = readout, conv_readout
        self.attention = AttentionPool(width_out) if readout == "attention" else None
        self.readout_dropout = nn.Dropout(readout_dropout) if readout_dropout else nn.Identity()
        head_in = width_out * {"flatten": L, "maxmean": 2}.get(readout, 1)
        head_in += channels * {"none": 0, "maxmean": 2}.get(conv_readout, 1)
        head, prev = [], head_in
        for i, h in enumerate(head_hidden):
            head += [nn.Linear(prev, h), nn.ReLU()]
            if head_dropout and i < len(head_hidden) - 1:
                head.append(nn.Dropout(head_dropout))
            prev = h
        head.append(nn.Linear(prev, n_features))
        self.head = nn.Sequential(*head)
        self.wide = KmerLinear(int(kmer_k), n_features, kmer_dropout) if kmer_k else None
        if kmer_l2 < 0:
            raise ValueError(f"kmer_l2 must be >= 0, got {kmer_l2}")
        self.kmer_l2 = float(kmer_l2)
        self.seq_len, self.n_features, self.positions = seq_len, n_features, L

    @property
    def reads_input(self) -> bool:
        """Whether a part besides the conv tower reads the input (the k-mer wide part): then an
        edit's effect is not confined to where it reaches through the tower, and local
        recomputation also needs :meth:`ism_side` (which updates the part exactly)."""
        return self.wide is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the same tower, pooled first and channels-last on the CPU when it may (models/tower.py)
        out = self._after_conv(tower.forward(self.conv, x, self.training))
        return out if self.wide is None else out + self.wide(x)

    def ism_side(self):
        """The part beside the tower that local recomputation can update exactly (the k-mer wide
        part in eval mode: its logits follow from the counts an edit changes), or None."""
        return self.wide if self.wide is not None and not self.wide.training else None

    def penalty(self) -> Optional[torch.Tensor]:
        """The regularisation term the training loss adds (the wide part's L2), or None."""
        if self.wide is None or not self.kmer_l2:
            return None
        return self.kmer_l2 * self.wide.linear.weight.pow(2).sum()

    def ism_parts(self):
        """(conv tower, finish, first dense layer or None, flatten is position-major) for local
        ISM: with no recurrent layer and a flatten readout the first dense layer can be updated
        by its change alone; otherwise the rest runs on the spliced conv output (a single-layer
        recurrence is rerun only where an edit reaches it, see :meth:`ism_recurrence`)."""
        dense = self._dense_split()
        if self.rnn is None and dense is not None:
            return self.conv, dense[1], dense[0], True
        return self.conv, self._after_conv, None, True

    def ism_recurrence(self):
        """(recurrent layer, head, skip, dense) for local recompute through the recurrence, or
        None without a recurrent layer: ``head`` maps the recurrent layer's output (B, L', D), and
        with ``conv_readout`` the pooled tower ``skip(conv(x))``, to logits, so the deep part is
        ``head(rnn(conv(x).transpose(1, 2))[0], skip(conv(x)))`` (``skip`` None: no second
        argument); ``dense`` is (first dense layer, rest of the head) when the head reads the
        flattened outputs alone, so an edit's change can go through the first dense layer as a
        delta, else None."""
        if self.rnn is None:
            return None
        skip = None if self.conv_readout == "none" else self._pooled_tower
        return self.rnn, self._readout_head, skip, self._dense_split()

    def _dense_split(self):
        """(first dense layer, the rest of the head) when, in eval mode, the head is a dense layer
        on the flattened outputs alone (no conv readout beside them); None otherwise."""
        head = list(self.head)
        if self.readout == "flatten" and self.conv_readout == "none" and not self.training \
                and isinstance(head[0], nn.Linear):
            return head[0], nn.Sequential(*head[1:])
        return None

    def _pooled_tower(self, tower_out: torch.Tensor) -> torch.Tensor:
        """The conv tower's output (B, C, L') pooled over positions, as ``conv_readout`` says."""
        return _pool(tower_out.transpose(1, 2), self.conv_readout)

    def _after_conv(self, h: torch.Tensor) -> torch.Tensor:
        skip = None if self.conv_readout == "none" else self._pooled_tower(h)
        h = h.transpose(1, 2)  # (B, L', C): recurrence runs along the sequence
        if self.rnn is not None:
            h, _ = self.rnn(h)
        return self._readout_head(h, skip)

    def _readout_head(self, h: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Readout and dense head of the recurrent (or conv) outputs ``h`` (B, L', D), with the
        pooled conv tower ``skip`` beside it when ``conv_readout`` is set."""
        if self.readout == "flatten":
            h = h.flatten(1)
        elif self.readout == "last":
            if self.bidirectional:
                half = h.shape[-1] // 2
                h = torch.cat([h[:, -1, :half], h[:, 0, half:]], dim=-1)
            else:
                h = h[:, -1]
        else:
            h = _pool(h, self.readout, self.attention)
        if skip is not None:
            h = torch.cat([h, skip], dim=-1)
        return self.head(self.readout_dropout(h))


class DanQ(ConvRecurrent):
    """DanQ as published: conv 320 x 26 (valid) + ReLU, max-pool 13/13, dropout 0.2, BiLSTM 320
    per direction over the whole sequence, dropout 0.5, flatten (75 x 640 for 1000 bp), dense
    925 + ReLU, dense to the features. 46,929,039 parameters for 1000 bp and 919 features
    (PyTorch's LSTM has two bias vectors per gate; Keras' one, hence 2,560 more than the paper's
    Keras count).
    """

    def __init__(self, seq_len: int = 1000, n_features: int = 919):
        super().__init__(seq_len, n_features, conv_filters=(320,), conv_widths=26, pool_sizes=13,
                         conv_dropout=0.2, rnn_type="lstm", rnn_hidden=320, bidirectional=True,
                         readout="flatten", readout_dropout=0.5, head_hidden=(925,))
