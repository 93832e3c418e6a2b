"""Multi-head self-attention with a fused fast path and an explicit path that returns weights.

Mask convention (one meaning everywhere in attnviz, the same as HuggingFace's
`attention_mask` and the boolean `attn_mask` of `scaled_dot_product_attention`):
`attention_mask[b, t]` is True when token t of sequence b is real and takes part,
False for padding. `causal=True` additionally hides every key after the query.
"""
from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AttentionOutput:
    """output: (B, T, d_model); weights: (B, H, T, T) softmax pattern per head, or None."""

    output: torch.Tensor
    weights: torch.Tensor | None = None


def allowed_keys(attention_mask: torch.Tensor | None, causal: bool, seq_len: int,
                 device: torch.device) -> torch.Tensor | None:
    """Boolean (B or 1, 1, T, T) mask, True where a query may attend to a key; None if all may."""
    allowed = None
    if attention_mask is not None:
        allowed = attention_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T)
    if causal:
        lower = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()  # (T, T)
        allowed = lower[None, None] if allowed is None else allowed & lower
    return allowed


class MultiHeadSelfAttention(nn.Module):
    """Q/K/V projections (one fused linear, laid out like nn.MultiheadAttention.in_proj),
    scaled dot product per head, dropout on the weights in training, one output projection."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
                causal: bool = False, need_weights: bool = False, *,
                ablate: Collection[int] = (), edit_context=None) -> AttentionOutput:
        """x: (B, T, d_model); attention_mask: (B, T) bool, True = real token.

        ablate: heads of this layer switched off for this call only: their context vectors are
        zeroed before the output projection, which then gets nothing from them (its bias is kept).
        edit_context: (B, H, T, d_head) -> (B, H, T, d_head), applied to the contexts after ablation
        (attnviz.nn.edit: activation patching); None leaves them as they are.
        """
        batch, seq_len, _ = x.shape
        q, k, v = self.qkv(x).split(self.d_model, dim=-1)  # 3 x (B, T, d)
        q, k, v = (t.view(batch, seq_len, self.n_heads, self.head_dim).transpose(1, 2)
                   for t in (q, k, v))  # (B, H, T, d_head)
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            context, weights = self._explicit(q, k, v, attention_mask, causal, dropout_p)
        else:
            context = self._fused(q, k, v, attention_mask, causal, dropout_p)
        if ablate:
            keep = torch.ones(self.n_heads, dtype=context.dtype, device=context.device)
            keep[list(ablate)] = 0.0
            context = context * keep[None, :, None, None]  # (B, H, T, d_head), the heads' contexts zeroed
        if edit_context is not None:
            context = edit_context(context)
        # (B', T, d); B' = B unless edit_context widened a batch of one (activation patching)
        context = context.transpose(1, 2).reshape(context.shape[0], seq_len, self.d_model)
        return AttentionOutput(self.out(context), weights)

    def query_key(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-head query and key vectors this module forms from x: (B, T, d_model) ->
        two (B, H, T, d_head); the same projections forward uses (nothing is stored)."""
        batch, seq_len, _ = x.shape
        q, k, _ = self.qkv(x).split(self.d_model, dim=-1)  # 2 x (B, T, d)
        return tuple(t.view(batch, seq_len, self.n_heads, self.head_dim).transpose(1, 2)
                     for t in (q, k))  # (B, H, T, d_head)

    def _fused(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               attention_mask: torch.Tensor | None, causal: bool, dropout_p: float) -> torch.Tensor:
        """scaled_dot_product_attention: no (T x T) matrix is kept (flash / memory-efficient kernels)."""
        if attention_mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal)
        allowed = allowed_keys(attention_mask, causal, q.shape[2], q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)

    def _explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  attention_mask: torch.Tensor | None, causal: bool,
                  dropout_p: float) -> tuple[torch.Tensor, torch.Tensor]:
        """softmax(Q K^T / sqrt(d_head) + mask) V, returning the pattern of every head."""
        scores = (q / math.sqrt(self.head_dim)) @ k.transpose(-2, -1)  # (B, H, T, T)
        allowed = allowed_keys(attention_mask, causal, q.shape[2], q.device)
        if allowed is not None:
            scores.masked_fill_(~allowed, float("-inf"))
        pattern = torch.softmax(scores, dim=-1).nan_to_num_(0.0)  # a row with no allowed key -> zeros
        dropped = F.dropout(pattern, p=dropout_p) if dropout_p > 0 else pattern
        return dropped @ v, pattern  # (B, H, T, d_head), (B, H, T, T)

    def load_from_torch(self, mha: nn.MultiheadAttention) -> None:
        """Copy the parameters of a `torch.nn.MultiheadAttention` (same layout) into this module."""
        with torch.no_grad():
            self.qkv.weight.copy_(mha.in_proj_weight)
            self.out.weight.copy_(mha.out_proj.weight)
            if self.qkv.bias is not None:
                self.qkv.bias.copy_(mha.in_proj_bias)
                self.out.bias.copy_(mha.out_proj.bias)
