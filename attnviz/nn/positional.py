"""Positional encodings: the fixed sinusoidal one of "Attention Is All You Need" and a learned one."""
from __future__ import annotations

import math

import torch
from torch import nn

SINUSOID_BASE = 10000.0


def sinusoidal_encoding(seq_len: int, d_model: int, base: float = SINUSOID_BASE) -> torch.Tensor:
    """PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)); shape [seq_len, d_model].

    Works for odd d_model too: the last (even) column is a sine with no cosine partner.
    """
    if seq_len < 0 or d_model < 1:
        raise ValueError(f"need seq_len >= 0 and d_model >= 1, got {seq_len}, {d_model}")
    position = torch.arange(seq_len, dtype=torch.float64).unsqueeze(1)  # (L, 1)
    even_dims = torch.arange(0, d_model, 2, dtype=torch.float64)  # 2i for every pair
    inverse_wavelength = torch.exp(-math.log(base) * even_dims / d_model)  # (ceil(d/2),)
    angles = position * inverse_wavelength  # (L, ceil(d/2))
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe.to(torch.float32)


def wavelengths(d_model: int, base: float = SINUSOID_BASE) -> torch.Tensor:
    """Wavelength (in positions) of every dimension: 2*pi * base^(2i/d) for dims 2i and 2i+1."""
    pair_index = torch.arange(d_model, dtype=torch.float64) // 2
    return (2 * math.pi * base ** (2 * pair_index / d_model)).to(torch.float32)


class SinusoidalPositions(nn.Module):
    """Adds the fixed sinusoidal encoding; stored as a non-persistent buffer (never saved)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.register_buffer("table", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d) -> x + PE[:T]."""
        seq_len = x.shape[1]
        if seq_len > self.table.shape[0]:
            raise ValueError(f"sequence of {seq_len} tokens is longer than the model's context ({self.table.shape[0]})")
        return x + self.table[:seq_len].to(x.dtype)


class LearnedPositions(nn.Module):
    """A trained embedding per position (as in BERT and GPT-2)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d) -> x + P[:T]."""
        seq_len = x.shape[1]
        if seq_len > self.table.num_embeddings:
            raise ValueError(f"sequence of {seq_len} tokens is longer than the model's context ({self.table.num_embeddings})")
        return x + self.table.weight[:seq_len].to(x.dtype)
