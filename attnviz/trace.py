"""AttentionTrace: the one container every view draws from, for our models and HF ones."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

ROW_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class AttentionTrace:
    """Attention weights of one sentence through one model.

    weights: float32 array [layers, heads, query, key]; each row (over keys) sums to 1.
    tokens: the key tokens as the model saw them (display form).
    query_tokens: the query tokens; the same as `tokens` for self-attention.
    causal: True when the model is a decoder (every weight above the diagonal is 0).
    """

    weights: np.ndarray
    tokens: list[str]
    query_tokens: list[str] | None = None
    causal: bool = False
    model_name: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        weights = np.asarray(self.weights, dtype=np.float32)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "tokens", [str(t) for t in self.tokens])
        if self.query_tokens is None:
            object.__setattr__(self, "query_tokens", list(self.tokens))
        if weights.ndim != 4:
            raise ValueError(f"weights must be [layers, heads, query, key], got shape {weights.shape}")
        n_layers, n_heads, n_query, n_key = weights.shape
        if n_key != len(self.tokens):
            raise ValueError(f"weights have {n_key} keys but there are {len(self.tokens)} tokens")
        if n_query != len(self.query_tokens):
            raise ValueError(f"weights have {n_query} queries but there are {len(self.query_tokens)} query tokens")
        if n_layers == 0 or n_heads == 0 or n_key == 0:
            raise ValueError(f"an attention trace needs at least one layer, head and token, got {weights.shape}")
        if not np.isfinite(weights).all():
            raise ValueError("attention weights contain NaN or infinity")
        row_sums = weights.sum(axis=-1)
        worst = float(np.abs(row_sums - 1.0).max())
        if worst > ROW_SUM_TOLERANCE:
            raise ValueError(f"attention rows must sum to 1 (worst row is off by {worst:.4f})")

    @property
    def n_layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.weights.shape[1])

    def head(self, layer: int, head: int) -> np.ndarray:
        """One head's pattern [query, key]."""
        return self.weights[layer, head]

    def mean_over_heads(self, layer: int) -> np.ndarray:
        """The layer's pattern averaged over heads [query, key] (rows still sum to 1)."""
        return self.weights[layer].mean(axis=0)

    def to_records(self) -> list[dict]:
        """One row per (layer, head, query, key): for CSV download or a DataFrame."""
        rows = []
        for layer in range(self.n_layers):
            for head in range(self.n_heads):
                for q, q_tok in enumerate(self.query_tokens):
                    for k, k_tok in enumerate(self.tokens):
                        rows.append({
                            "layer": layer, "head": head,
                            "query_index": q, "query_token": q_tok,
                            "key_index": k, "key_token": k_tok,
                            "weight": float(self.weights[layer, head, q, k]),
                        })
        return rows

    def to_json(self) -> str:
        """Exact numbers and tokens as JSON (weights nested [layer][head][query][key])."""
        return json.dumps({
            "model": self.model_name,
            "tokens": self.tokens,
            "query_tokens": self.query_tokens,
            "causal": self.causal,
            "shape": list(self.weights.shape),
            "weights": self.weights.tolist(),
        })
