"""Recurrent DNA language models: every base of a window predicted from the bases before it
(``causal``) or from both sides (``bidirectional``), never from itself.

Input is the one-hot window (B, 4, L) every dnaseq model takes; output is next-base logits
(B, 4, L), column i the distribution of base i. How a base is kept from seeing itself:

- **causal**: the window is shifted right by one position (a zero column first, the last base
  dropped), so column i holds base i - 1; an optional embedding convolution is padded on the left
  only, and the recurrence runs left to right. Position i's state has read bases 0..i-1 only; the
  first base is predicted from the zero column (the model's unconditional base frequencies).
- **bidirectional**: two such causal stacks with their own weights, one over the window and one
  over its reversal (bases i + 1.. read from the right end), combined only at the output layer,
  so position i's prediction uses bases 0..i-1 and i+1..L-1 and never base i (tests change one
  base and check which outputs move).

Whole windows are trained (no truncated backpropagation through time): state starts at zero at
each window's first base. N positions enter as the training fill (0.25 in every channel) and are
left out of the loss by the training module. Written here because no maintained library has
DNA language models with a one-hot interface; the pieces are torch's own layers.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .recurrent import RNN_TYPES

DIRECTIONS = ("causal", "bidirectional")


class _CausalStack(nn.Module):
    """Optional left-padded convolution, then a stacked one-way recurrence over shifted input."""

    def __init__(self, rnn_type: str, hidden: int, layers: int, embed_filters: int, embed_width: int,
                 dropout: float):
        super().__init__()
        self.embed_width = int(embed_width)
        self.embed = nn.Conv1d(4, embed_filters, self.embed_width) if embed_filters else None
        width = embed_filters or 4
        self.rnn = RNN_TYPES[rnn_type](width, hidden, num_layers=layers, batch_first=True,
                                       dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4, L) -> (B, L, H), column i sees x[:, :, :i]
        h = F.pad(x, (1, -1))  # shift right: column i holds base i - 1
        if self.embed is not None:
            h = torch.relu(self.embed(F.pad(h, (self.embed_width - 1, 0))))
        out, _ = self.rnn(h.transpose(1, 2))
        return out

    def step(self, column: torch.Tensor, state: Optional[dict]) -> "tuple[torch.Tensor, dict]":
        """One position: ``column`` (B, 4) is the previous base's one-hot (zeros before the first
        base) -> (B, H) output and the new state; the same numbers as :meth:`forward` (tested)."""
        if state is None:
            state = {"buffer": column.new_zeros(column.shape[0], 4, max(self.embed_width, 1)), "rnn": None}
        buffer = torch.cat([state["buffer"][:, :, 1:], column[:, :, None]], dim=2)
        h = column[:, None, :]
        if self.embed is not None:
            h = torch.relu(self.embed(buffer)).transpose(1, 2)  # (B, 1, F)
        out, rnn_state = self.rnn(h, state["rnn"])
        return out[:, 0], {"buffer": buffer, "rnn": rnn_state}


class RecurrentLM(nn.Module):
    """A recurrent DNA language model (RNN / LSTM / GRU) predicting each base of the window.

    Args:
        seq_len: window length (any length runs; recorded for the data module).
        n_features: must be 4 (the bases A, C, G, T the model predicts).
        direction: ``causal`` (left context only: a generative model, scores a sequence's total
            log-likelihood) or ``bidirectional`` (both sides, for per-base and variant scores).
        rnn_type: ``rnn``, ``lstm`` or ``gru``.
        rnn_hidden: units per recurrent layer (per direction).
        rnn_layers: stacked recurrent layers (per direction).
        embed_filters: filters of an optional causal convolution before the recurrence (0: none,
            the one-hot bases go straight in).
        embed_width: that convolution's width in bases.
        dropout: between stacked layers and before the output layer.
    """

    language_model = True

    def __init__(self, seq_len: int = 1000, n_features: int = 4, direction: str = "causal",
                 rnn_type: str = "lstm", rnn_hidden: int = 256, rnn_layers: int = 2, embed_filters: int = 0,
                 embed_width: int = 9, dropout: float = 0.1):
        super().__init__()
        if n_features != 4:
            raise ValueError(f"a language model predicts the 4 bases, not {n_features} features: train it on a "
                             f"reference FASTA (data.data: genome.fa), not on a chromatin dataset")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {', '.join(RNN_TYPES)}, got {rnn_type!r}")
        if rnn_hidden < 1 or rnn_layers < 1 or embed_filters < 0 or embed_width < 1:
            raise ValueError("rnn_hidden, rnn_layers and embed_width must be >= 1 and embed_filters >= 0")
        self.seq_len, self.direction = int(seq_len), direction
        stack = (rnn_type, int(rnn_hidden), int(rnn_layers), int(embed_filters), int(embed_width), float(dropout))
        self.forward_stack = _CausalStack(*stack)
        self.backward_stack = _CausalStack(*stack) if direction == "bidirectional" else None
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(rnn_hidden * (2 if self.backward_stack is not None else 1), 4)

    @property
    def causal(self) -> bool:
        return self.backward_stack is None

    def step(self, column: torch.Tensor, state: Optional[dict] = None) -> "tuple[torch.Tensor, dict]":
        """Causal models, one base at a time (generation): ``column`` (B, 4) the one-hot of the
        previous base (zeros before the first) -> (logits (B, 4) of the next base, state)."""
        if not self.causal:
            raise ValueError("a bidirectional language model sees both sides: it cannot generate left to right; "
                             "use a causal one (arch_args.direction: causal)")
        h, state = self.forward_stack.step(column, state)
        return self.head(self.drop(h)), state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (B, 4, L) -> logits (B, 4, L) of each position's base."""
        h = self.forward_stack(x)
        if self.backward_stack is not None:
            h = torch.cat([h, self.backward_stack(x.flip(-1)).flip(1)], dim=-1)
        return self.head(self.drop(h)).transpose(1, 2)


