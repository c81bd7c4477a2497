"""DeepSEA (Zhou & Troyanskaya 2015) as released: three conv layers and two dense layers."""
from __future__ import annotations

import torch
from torch import nn

from . import tower


def conv_out(length: int, width: int) -> int:
    """Length after a 'valid' convolution of ``width``."""
    return length - width + 1


class DeepSEA(nn.Module):
    """conv 320/480/960 (width 8) with ReLU, max-pool 4 after the first two, dropout
    0.2/0.2/0.5, dense 925 + ReLU, dense to the features (logits; sigmoid at prediction).

    The dense layer's input size is derived from ``seq_len`` (53 x 960 for 1000 bp). For
    1000 bp and 919 features the model has exactly 52,843,119 parameters.
    """

    def __init__(self, seq_len: int = 1000, n_features: int = 919, conv_width: int = 8,
                 filters=(320, 480, 960), pool: int = 4, dropout=(0.2, 0.2, 0.5), hidden: int = 925):
        super().__init__()
        L = seq_len
        L = conv_out(L, conv_width) // pool
        L = conv_out(L, conv_width) // pool
        L = conv_out(L, conv_width)
        if L < 1:
            raise ValueError(f"DeepSEA needs longer inputs than {seq_len} bp")
        f1, f2, f3 = filters
        self.conv = nn.Sequential(
            nn.Conv1d(4, f1, conv_width), nn.ReLU(), nn.MaxPool1d(pool), nn.Dropout(dropout[0]),
            nn.Conv1d(f1, f2, conv_width), nn.ReLU(), nn.MaxPool1d(pool), nn.Dropout(dropout[1]),
            nn.Conv1d(f2, f3, conv_width), nn.ReLU(), nn.Dropout(dropout[2]),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(f3 * L, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_features))
        self.seq_len, self.n_features = seq_len, n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(tower.forward(self.conv, x, self.training))

    def ism_parts(self):
        """(conv tower, finish(first-dense pre-activation), first dense layer, flatten is
        position-major) for local ISM."""
        return self.conv, self.head[2:], self.head[1], False
