"""The generation timeline's attention chart: the row a step's newest token attended with, over
the keys of the window the model read at that step, at their positions in the whole text."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.plots.attention import BAR_HEIGHT, _finish, _thin, _tick_label, _token_label

TITLE_SIZE = 15  # two short lines fit a phone-wide column (~360 px)


def step_attention_figure(row: np.ndarray, keys: Sequence[str], first_position: int, step: int,
                          chosen: str, what: str) -> go.Figure:
    """row (W,): weights over the window's keys; keys: the W tokens of that window; first_position:
    where the window starts in the whole text (positions run on across steps); what: the layer
    and head(s) in words, e.g. "layer 1, mean over heads"."""
    row = np.asarray(row, dtype=np.float32)
    if row.ndim != 1 or len(row) != len(keys):
        raise ValueError(f"got {len(keys)} keys for a row of shape {row.shape}")
    positions = list(range(first_position, first_position + len(keys)))
    labels = [_token_label(k) for k in keys]
    fig = go.Figure(go.Bar(x=positions, y=np.round(row, 4), customdata=[f"#{p} {t}" for p, t in zip(positions, labels)],
                           hovertemplate="%{customdata}: %{y:.4f}<extra></extra>", marker_color="#1f77b4"))
    shown = _thin(len(keys))
    fig.update_xaxes(title="position in the text (the window read at this step)", tickmode="array",
                     tickvals=[positions[i] for i in shown], ticktext=[labels[i] for i in shown])
    fig.update_yaxes(title="weight", range=[0, max(0.05, float(row.max(initial=0)) * 1.1)])
    fig = _finish(fig, step_title(step, chosen, what), BAR_HEIGHT)
    fig.update_layout(title_font_size=TITLE_SIZE, margin=dict(t=80))  # room for the second line
    return fig


def step_title(step: int, chosen: str, what: str) -> str:
    """Two short lines, so the title is whole in a half-page column and on a phone: "Step 12: choosing
    ⏎" and "layer 1, head 0 looked at" (a long chosen token is cut; its axis and hover have it whole)."""
    return f"Step {step}: choosing {_tick_label(chosen)}<br>{what} looked at"
