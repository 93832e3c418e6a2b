"""The generation charts: the timeline's row over the window at its run-on positions, and candidate
cells that hold the token only (probability and the whole token on hover)."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz import plots
from attnviz.plots.timeline import step_attention_figure


def test_step_figure_puts_the_row_at_its_positions_in_the_text():
    row = np.array([0.1, 0.2, 0.7], dtype=np.float16)
    fig = step_attention_figure(row, ["a", " ", "<b>"], 40, 12, "\n", "layer 1, head 0")
    assert list(fig.data[0].x) == [40, 41, 42]
    np.testing.assert_allclose(fig.data[0].y, [0.1, 0.2, 0.7], atol=1e-3)
    assert list(fig.layout.xaxis.ticktext) == ["a", "␣", "&lt;b&gt;"]
    assert fig.layout.title.text == "Step 12: choosing ⏎, layer 1, head 0 looked at"
    with pytest.raises(ValueError, match="2 keys"):
        step_attention_figure(row, ["a", "b"], 0, 0, "c", "layer 0")


def test_candidate_cells_hold_the_token_and_hover_the_probability():
    steps = [{"chosen": "Ġextraordinarily", "candidates": [("Ġextraordinarily", 0.71), ("a", 0.29)]}] * 20
    fig = plots.candidates_figure(steps, first_step=180)
    heat = fig.data[0]
    assert heat.texttemplate == "%{text}"  # no probabilities printed in the cells
    assert heat.text[0][0] == "<b>␣extra…</b>" and heat.text[1][0] == "a"  # byte-level markers read as ␣
    assert list(heat.customdata[0][0]) == [1, "␣extraordinarily"]  # rank and whole (readable) token on hover
    assert "%{z:.4f}" in heat.hovertemplate and "%{customdata[1]}" in heat.hovertemplate
    assert heat.textfont.size >= 13
    assert list(fig.layout.xaxis.tickvals) == list(range(180, 200))


def test_a_session_keeps_head_means_past_the_budget():
    from attnviz.ui.generation_view import kept_rows, step_row

    rng = np.random.default_rng(0)
    rows = [rng.dirichlet(np.ones(w), size=(3, 4)).astype(np.float16) for w in (5, 6, 7)]  # (L=3, H=4, W)
    same, averaged = kept_rows(rows, budget=10**6)
    assert not averaged and same is rows
    small, averaged = kept_rows(rows, budget=100)
    assert averaged and [r.shape for r in small] == [(3, 1, 5), (3, 1, 6), (3, 1, 7)]
    for full, kept in zip(rows, small):
        np.testing.assert_allclose(step_row(kept, 2, None), full[2].astype(np.float32).mean(0), atol=1e-3)
        np.testing.assert_allclose(step_row(full, 2, 1), full[2, 1], atol=0)
