"""Figures of faithfulness and patching: deletion curves, the scoreboard's intervals, patching heatmaps and
the minimal-pair A/B view of one head. Pure: data in, `go.Figure` out; token labels are escaped."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from attnviz.plots.attention import DIFF_SCALE, HOVER_DECIMALS, _finish, _plain, _token_label

CURVE_POINTS = np.linspace(0, 100, 11)


def deletion_curves(curves: Mapping[str, Sequence[float]], title: str = "Deletion curves") -> go.Figure:
    """Probability of the prediction after deleting each method's top 0, 10, ..., 100 % of tokens (lower and
    faster falling: the method found what matters)."""
    fig = go.Figure()
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        fig.add_trace(go.Scatter(x=CURVE_POINTS[:len(values)], y=values, mode="lines+markers", name=_plain(name),
                                 line=dict(dash="dot" if name == "random" else "solid"),
                                 hovertemplate=f"{_plain(name)}<br>top %{{x:.0f}} % deleted<br>"
                                               f"p = %{{y:.{HOVER_DECIMALS}f}}<extra></extra>"))
    fig.update_xaxes(title="top tokens deleted (%)", range=[0, 100])
    fig.update_yaxes(title="probability of the prediction", rangemode="tozero")
    return _finish(fig, _plain(title), 380)


def scoreboard(table: pd.DataFrame, metric: str = "comprehensiveness_aopc",
               title: str = "Comprehensiveness (AOPC) with 95 % intervals") -> go.Figure:
    """One bar per method for `metric`, with its bootstrap interval as error bars, best first."""
    rows = table[table.metric == metric].sort_values("value", ascending=False)
    fig = go.Figure(go.Bar(
        x=[_plain(m) for m in rows.method], y=rows.value,
        error_y=dict(type="data", symmetric=False, array=rows.ci_high - rows.value, arrayminus=rows.value - rows.ci_low),
        marker_color=["#999999" if m == "random" else "#d62728" for m in rows.method],
        hovertemplate="%{x}<br>%{y:.3f}<extra></extra>"))
    fig.update_yaxes(title=_plain(metric))
    return _finish(fig, _plain(title), 360)


def patching_heatmap(restored: np.ndarray, tokens: Sequence[str] | None, title: str) -> go.Figure:
    """Fraction of the gap restored: (layers + 1, positions) with tokens on x, or (layers, heads)."""
    restored = np.asarray(restored, dtype=np.float64)
    n_rows, n_cols = restored.shape
    if tokens is not None:
        labels = [_token_label(t) for t in tokens[:n_cols]]
        rows = [f"into layer {l}" if l < n_rows - 1 else "output" for l in range(n_rows)]
        hover = [[f"{rows[l]}, #{i} {labels[i]}<br>restored " + ("not aligned" if np.isnan(restored[l, i])
                  else f"{restored[l, i]:.{HOVER_DECIMALS}f}") for i in range(n_cols)] for l in range(n_rows)]
        x_title, y_title = "position in the corrupt text", "residual stream"
    else:
        hover = [[f"layer {l}, head {h}<br>restored {restored[l, h]:.{HOVER_DECIMALS}f}" for h in range(n_cols)]
                 for l in range(n_rows)]
        x_title, y_title, labels, rows = "head", "layer", list(range(n_cols)), list(range(n_rows))
    limit = max(1.0, float(np.nanmax(np.abs(restored))) if np.isfinite(restored).any() else 1.0)
    fig = go.Figure(go.Heatmap(z=restored, x=list(range(n_cols)), y=list(range(n_rows)), zmin=-limit, zmax=limit,
                               zmid=0, colorscale=DIFF_SCALE, text=hover, hoverinfo="text",
                               colorbar=dict(title="restored")))
    fig.update_xaxes(title=x_title, tickmode="array", tickvals=list(range(n_cols)), ticktext=labels, showgrid=False)
    fig.update_yaxes(title=y_title, tickmode="array", tickvals=list(range(n_rows)), ticktext=[str(r) for r in rows],
                     autorange="reversed", showgrid=False)
    return _finish(fig, _plain(title), 180 + 22 * n_rows)


def pair_head_panels(weights_a: np.ndarray, weights_b: np.ndarray, tokens_a: Sequence[str],
                     tokens_b: Sequence[str]) -> list[go.Figure]:
    """One head's attention among the aligned tokens (queries x keys) as three figures: in A, in B, and
    B − A. Separate figures so a page can put them side by side and a phone can stack them (three
    panels in one 390 px chart left each token 8 px and drew B's labels over A)."""
    labels_a = [_token_label(t) for t in tokens_a]
    labels_b = [_token_label(t) for t in tokens_b]
    difference = weights_b - weights_a
    limit = max(float(np.abs(difference).max()), 1e-6)  # its own range: differences are often small
    panels = [("A", weights_a, labels_a, "Blues", 0.0, 1.0), ("B", weights_b, labels_b, "Blues", 0.0, 1.0),
              (f"B − A (colours ±{limit:.2g})", difference, labels_b, DIFF_SCALE, -limit, limit)]
    figures = []
    for name, z, labels, scale, low, high in panels:
        n = len(labels)
        hover = [[f"{labels[q]} → {labels[k]}<br>{z[q, k]:+.{HOVER_DECIMALS}f}" for k in range(n)] for q in range(n)]
        fig = go.Figure(go.Heatmap(z=z, zmin=low, zmax=high, colorscale=scale, text=hover, hoverinfo="text",
                                   colorbar=dict(thickness=10)))
        fig.update_xaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, showgrid=False)
        fig.update_yaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, autorange="reversed",
                         showgrid=False)
        figures.append(_finish(fig, name, 220 + 18 * n))
    return figures
