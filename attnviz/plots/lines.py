"""The line view (BertViz's head view) in plotly: query tokens in a left column, key tokens in a right
column, a line from each query to each key it attends to, thicker and darker for more weight, one
colour per head. Lines below `min_weight` are left out, and long texts keep only the strongest lines.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from attnviz.plots.attention import _check_layer, _finish, _plain, _token_label
from attnviz.trace import AttentionTrace

HEAD_COLOURS = qualitative.Plotly + qualitative.D3
WEIGHT_BANDS = (0.05, 0.15, 0.3, 0.5, 1.01)  # lines are drawn in these weight bands (width, opacity)
MAX_LINES = 4_000
ROW_PX = 18


def _band_segments(queries: np.ndarray, keys: np.ndarray) -> tuple[list, list]:
    """x and y lists of line segments (query at x=0 to key at x=1), separated by None."""
    xs: list = []
    ys: list = []
    for q, k in zip(queries.tolist(), keys.tolist()):
        xs += [0.0, 1.0, None]
        ys += [q, k, None]
    return xs, ys


def strongest_lines(weights: np.ndarray, rows: list[int], min_weight: float,
                    max_lines: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The lines of one head's [query, key] weights from these query rows: (query positions, keys,
    weights) of every weight >= min_weight, the strongest `max_lines` if there are more (then True)."""
    chosen = weights[rows]  # (rows, K)
    q_idx, k_idx = np.nonzero(chosen >= min_weight)
    values = chosen[q_idx, k_idx]
    cut = values.size > max_lines
    if cut:
        keep = np.argsort(values)[-max_lines:]
        q_idx, k_idx, values = q_idx[keep], k_idx[keep], values[keep]
    return np.asarray(rows)[q_idx], k_idx, values, cut


def line_view(trace: AttentionTrace, layer: int, heads: list[int], query: int | None = None,
              min_weight: float = 0.05, max_lines: int = MAX_LINES) -> tuple[go.Figure, str | None]:
    """Lines from queries (left) to keys (right) for the given heads of one layer.

    query: draw only this query's lines (None: every query). Returns the figure and a note when
    lines were left out beyond the `min_weight` cut.
    """
    for head in heads:
        _check_layer(trace, layer, head)
    n_query, n_key = len(trace.query_tokens), len(trace.tokens)
    if query is not None and not 0 <= query < n_query:
        raise IndexError(f"query {query} out of range: there are {n_query} query tokens")
    fig = go.Figure()
    note = None
    rows = [query] if query is not None else list(range(n_query))
    per_head = max(1, max_lines // max(1, len(heads)))
    for head in heads:
        colour = HEAD_COLOURS[head % len(HEAD_COLOURS)]
        q_pos, k_idx, values, cut = strongest_lines(trace.weights[layer, head], rows, min_weight, per_head)
        if cut:
            note = (f"Only the {per_head:,} strongest lines of each head are drawn "
                    "(pick one query token to see all of its lines).")
        low = min_weight
        for band, high in enumerate(WEIGHT_BANDS):
            inside = (values >= low) & (values < high)
            low = high
            if not inside.any():
                continue
            xs, ys = _band_segments(q_pos[inside], k_idx[inside])
            fig.add_scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", legendgroup=f"h{head}",
                            name=f"head {head}", showlegend=False,
                            line=dict(color=colour, width=0.5 + 1.5 * band), opacity=0.25 + 0.18 * band)
        fig.add_scatter(x=[None], y=[None], mode="lines", name=f"head {head}", legendgroup=f"h{head}",
                        line=dict(color=colour, width=3))
    fig.add_scatter(x=[0.0] * n_query, y=list(range(n_query)), mode="text", showlegend=False,
                    text=[_token_label(t) for t in trace.query_tokens], textposition="middle left",
                    hovertemplate="query #%{y} %{text}<extra></extra>")
    fig.add_scatter(x=[1.0] * n_key, y=list(range(n_key)), mode="text", showlegend=False,
                    text=[_token_label(t) for t in trace.tokens], textposition="middle right",
                    hovertemplate="key #%{y} %{text}<extra></extra>")
    fig.update_xaxes(visible=False, range=[-0.6, 1.6])
    # a fixed range, first token at the top: autorange padded long texts with a blank band above
    fig.update_yaxes(visible=False, autorange=False, range=[max(n_query, n_key) - 0.5, -0.5])
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    name = f"{_plain(trace.model_name)}: " if trace.model_name else ""
    height = int(np.clip(120 + ROW_PX * max(n_query, n_key), 360, 9000))
    return _finish(fig, f"{name}layer {layer}, lines of head(s) {', '.join(map(str, heads))}", height), note
