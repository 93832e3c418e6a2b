"""The query/key view (BertViz's neuron view): for one head and one query token, the query vector,
every key vector, their elementwise product, and the scores before (q·k/√d) and after the softmax."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attnviz.plots.attention import MAX_TICK_LABELS, _finish, _thin, _token_label
from attnviz.bundles.query_key import QueryKey

VECTOR_SCALE = "RdBu_r"
# plotly gives subplot titles to the cells that exist (None cells take none), row by row
PANEL_TITLES = ("query q", "keys k", "q ⊙ k", "q·k / √d", "softmax")
MAX_BARS = 128  # more keys than this: the score and weight panels are one step line each, not a bar per key


def query_key_figure(qk: QueryKey, query: int) -> go.Figure:
    """Top: the query vector. Below, one row per key token: k, q ⊙ k, the score and the weight."""
    if not 0 <= query < len(qk.tokens):
        raise IndexError(f"query {query} out of range: there are {len(qk.tokens)} tokens")
    n_keys, d_head = qk.k.shape
    product = qk.k * qk.q[query][None, :]  # (K, d): summed and scaled, a row gives the score
    scores, pattern = qk.scores(query), qk.pattern(query)
    visible = np.isfinite(scores)
    keys = [f"#{i} {_token_label(t)}" for i, t in enumerate(qk.tokens)]
    limit = float(max(np.abs(qk.q).max(), np.abs(qk.k).max(), 1e-6))
    product_limit = float(max(np.abs(product).max(), 1e-6))
    fig = make_subplots(rows=2, cols=4, shared_yaxes=True, row_heights=[0.08, 0.92], vertical_spacing=0.04,
                        column_widths=[0.34, 0.34, 0.16, 0.16], horizontal_spacing=0.02,
                        specs=[[{"colspan": 2}, None, None, None], [{}, {}, {}, {}]],
                        subplot_titles=PANEL_TITLES)  # one title per drawn cell
    query_label = keys[query]
    fig.add_heatmap(z=qk.q[query][None, :], y=[query_label], colorscale=VECTOR_SCALE, zmid=0.0,
                    zmin=-limit, zmax=limit, showscale=False, row=1, col=1,
                    hovertemplate="q[%{x}] = %{z:.3f}<extra></extra>")
    fig.add_heatmap(z=qk.k, y=keys, colorscale=VECTOR_SCALE, zmid=0.0, zmin=-limit, zmax=limit,
                    showscale=False, row=2, col=1, hovertemplate="%{y}: k[%{x}] = %{z:.3f}<extra></extra>")
    fig.add_heatmap(z=product, y=keys, colorscale=VECTOR_SCALE, zmid=0.0, zmin=-product_limit,
                    zmax=product_limit, showscale=False, row=2, col=2,
                    hovertemplate="%{y}: q[%{x}]·k[%{x}] = %{z:.3f}<extra></extra>")
    if n_keys <= MAX_BARS:
        fig.add_bar(x=np.where(visible, scores, 0.0), y=keys, orientation="h", row=2, col=3, showlegend=False,
                    marker_color=["#1f77b4" if v else "#cccccc" for v in visible],
                    hovertemplate="%{y}: score %{x:.3f}<extra></extra>")
        fig.add_bar(x=pattern, y=keys, orientation="h", row=2, col=4, showlegend=False, marker_color="#08519c",
                    hovertemplate="%{y}: weight %{x:.4f}<extra></extra>")
    else:  # one SVG path per panel instead of a shape per key: far less for the browser to redraw
        _step_line(fig, np.where(visible, scores, np.nan), keys, "#1f77b4", "score %{x:.3f}", col=3)
        _step_line(fig, pattern, keys, "#08519c", "weight %{x:.4f}", col=4)
    shown = [keys[i] for i in _thin(n_keys, MAX_TICK_LABELS)]
    fig.update_yaxes(type="category", autorange="reversed", tickmode="array", tickvals=shown, row=2, col=1)
    fig.update_yaxes(type="category", row=1, col=1)
    # the query row spans two panels, so its dimension numbers sat on the "keys k" and "q ⊙ k" titles below
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_xaxes(title="dimension", row=2, col=1)
    fig.update_xaxes(title="dimension", row=2, col=2)
    fig.update_xaxes(range=[0, 1], row=2, col=4)
    title = (f"Layer {qk.layer}, head {qk.head}: how {_token_label(qk.tokens[query])} (#{query}) "
             f"scores every key ({d_head} dimensions)")
    return _finish(fig, title, int(np.clip(200 + 16 * n_keys, 420, 1400)))


def _step_line(fig: go.Figure, values: np.ndarray, keys: list[str], colour: str, hover: str, col: int) -> None:
    """Values per key as a filled step line from 0 (looks like bars; NaN leaves a gap: a hidden key)."""
    fig.add_scatter(x=values, y=keys, mode="lines", line=dict(color=colour, width=1, shape="hvh"),
                    fill="tozerox", showlegend=False, connectgaps=False, row=2, col=col,
                    hovertemplate=f"%{{y}}: {hover}<extra></extra>")
