"""All figures of attnviz in one place: attention, candidates and positional figures (re-exported from
plots_attention and plots_positional) plus the charts of model outputs and training here.

Every function is pure: it takes data and returns a plotly `go.Figure`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from attnviz.plots.attention import (
    BAR_HEIGHT,
    _finish,
    _plain,
    _token_label,
    attention_to_token_bar,
    diff_heatmap,
    empty_figure,
    head_heatmap,
    mean_heatmap,
    model_view,
)
from attnviz.plots.candidates import candidates_figure
from attnviz.plots.positional import (
    offset_similarity,
    positional_curves,
    positional_heatmap,
    positional_similarity,
    wavelength_figure,
)
from attnviz.plots.titles import finish_wrapped

__all__ = [
    "attention_to_token_bar", "candidates_figure", "diff_heatmap", "head_heatmap", "mean_heatmap",
    "model_view", "offset_similarity", "positional_curves", "positional_heatmap", "positional_similarity",
    "probability_bar", "training_chart", "wavelength_figure",
]

TRAINING_HEIGHT = 380


def probability_bar(labels: Sequence[str], probs: Sequence[float], title: str = "Probabilities") -> go.Figure:
    """Horizontal bars on 0..1, the first label at the top (repeated labels keep their own bar)."""
    if len(labels) != len(probs):
        raise ValueError(f"got {len(labels)} labels but {len(probs)} probabilities")
    positions = list(range(len(labels)))
    names = [_token_label(label) for label in labels]
    values = [float(p) for p in probs]
    fig = go.Figure(go.Bar(x=values, y=positions, orientation="h", customdata=names,
                           text=[f"{p:.3f}" for p in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{customdata}: %{x:.4f}<extra></extra>"))
    # room right of 1.0 for a label like "0.998" (it was cut at the plot's edge), ticks only to 1
    fig.update_xaxes(title="probability", range=[0, 1.18], tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    fig.update_yaxes(tickmode="array", tickvals=positions, ticktext=names, autorange="reversed")
    return finish_wrapped(fig, _plain(title), BAR_HEIGHT)


def _number(value: object) -> float | None:
    """A finite float, or None for a missing / NaN value."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def training_chart(history: Sequence[dict], metric_name: str = "dev metric") -> go.Figure:
    """Training loss over steps, and the dev metric (rows that have one) on a second y axis.

    history rows: {"step", "loss", "lr", optionally "dev_metric"}; lr shows in the loss hover.
    """
    if not history:
        return empty_figure("Training", "no training history yet", TRAINING_HEIGHT)
    missing = [key for key in ("step", "loss") if key not in history[0]]
    if missing:
        raise ValueError(f"history rows need keys 'step' and 'loss'; the first row lacks {missing}")
    steps = [int(row["step"]) for row in history]
    few = len(steps) <= 20  # markers too, so a run of a few steps still shows its points and line
    fig = go.Figure(go.Scatter(x=steps, y=[_number(row["loss"]) for row in history],
                               mode="lines+markers" if few else "lines",
                               name="loss", customdata=[_number(row.get("lr")) for row in history],
                               hovertemplate="step %{x}: loss %{y:.4f}, lr %{customdata:.2e}<extra></extra>"))
    dev = [(int(row["step"]), _number(row.get("dev_metric"))) for row in history]
    dev = [(step, value) for step, value in dev if value is not None]
    name = _plain(metric_name)
    if dev:
        fig.add_scatter(x=[s for s, _ in dev], y=[v for _, v in dev], mode="lines+markers", name=name,
                        yaxis="y2", hovertemplate=f"step %{{x}}: {name} %{{y:.4f}}<extra></extra>")
    # a metric that lives in [0, 1] (accuracy, F1) gets that whole range, with rounded ticks
    unit = bool(dev) and all(0.0 <= v <= 1.0 for _, v in dev)
    metric_axis = dict(title=name, overlaying="y", side="right", showgrid=False, tickformat=".2f",
                       **({"range": [0, 1], "dtick": 0.2} if unit else {}))
    fig.update_layout(xaxis=dict(title="step", tickformat="d"), yaxis=dict(title="loss", tickformat=".3~f"),
                      yaxis2=metric_axis,
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return _finish(fig, "Training", TRAINING_HEIGHT)
