"""Attention rollout (Abnar & Zuidema 2020): how attention mixes tokens across the whole stack."""
from __future__ import annotations

import numpy as np

from attnviz.errors import InputError
from attnviz.trace import AttentionTrace


def rollout(trace: AttentionTrace, residual: float = 0.5) -> np.ndarray:
    """(layers, query, key): R_1 = A'_1 and R_l = A'_l @ R_(l-1), with A'_l = r I + (1 - r) mean over
    heads of layer l, rows renormalised. Every row of R_l sums to 1; a causal trace stays
    lower-triangular (a product of lower-triangular matrices)."""
    if not isinstance(trace, AttentionTrace):
        raise InputError(f"trace must be an AttentionTrace (bundle.trace(text)), got {type(trace).__name__}")
    if isinstance(residual, bool) or not isinstance(residual, (int, float)) or not 0.0 <= residual <= 1.0:
        raise InputError(f"residual must be a number in [0, 1], got {residual!r}")
    weights = trace.weights.astype(np.float64)  # (L, H, Q, K)
    n_query, n_key = weights.shape[2:]
    if n_query != n_key:
        raise ValueError(f"rollout needs self-attention (as many queries as keys), got {n_query} x {n_key}")
    mixed = residual * np.eye(n_key) + (1.0 - residual) * weights.mean(axis=1)  # (L, T, T)
    mixed /= mixed.sum(axis=-1, keepdims=True)
    out = np.empty_like(mixed)
    out[0] = mixed[0]
    for layer in range(1, len(mixed)):
        out[layer] = mixed[layer] @ out[layer - 1]  # (T, T) @ (T, T)
    return out