class LanguageModelChromatin(nn.Module):
    """Chromatin features from a DNA language model's trunk: the same recurrent stack(s) as
    ``lm`` (same names, so ``model.init_from`` an ``lm`` checkpoint copies them), max- and
    mean-pooled over the window, then a dense layer and the features' logits.

    Args: as ``lm`` (``direction``, ``rnn_type``, ``rnn_hidden``, ``rnn_layers``, ``embed_filters``,
    ``embed_width``, ``dropout``), plus ``head_hidden`` units of the dense layer before the output
    (0: none).
    """

    def __init__(self, seq_len: int = 1000, n_features: int = 919, direction: str = "causal", rnn_type: str = "lstm",
                 rnn_hidden: int = 256, rnn_layers: int = 2, embed_filters: int = 0, embed_width: int = 9,
                 dropout: float = 0.1, head_hidden: int = 64):
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {', '.join(RNN_TYPES)}, got {rnn_type!r}")
        self.seq_len = int(seq_len)
        stack = (rnn_type, int(rnn_hidden), int(rnn_layers), int(embed_filters), int(embed_width), float(dropout))
        self.forward_stack = _CausalStack(*stack)
        self.backward_stack = _CausalStack(*stack) if direction == "bidirectional" else None
        width = 2 * rnn_hidden * (2 if self.backward_stack is not None else 1)  # max and mean of each
        layers = [nn.Dropout(dropout)]
        if head_hidden:
            layers += [nn.Linear(width, head_hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = head_hidden
        self.pool_head = nn.Sequential(*layers)
        self.output = nn.Linear(width, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (B, 4, L) -> logits (B, n_features)."""
        h = self.forward_stack(x)
        if self.backward_stack is not None:
            h = torch.cat([h, self.backward_stack(x.flip(-1)).flip(1)], dim=-1)
        pooled = torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=-1)
        return self.output(self.pool_head(pooled))


def select_state(state: dict, index: torch.Tensor) -> dict:
    """The rows ``index`` of a :meth:`RecurrentLM.step` state (beam search keeps the best beams)."""
    rnn = state["rnn"]
    rnn = tuple(t[:, index] for t in rnn) if isinstance(rnn, tuple) else rnn[:, index]
    return {"buffer": state["buffer"][index], "rnn": rnn}


def base_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Natural-log probabilities (B, 4, L) of each base at each position from LM logits."""
    return torch.log_softmax(logits.float(), dim=1)


def token_nll(logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood in nats (B, L) of the bases ``codes`` (uint8/long A=0 C=1 G=2 T=3;
    4 = N) under LM ``logits`` (B, 4, L); 0 at N positions (count them with ``codes < 4``)."""
    target = codes.long()
    known = target < 4
    nll = F.cross_entropy(logits.float(), target.clamp(max=3), reduction="none")
    return nll * known


__all__ = ["RecurrentLM", "LanguageModelChromatin", "DIRECTIONS", "base_log_probs", "select_state", "token_nll"]
