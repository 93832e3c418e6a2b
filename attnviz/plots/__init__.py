"""All figures of attnviz in one place: attention and positional figures (re-exported from
plots_attention and plots_positional) plus the charts of model outputs and training here.

Every function is pure: it takes data and returns a plotly `go.Figure`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.plots.attention import (
    BAR_HEIGHT,
    _finish,
    _plain,
    _token_label,
    _visible,
    attention_to_token_bar,
    diff_heatmap,
    head_heatmap,
    mean_heatmap,
    model_view,
)
from attnviz.plots.positional import (
    offset_similarity,
    positional_curves,
    positional_heatmap,
    positional_similarity,
    wavelength_figure,
)

__all__ = [
    "attention_to_token_bar", "candidates_figure", "diff_heatmap", "head_heatmap", "mean_heatmap",
    "model_view", "offset_similarity", "positional_curves", "positional_heatmap", "positional_similarity",
    "probability_bar", "training_chart", "wavelength_figure",
]

CANDIDATES_HEIGHT = 420
CELL_CHARS = 7  # a cell shows a token of up to 7 characters
CELL_FONT_SIZE = 14
TRAINING_HEIGHT = 380


def _empty(title: str, message: str, height: int) -> go.Figure:
    """A blank figure saying why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _finish(fig, title, height)


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
    return _finish(fig, _plain(title), BAR_HEIGHT)


def _cut(label: str) -> str:
    """A cell's token, at most CELL_CHARS characters (the whole token is on hover)."""
    return label if len(label) <= CELL_CHARS else label[:CELL_CHARS - 1] + "…"


def candidates_figure(steps: Sequence[dict], *, first_step: int = 0) -> go.Figure:
    """Top-k candidates of each generation step as a table: x = step (chosen token below), y = rank.

    steps: [{"chosen": str, "candidates": [(token, prob), ...]}, ...], candidates best first.
    Each cell shows the candidate token (cut to CELL_CHARS characters), coloured by probability
    (0..1); the probability and the whole token are on hover; the chosen candidate is bold.
    Whitespace is made visible (␣, ⏎, ⇥). Steps are numbered from first_step (a window of a longer
    run keeps the run's numbers).
    """
    if not steps:
        return _empty("Candidates per step", "no generation steps", CANDIDATES_HEIGHT)
    depth = max(len(step["candidates"]) for step in steps)
    z = np.full((max(depth, 1), len(steps)), np.nan)
    text = [["" for _ in steps] for _ in range(max(depth, 1))]
    hover = [[[r + 1, ""] for _ in steps] for r in range(max(depth, 1))]  # rank, whole token
    for s, step in enumerate(steps):
        for r, (token, prob) in enumerate(step["candidates"]):
            label = _plain(_cut(_visible(str(token))))
            z[r, s] = float(prob)
            text[r][s] = f"<b>{label}</b>" if str(token) == str(step["chosen"]) else label
            hover[r][s] = [r + 1, _token_label(token)]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", colorscale="Blues",
                               textfont=dict(size=CELL_FONT_SIZE, family="monospace"),
                               x=list(range(first_step, first_step + len(steps))),
                               zmin=0.0, zmax=1.0, hoverongaps=False, xgap=2, ygap=2,
                               hovertemplate=("step %{x}, rank %{customdata[0]}: %{customdata[1]} (%{z:.4f})"
                                              "<extra></extra>"),
                               customdata=hover, colorbar=dict(title=dict(text="probability"))))
    fig.update_xaxes(title="step (chosen token)", tickmode="array",
                     tickvals=list(range(first_step, first_step + len(steps))),
                     ticktext=[f"{first_step + s}: {_token_label(step['chosen'])}" for s, step in enumerate(steps)],
                     showgrid=False)
    fig.update_yaxes(title="rank", tickmode="array", tickvals=list(range(z.shape[0])),
                     ticktext=[str(r + 1) for r in range(z.shape[0])], autorange="reversed", showgrid=False)
    return _finish(fig, "Candidates per step", CANDIDATES_HEIGHT)


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
        return _empty("Training", "no training history yet", TRAINING_HEIGHT)
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
