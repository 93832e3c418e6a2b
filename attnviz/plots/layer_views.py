"""A long text's line and query/key views of every head of one layer, packed for the browser.

With these in the browser (attnviz/ui/layer_views.js), the views follow a head move at once, as the
head flipper's pictures do. Both are little-endian binaries (typed arrays read them without copying):

lines: uint32 n_heads, uint32 count[n_heads], then float32 weight[sum(count)], uint16 query[sum],
    uint16 key[sum], head after head: every weight >= min_weight of each head from the chosen query
    rows (the strongest max_lines per head, as the plotly line view draws them).
qk: uint32 n_heads, n_tokens, d_head, causal, then float16 q[n_heads, n_tokens, d_head] and float16
    k[n_heads, n_tokens, d_head]: the page computes q ⊙ k, q·k/√d and the softmax for the chosen query
    (float16 keeps each weight to ~1e-3 of the model's own).
"""
from __future__ import annotations

import numpy as np

from attnviz.bundles.query_key import QueryKey
from attnviz.plots.lines import MAX_LINES, strongest_lines
from attnviz.trace import AttentionTrace

MIN_WEIGHT = 0.05


def pack_lines(trace: AttentionTrace, layer: int, rows: list[int] | None = None, min_weight: float = MIN_WEIGHT,
               max_lines: int = MAX_LINES) -> bytes:
    """Every head's lines of `layer` (see the module docstring); rows: the query rows (all by default)."""
    if not 0 <= layer < trace.n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0 to {trace.n_layers - 1}")
    rows = list(range(len(trace.query_tokens))) if rows is None else rows
    heads = [strongest_lines(trace.weights[layer, h], rows, min_weight, max_lines)[:3] for h in range(trace.n_heads)]
    counts = np.array([len(w) for _, _, w in heads], dtype="<u4")
    parts = [np.array([trace.n_heads], dtype="<u4"), counts,
             *(w.astype("<f4") for _, _, w in heads),
             *(q.astype("<u2") for q, _, _ in heads),
             *(k.astype("<u2") for _, k, _ in heads)]
    return b"".join(part.tobytes() for part in parts)


def unpack_lines(data: bytes) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(queries, keys, weights) per head from `pack_lines` (what the page reads)."""
    n_heads = int(np.frombuffer(data, "<u4", 1)[0])
    counts = np.frombuffer(data, "<u4", n_heads, 4)
    total, offset = int(counts.sum()), 4 * (1 + n_heads)
    weights = np.frombuffer(data, "<f4", total, offset)
    queries = np.frombuffer(data, "<u2", total, offset + 4 * total)
    keys = np.frombuffer(data, "<u2", total, offset + 6 * total)
    ends = np.cumsum(counts)
    starts = ends - counts
    return [(queries[a:b], keys[a:b], weights[a:b]) for a, b in zip(starts, ends)]


def pack_query_keys(vectors: list[QueryKey]) -> bytes:
    """Every head's q and k of one layer (see the module docstring)."""
    q = np.stack([v.q for v in vectors]).astype("<f2")  # (H, T, d)
    k = np.stack([v.k for v in vectors]).astype("<f2")
    header = np.array([q.shape[0], q.shape[1], q.shape[2], int(vectors[0].causal)], dtype="<u4")
    return header.tobytes() + q.tobytes() + k.tobytes()
