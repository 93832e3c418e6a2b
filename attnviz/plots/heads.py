"""Figures for head statistics, corpus search and training replay (pure: data in, plotly figure out)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from attnviz.plots.attention import empty_figure

HEIGHT = 360


def _finish(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=title), height=height, margin=dict(l=60, r=20, t=50, b=50),
                      template="plotly_white")
    return fig


UNITS = {"entropy": "nats", "distance": "tokens"}


def statistic_heatmap(frame: pd.DataFrame, statistic: str) -> go.Figure:
    """Layer (rows) x head (columns) heatmap of one statistic; the hover names the head's role."""
    if frame.empty:
        return empty_figure(statistic, "no heads", HEIGHT)
    n_layers, n_heads = int(frame["layer"].max()) + 1, int(frame["head"].max()) + 1
    values = np.full((n_layers, n_heads), np.nan)
    roles = np.full((n_layers, n_heads), "", dtype=object)
    for row in frame.itertuples(index=False):
        values[row.layer, row.head] = getattr(row, statistic)
        roles[row.layer, row.head] = row.role
    unit = UNITS.get(statistic, "share of attention")
    fig = go.Figure(go.Heatmap(z=values, x=list(range(n_heads)), y=list(range(n_layers)), customdata=roles,
                               colorscale="Viridis", colorbar=dict(title=unit),
                               hovertemplate="layer %{y}, head %{x}<br>" + statistic
                               + " %{z:.3f}<br>role: %{customdata}<extra></extra>"))
    fig.update_layout(xaxis=dict(title="head", dtick=1), yaxis=dict(title="layer", dtick=1, autorange="reversed"))
    return _finish(fig, f"{statistic} ({unit})", max(220, 40 * n_layers + 120))


def loss_with_marker(loss: Sequence[tuple[int, float]], step: int) -> go.Figure:
    """The training loss over steps with a vertical line at `step`."""
    if not loss:
        return empty_figure("Training loss", "no loss was recorded", HEIGHT)
    fig = go.Figure(go.Scatter(x=[s for s, _ in loss], y=[v for _, v in loss], mode="lines", name="loss",
                               hovertemplate="step %{x}: loss %{y:.4f}<extra></extra>"))
    fig.add_vline(x=step, line_dash="dash", line_color="firebrick", annotation_text=f"step {step}")
    fig.update_layout(xaxis=dict(title="step"), yaxis=dict(title="training loss (running mean)"))
    return _finish(fig, "Training loss", 300)
