"""Feed-forward block and the encoder block (post-norm as in the paper, pre-norm as an option)."""
from __future__ import annotations

from collections.abc import Collection

import torch
import torch.nn.functional as F
from torch import nn

from attnviz.nn.attention import MultiHeadSelfAttention

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class FeedForward(nn.Module):
    """Linear(d, d_ff) -> activation -> dropout -> Linear(d_ff, d)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)
        self.activation = ACTIVATIONS[activation]
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.dropout(self.activation(self.up(x))))


class EncoderBlock(nn.Module):
    """Self-attention and feed-forward, each wrapped in a residual connection and a LayerNorm.

    Post-norm (norm_first=False): x = LN(x + Sublayer(x)), as in "Attention Is All You Need".
    Pre-norm (norm_first=True):   x = x + Sublayer(LN(x)), which trains more stably when deep.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attention = MultiHeadSelfAttention(d_model, n_heads, dropout)
        self.attention_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.feed_forward_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
                causal: bool = False, need_weights: bool = False, *,
                ablate: Collection[int] = (), edit_context=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, d) -> (B, T, d) and, if asked, the weights (B, H, T, T); ablate: heads switched off;
        edit_context: passed to the attention (see MultiHeadSelfAttention.forward)."""
        if self.norm_first:
            attended = self.attention(self.attention_norm(x), attention_mask, causal, need_weights, ablate=ablate,
                                      edit_context=edit_context)
            x = x + self.dropout(attended.output)
            x = x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))
        else:
            attended = self.attention(x, attention_mask, causal, need_weights, ablate=ablate,
                                      edit_context=edit_context)
            x = self.attention_norm(x + self.dropout(attended.output))
            x = self.feed_forward_norm(x + self.dropout(self.feed_forward(x)))
        return x, attended.weights
