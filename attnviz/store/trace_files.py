"""The exact attention weights as files to download: CSV, JSON and compressed NumPy for a whole trace,
and one head as gzip-compressed CSV or JSON (for long texts, whose whole trace is too big for text)."""
from __future__ import annotations

import gzip
import io
import json

import numpy as np

from attnviz.text import display
from attnviz.trace import AttentionTrace


def records_frame(trace: AttentionTrace, layer: int | None = None, head: int | None = None):
    """The same table as trace.to_records() (plus the tokens' display form), built with numpy (fast for
    big traces); a DataFrame. With layer and head: only that head's rows (its own indices kept)."""
    import pandas as pd  # only when a CSV is asked for: pages that never need pandas skip its memory

    weights = trace.weights  # (layers, heads, queries, keys)
    layers, heads = np.arange(trace.n_layers), np.arange(trace.n_heads)
    if layer is not None and head is not None:
        _check_head(trace, layer, head)
        weights = weights[layer:layer + 1, head:head + 1]  # (1, 1, queries, keys)
        layers, heads = np.array([layer]), np.array([head])
    n_query, n_key = weights.shape[2:]
    layer_of, head_of, query, key = np.meshgrid(layers, heads, np.arange(n_query), np.arange(n_key), indexing="ij")
    query_tokens, key_tokens = np.asarray(trace.query_tokens, dtype=object), np.asarray(trace.tokens, dtype=object)
    query_display = np.asarray([display.readable_token(t) for t in trace.query_tokens], dtype=object)
    key_display = np.asarray([display.readable_token(t) for t in trace.tokens], dtype=object)
    return pd.DataFrame({
        "layer": layer_of.ravel(), "head": head_of.ravel(),
        "query_index": query.ravel(), "query_token": query_tokens[query.ravel()],
        "key_index": key.ravel(), "key_token": key_tokens[key.ravel()],
        "query_display": query_display[query.ravel()], "key_display": key_display[key.ravel()],
        "weight": weights.astype(np.float64).ravel(),
    })


def trace_csv(trace: AttentionTrace) -> str:
    """One row per (layer, head, query, key) with the exact weight: the columns of to_records()."""
    return records_frame(trace).to_csv(index=False)


def trace_json(trace: AttentionTrace) -> str:
    """trace.to_json() plus the tokens' display form ("Ġthe" -> "␣the") beside the raw tokens."""
    return json.dumps({**json.loads(trace.to_json()), **_display_tokens(trace)})


def trace_npz(trace: AttentionTrace) -> bytes:
    """The exact weights (float32, [layer, head, query, key]) and both token lists in one compressed
    NumPy file: np.load(file) gives weights, tokens, query_tokens. For traces too big for CSV/JSON."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weights=trace.weights.astype(np.float32), tokens=np.asarray(trace.tokens, dtype=str),
                        query_tokens=np.asarray(trace.query_tokens, dtype=str),
                        display_tokens=np.asarray([display.readable_token(t) for t in trace.tokens], dtype=str))
    return buffer.getvalue()


def head_csv_gz(trace: AttentionTrace, layer: int, head: int) -> bytes:
    """One head's rows of trace_csv (the same columns), gzip-compressed: pandas.read_csv reads it as is."""
    return gzip.compress(records_frame(trace, layer, head).to_csv(index=False).encode(), compresslevel=6)


def head_json_gz(trace: AttentionTrace, layer: int, head: int) -> bytes:
    """One head as gzip-compressed JSON: tokens (raw and as shown) and weights[query][key]."""
    _check_head(trace, layer, head)
    data = {"model": trace.model_name, "layer": layer, "head": head, "causal": trace.causal,
            "tokens": trace.tokens, "query_tokens": trace.query_tokens, **_display_tokens(trace),
            "weights": trace.head(layer, head).astype(np.float64).tolist()}
    return gzip.compress(json.dumps(data).encode(), compresslevel=6)


def _display_tokens(trace: AttentionTrace) -> dict[str, list[str]]:
    """The tokens as the app shows them ("Ġthe" -> "␣the"), keys and queries."""
    return {"display_tokens": [display.readable_token(t) for t in trace.tokens],
            "display_query_tokens": [display.readable_token(t) for t in trace.query_tokens]}


def _check_head(trace: AttentionTrace, layer: int, head: int) -> None:
    if not (0 <= layer < trace.n_layers and 0 <= head < trace.n_heads):
        raise ValueError(f"Layer {layer}, head {head} does not exist: the trace has {trace.n_layers} layers "
                         f"of {trace.n_heads} heads.")
