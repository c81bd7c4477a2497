"""Beluga (Zhou et al. 2018, the DeepSEA model inside ExPecto): six convolutions in three
pairs, 2000 bp in, 2002 chromatin features out."""
from __future__ import annotations

import torch
from torch import nn

from . import tower
from .deepsea import conv_out


class Beluga(nn.Module):
    """Pairs of 'valid' convolutions (width 8) with ReLU: 320, 320 | 480, 480 | 640, 640;
    dropout 0.2 and max-pool 4 after the first two pairs, dropout 0.5 after the last;
    flatten (channel-major, 106 x 640 for 2000 bp), dense 2003 + ReLU, dense to the features
    (logits). Layer indices match the published PyTorch release, so its weights map one to
    one (``dnaseq import-weights``).
    """

    def __init__(self, seq_len: int = 2000, n_features: int = 2002, conv_width: int = 8,
                 filters=(320, 480, 640), pool: int = 4, dropout=(0.2, 0.2, 0.5), hidden: int = 2003):
        super().__init__()
        L = seq_len
        for i in range(3):
            L = conv_out(conv_out(L, conv_width), conv_width)
            if i < 2:
                L //= pool
        if L < 1:
            raise ValueError(f"Beluga needs longer inputs than {seq_len} bp")
        layers, channels = [], 4
        for i, f in enumerate(filters):
            layers += [nn.Conv1d(channels, f, conv_width), nn.ReLU(), nn.Conv1d(f, f, conv_width), nn.ReLU()]
            layers.append(nn.Dropout(dropout[i]))
            if i < 2:
                layers.append(nn.MaxPool1d(pool))
            channels = f
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * L, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_features))
        self.seq_len, self.n_features = seq_len, n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(tower.forward(self.conv, x, self.training))

    def ism_parts(self):
        """(conv tower, finish(first-dense pre-activation), first dense layer, flatten is
        position-major) for local ISM, as DeepSEA's."""
        return self.conv, self.head[2:], self.head[1], False
