"""The generation timeline: for each generated token, the attention the model paid when it chose it
(the causal pattern's row of the token before it, which a causal model computes the same way
whatever comes later) beside the candidates of that step."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from attnviz import plots
from attnviz.plots_attention import BAR_HEIGHT, _finish, _thin, _token_label
from attnviz.trace import AttentionTrace
from attnviz.ui.core import index_picker
from attnviz.ui.views import plot


def sampling_caption(result: dict) -> str:
    """Every sampling setting of a run, in words."""
    top_k = result.get("top_k", 0)
    top_p = result.get("top_p", 1.0)
    return (f"temperature {result['temperature']}"
            + (" (greedy)" if result["temperature"] == 0 else "")
            + f", top-k {top_k if top_k else 'off'}, top-p {top_p if top_p < 1 else 'off'}, seed {result['seed']}")


def step_positions(trace: AttentionTrace, steps: list[dict]) -> list[int] | None:
    """Trace position of each generated token, or None when the trace's last tokens are not them
    (a tokenizer that splits the text differently when it reads it again)."""
    first = len(trace.tokens) - len(steps)
    if first < 1:
        return None
    positions = list(range(first, len(trace.tokens)))
    same = all(trace.tokens[p] == str(step["chosen"]) for p, step in zip(positions, steps))
    return positions if same else None


def step_attention_figure(trace: AttentionTrace, layer: int, position: int, step: int) -> go.Figure:
    """The row of the token before `position` in one layer (mean over heads): what the model read
    when it chose the token at `position`."""
    row = trace.weights[layer, :, position - 1, :position].mean(axis=0)  # (position,)
    labels = [_token_label(t) for t in trace.tokens[:position]]
    fig = go.Figure(go.Bar(x=list(range(position)), y=row, customdata=[f"#{i} {t}" for i, t in enumerate(labels)],
                           hovertemplate="%{customdata}: %{y:.4f}<extra></extra>", marker_color="#1f77b4"))
    shown = _thin(position)
    fig.update_xaxes(title="context token", tickmode="array", tickvals=shown, ticktext=[labels[i] for i in shown])
    fig.update_yaxes(title="weight (mean over heads)", range=[0, max(0.05, float(row.max()) * 1.1)])
    chosen = _token_label(trace.tokens[position])
    return _finish(fig, f"Step {step}: choosing {chosen}, layer {layer} looked at", BAR_HEIGHT)


@st.fragment
def timeline_view(trace: AttentionTrace, result: dict) -> None:
    """A step slider; for that step the attention row and the candidates side by side."""
    st.subheader("Timeline: what the model looked at for each new token")
    st.caption(f"Sampling: {sampling_caption(result)}.")
    steps = result["sampled"]
    positions = step_positions(trace, steps)
    if not steps or positions is None:
        st.info("The generated tokens cannot be lined up with the text as the model reads it again "
                "(it was cut to the context or split differently), so there is no timeline for this run.")
        return
    left, right = st.columns(2)
    step = index_picker("Step", len(steps), "generation_timeline_step", left)
    layer = index_picker("Layer", trace.n_layers, f"generation_timeline_layer_{trace.n_layers}", right)
    attention_col, candidates_col = st.columns(2)
    with attention_col:
        plot(step_attention_figure(trace, layer, positions[step], step), key="generation_timeline_attention")
    with candidates_col:
        candidates = steps[step]["candidates"]
        plot(plots.probability_bar([c for c, _ in candidates], [p for _, p in candidates],
                                   title=f"Step {step}: the candidates (chosen: {steps[step]['chosen']!r})"),
             key="generation_timeline_candidates")
    if np.isclose(trace.weights[layer, :, positions[step] - 1].sum(axis=-1), 1.0).all():
        st.caption("Each bar is a weight of the row that chose this token; the row sums to 1.")
