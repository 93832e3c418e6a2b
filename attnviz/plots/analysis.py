"""Figures of the analyses (attribution strips, per-head grids). Pure: data in, `go.Figure` out.

Token labels are user text and pass through `_token_label` (whitespace made visible, HTML escaped).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.plots.attention import DIFF_SCALE, HOVER_DECIMALS, _finish, _plain, _token_label

STRIP_ROW_HEIGHT = 46
MAX_STRIP_TOKENS = 400  # longer inputs show their first tokens (the page says so)


def attribution_strips(tokens: Sequence[str], rows: Mapping[str, Sequence[float]],
                       title: str = "Which tokens matter") -> go.Figure:
    """One strip per method (rows) over the tokens (columns), each strip scaled by its own largest
    |score| so methods on different scales can be compared: red adds to the target, blue takes away."""
    names = list(rows)
    if not names:
        raise ValueError("no attribution to draw")
    n = min(len(tokens), MAX_STRIP_TOKENS)
    raw = np.array([np.asarray(rows[name], dtype=np.float64)[:n] for name in names])  # (methods, n)
    if raw.shape[1] != n:
        raise ValueError(f"every strip needs {n} scores, one per token")
    scale = np.abs(raw).max(axis=1, keepdims=True)
    shown = raw / np.where(scale > 0, scale, 1.0)
    labels = [_token_label(t) for t in tokens[:n]]
    hover = [[f"{_plain(name)}<br>#{i} {labels[i]}<br>score {raw[r, i]:.{HOVER_DECIMALS}f}"
              for i in range(n)] for r, name in enumerate(names)]
    fig = go.Figure(go.Heatmap(z=shown, x=list(range(n)), y=list(range(len(names))), zmin=-1, zmax=1, zmid=0,
                               colorscale=DIFF_SCALE, text=hover, hoverinfo="text",
                               colorbar=dict(title=dict(text="share of row max", side="right"), thickness=14)))
    fig.update_xaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, showgrid=False)
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(names))), ticktext=[_plain(m) for m in names],
                     autorange="reversed", showgrid=False)
    return _finish(fig, _plain(title), 140 + STRIP_ROW_HEIGHT * len(names))


def head_grid(values: np.ndarray, title: str, colorbar_title: str = "value", diverging: bool = True,
              highlight: Sequence[tuple[int, int]] = ()) -> go.Figure:
    """A (layers, heads) grid: rows are layers (0 at the top), columns heads; cells in `highlight`
    (for example heads switched off) are marked with a cross."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"a head grid is (layers, heads), got shape {values.shape}")
    n_layers, n_heads = values.shape
    limit = float(np.abs(values).max()) or 1.0
    options = dict(zmin=-limit, zmax=limit, zmid=0, colorscale=DIFF_SCALE) if diverging else \
        dict(zmin=0, zmax=limit, colorscale="Blues")
    hover = [[f"layer {l}, head {h}<br>{_plain(colorbar_title)} {values[l, h]:.{HOVER_DECIMALS}f}"
              for h in range(n_heads)] for l in range(n_layers)]
    fig = go.Figure(go.Heatmap(z=values, x=list(range(n_heads)), y=list(range(n_layers)), text=hover,
                               hoverinfo="text", colorbar=dict(title=_plain(colorbar_title)), **options))
    if highlight:
        fig.add_trace(go.Scatter(x=[h for _, h in highlight], y=[l for l, _ in highlight], mode="markers",
                                 marker=dict(symbol="x", size=12, color="black"), name="switched off",
                                 hoverinfo="skip"))
    fig.update_xaxes(title="head", tickmode="array", tickvals=list(range(n_heads)), showgrid=False)
    fig.update_yaxes(title="layer", tickmode="array", tickvals=list(range(n_layers)), autorange="reversed",
                     showgrid=False)
    return _finish(fig, _plain(title), 160 + 28 * n_layers)
