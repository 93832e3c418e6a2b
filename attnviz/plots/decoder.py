"""Figures of a decoder at work: the logit lens grid, the text coloured by surprisal, and the
confidence of each generation step."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.plots.attention import _plain, _token_label, _visible
from attnviz.plots.titles import AXIS_CHARS, finish_wrapped, wrap

LENS_ROW_HEIGHT = 22
SURPRISAL_ROW_HEIGHT = 40
TOKENS_PER_LINE = 16
SURPRISAL_SCALE = "YlOrRd"
CELL_CHARS = 8


def _cell(token: object) -> str:
    """A token as a cell's text: visible, at most CELL_CHARS characters, escaped (hover has it whole)."""
    text = _visible(str(token))
    return _plain(text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…")


def logit_lens_figure(lens, first: int = 0, last: int | None = None) -> go.Figure:
    """Rows: embeddings, then each layer (the last one at the bottom); columns: positions first..last-1.
    Colour: the probability each row gives the token the full model finally predicts there; text: the
    row's top-1 token; hover: its top-k with probabilities and the final token's rank."""
    last = len(lens.tokens) if last is None else min(last, len(lens.tokens))
    columns = list(range(first, last))
    z = lens.final_prob[:, first:last]  # (rows, positions)
    text = [[_cell(lens.top_tokens[r, p, 0]) for p in columns] for r in range(len(lens.layers))]
    hover = []
    for r, row_name in enumerate(lens.layers):
        line = []
        for p in columns:
            top = "<br>".join(f"{_plain(str(t))}: {prob:.3f}" for t, prob in zip(lens.top_tokens[r, p], lens.top_probs[r, p]))
            line.append(f"{row_name}, after #{p} {_token_label(lens.tokens[p])}<br>top:<br>{top}<br>"
                        f"final prediction {_plain(str(lens.top_tokens[-1, p, 0]))}: p {lens.final_prob[r, p]:.3f}, "
                        f"rank {int(lens.final_rank[r, p])}")
        hover.append(line)
    fig = go.Figure(go.Heatmap(z=z, x=columns, y=list(range(len(lens.layers))), text=text, texttemplate="%{text}",
                               customdata=hover, hovertemplate="%{customdata}<extra></extra>", zmin=0, zmax=1,
                               colorscale="Blues", colorbar=dict(title="p(final)")))
    fig.update_xaxes(title=wrap("position (the token read; each column predicts the next one)", AXIS_CHARS),
                     tickmode="array",
                     tickvals=columns, ticktext=[_token_label(lens.tokens[p]) for p in columns], side="top")
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(lens.layers))), ticktext=list(lens.layers),
                     autorange="reversed")
    # room for the title above the token axis (and its two-line title) on top; the title at the very top
    fig = finish_wrapped(fig, "Logit lens: what each layer would predict next",
                         180 + LENS_ROW_HEIGHT * len(lens.layers), top=130)
    fig.update_layout(title=dict(yref="container", y=1, yanchor="top", pad=dict(t=12)))
    return fig


def surprisal_figure(result, per_line: int = TOKENS_PER_LINE, title: str = "Surprisal of each token") -> go.Figure:
    """The text as rows of tokens, each cell coloured by its surprisal in bits (the first token, with no
    prefix, blank); hover: the bits, the entropy of the prediction and the most likely alternatives."""
    n = len(result.tokens)
    lines = max(1, -(-n // per_line))
    z = np.full((lines, per_line), np.nan)
    text = [["" for _ in range(per_line)] for _ in range(lines)]
    hover = [["" for _ in range(per_line)] for _ in range(lines)]
    bits, entropy = result.bits, result.entropy / np.log(2)
    for i, token in enumerate(result.tokens):
        r, c = divmod(i, per_line)
        label = _token_label(token)
        text[r][c] = _cell(token)
        if i == 0 or np.isnan(bits[i]):
            hover[r][c] = f"#{i} {label}: the first token has no prefix to predict it from"
            continue
        z[r, c] = bits[i]
        others = "<br>".join(f"{_plain(t)}: {p:.3f}" for t, p in result.alternatives[i])
        hover[r][c] = (f"#{i} {label}: {bits[i]:.2f} bits (p {2 ** -bits[i]:.3f})<br>entropy before it "
                       f"{entropy[i]:.2f} bits<br>the model expected:<br>{others}")
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", customdata=hover,
                               hovertemplate="%{customdata}<extra></extra>", zmin=0, zmax=max(top, 1.0),
                               colorscale=SURPRISAL_SCALE, colorbar=dict(title="bits"), xgap=2, ygap=2))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    return finish_wrapped(fig, _plain(title), 150 + SURPRISAL_ROW_HEIGHT * lines)


def step_confidence_figure(probabilities: Sequence[float], entropies: Sequence[float], chosen: Sequence[str],
                           step: int | None = None) -> go.Figure:
    """Per generation step: the probability of the chosen token and the entropy (bits) of the model's
    distribution; `step` is marked."""
    steps = list(range(len(probabilities)))
    labels = [_token_label(t) for t in chosen]
    fig = go.Figure([go.Scatter(x=steps, y=list(probabilities), name="p(chosen)", mode="lines+markers",
                                customdata=labels, hovertemplate="step %{x} %{customdata}: p %{y:.3f}<extra></extra>"),
                     go.Scatter(x=steps, y=list(entropies), name="entropy (bits)", mode="lines", yaxis="y2",
                                hovertemplate="step %{x}: entropy %{y:.2f} bits<extra></extra>")])
    if step is not None and 0 <= step < len(steps):
        fig.add_vline(x=step, line_dash="dot", line_color="gray")
    fig.update_layout(yaxis=dict(title="p(chosen)", range=[0, 1.05]),
                      yaxis2=dict(title="entropy (bits)", overlaying="y", side="right", rangemode="tozero"),
                      xaxis=dict(title="step"), legend=dict(orientation="h", y=-0.25))
    return finish_wrapped(fig, "Each step: p(chosen token) and the model's uncertainty", 300)
