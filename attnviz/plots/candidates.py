"""The candidates chart of a generation: each step's top candidates as a grid of cells (x = step,
y = rank) coloured by probability, with a clickable layer on top.

Plotly heatmaps emit no point selections, so a transparent square marker sits on every candidate cell;
its customdata is (step, token id), which the generation page turns into a branch when the marker is
clicked. The markers carry the hover text too (the heatmap's own hover is off), so hovering a cell and
clicking it name the same candidate.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.plots.attention import _finish, _plain, empty_figure, _tick_label, _token_label, _visible

CANDIDATES_HEIGHT = 420
CELL_CHARS = 6            # a cell shows at most 6 characters ("␣extr…"); the hover has the whole token
CLICK_MARKER_SIZE = 36    # px: the transparent marker over each cell (a click picks the nearest one)
CHOSEN_OUTLINE = "#ff7f0e"
CLICK_HINT = "click to branch here"


def cell_label(token: object, limit: int = CELL_CHARS) -> str:
    """A token as a cell's text: visible (␣ for spaces, ⏎ for newlines), cut to `limit` characters with
    "…", then escaped. Plain text only: the cell font is sized by plotly from the longest label, so a tag
    like <b> would count as characters and shrink every cell."""
    text = _visible(str(token))
    return _plain(text if len(text) <= limit else text[:limit - 1] + "…")


def click_layer(steps: Sequence[dict], first_step: int = 0) -> go.Scatter:
    """One transparent square marker per candidate cell, at (step, rank index); customdata [step, token id]
    (the id is None when a step has no "ids"); text: the hover line of the cell."""
    xs, ys, data, hover = [], [], [], []
    for s, step in enumerate(steps):
        ids = list(step.get("ids") or [])
        for r, (token, prob) in enumerate(step["candidates"]):
            token_id = int(ids[r]) if r < len(ids) else None
            chosen = str(token) == str(step["chosen"])
            xs.append(first_step + s)
            ys.append(r)
            data.append([first_step + s, token_id])
            hover.append(f"step {first_step + s}, rank {r + 1}: {_token_label(token)} ({float(prob):.4f})<br>"
                         + ("the token taken" if chosen else CLICK_HINT if token_id is not None else ""))
    return go.Scatter(x=xs, y=ys, mode="markers", customdata=data, text=hover, name="candidates",
                      hovertemplate="%{text}<extra></extra>", showlegend=False,
                      marker=dict(symbol="square", size=CLICK_MARKER_SIZE, color="rgba(0,0,0,0)"),
                      selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)))


def choice_of(point: dict) -> tuple[int, int] | None:
    """A selected marker of the click layer -> (step, token id); None for anything else."""
    data = point.get("customdata") if isinstance(point, dict) else None
    if not isinstance(data, (list, tuple)) or len(data) < 2 or data[1] is None:
        return None
    try:
        return int(data[0]), int(data[1])
    except (TypeError, ValueError):
        return None


def candidates_figure(steps: Sequence[dict], *, first_step: int = 0) -> go.Figure:
    """Top-k candidates of each generation step as a table: x = step (chosen token below), y = rank.

    steps: [{"chosen": str, "candidates": [(token, prob), ...], "ids": [token id, ...]}, ...], candidates
    best first ("ids" optional: without them a cell cannot be clicked to branch). Each cell shows the
    candidate token (cut to CELL_CHARS characters, whitespace visible as ␣, ⏎, ⇥), coloured by probability
    (0..1); the text size fits the cells (plotly sizes it from the longest label and the cell width);
    the probability and the whole token are on hover; the chosen candidate is outlined. Steps are
    numbered from first_step (a window of a longer run keeps the run's numbers).
    """
    if not steps:
        return empty_figure("Candidates per step", "no generation steps", CANDIDATES_HEIGHT)
    depth = max(1, max(len(step["candidates"]) for step in steps))
    z = np.full((depth, len(steps)), np.nan)
    text = [["" for _ in steps] for _ in range(depth)]
    chosen_cells = []
    for s, step in enumerate(steps):
        for r, (token, prob) in enumerate(step["candidates"]):
            z[r, s] = float(prob)
            text[r][s] = cell_label(token)
            if str(token) == str(step["chosen"]):
                chosen_cells.append((first_step + s, r))
    columns = list(range(first_step, first_step + len(steps)))
    fig = go.Figure([go.Heatmap(z=z, x=columns, text=text, texttemplate="%{text}", colorscale="Blues",
                                textfont=dict(family="monospace"), zmin=0.0, zmax=1.0, hoverinfo="skip",
                                xgap=2, ygap=2, colorbar=dict(title=dict(text="probability"))),
                     click_layer(steps, first_step)])
    for x, r in chosen_cells:
        fig.add_shape(type="rect", x0=x - 0.5, x1=x + 0.5, y0=r - 0.5, y1=r + 0.5,
                      line=dict(color=CHOSEN_OUTLINE, width=2.5))
    fig.update_xaxes(title="step (chosen token, outlined)", tickmode="array", tickvals=columns, showgrid=False,
                     ticktext=[f"{first_step + s}: {_tick_label(step['chosen'])}" for s, step in enumerate(steps)],
                     range=[first_step - 0.5, first_step + len(steps) - 0.5], zeroline=False, fixedrange=True)
    fig.update_yaxes(title="rank", tickmode="array", tickvals=list(range(depth)), zeroline=False,
                     ticktext=[str(r + 1) for r in range(depth)], range=[depth - 0.5, -0.5], showgrid=False,
                     fixedrange=True)
    fig.update_layout(hovermode="closest")
    return _finish(fig, "Candidates per step", CANDIDATES_HEIGHT)
