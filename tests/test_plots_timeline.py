"""The generation charts: the timeline's row over the window at its run-on positions, and candidate
cells that hold the token only (probability and the whole token on hover)."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz import plots
from attnviz.plots.candidates import CLICK_HINT, cell_label, choice_of
from attnviz.plots.timeline import step_attention_figure, step_title


def test_step_figure_puts_the_row_at_its_positions_in_the_text():
    row = np.array([0.1, 0.2, 0.7], dtype=np.float16)
    fig = step_attention_figure(row, ["a", " ", "<b>"], 40, 12, "\n", "layer 1, head 0")
    assert list(fig.data[0].x) == [40, 41, 42]
    np.testing.assert_allclose(fig.data[0].y, [0.1, 0.2, 0.7], atol=1e-3)
    assert list(fig.layout.xaxis.ticktext) == ["a", "␣", "&lt;b&gt;"]
    assert fig.layout.title.text == "Step 12: choosing ⏎<br>layer 1, head 0 looked at"
    with pytest.raises(ValueError, match="2 keys"):
        step_attention_figure(row, ["a", "b"], 0, 0, "c", "layer 0")


def test_step_title_is_two_short_lines():
    """The title was one line cut at the edge of a half-page column ("…heads loo"): two lines now, each
    short enough for a phone-wide chart, with a long chosen token cut (the axis and hover have it)."""
    title = step_title(170, "Ġextraordinarily", "layer 29, mean over heads")
    first, second = title.split("<br>")
    assert first == "Step 170: choosing ␣extraordin…" and second == "layer 29, mean over heads looked at"
    assert max(len(first), len(second)) <= 36


def test_candidate_cells_hold_a_short_token_and_the_click_layer_hovers_the_whole_one():
    steps = [{"chosen": "Ġextraordinarily", "candidates": [("Ġextraordinarily", 0.71), ("a", 0.29)],
              "ids": [901, 65]}] * 20
    fig = plots.candidates_figure(steps, first_step=180)
    heat, layer = fig.data
    assert heat.texttemplate == "%{text}"  # no probabilities printed in the cells
    assert heat.text[0][0] == "␣extr…" and heat.text[1][0] == "a"  # byte-level markers read as ␣
    assert heat.textfont.size is None  # plotly sizes the text to the cells (no fixed size to overflow them)
    assert heat.hoverinfo == "skip"  # the click layer hovers instead
    assert layer.text[0].startswith("step 180, rank 1: ␣extraordinarily (0.7100)")
    assert layer.text[1].endswith(CLICK_HINT) and "the token taken" in layer.text[0]
    assert list(fig.layout.xaxis.tickvals) == list(range(180, 200))
    assert fig.layout.xaxis.ticktext[0] == "180: ␣extraordin…"


def test_the_click_layer_maps_each_cell_back_to_its_step_and_token_id():
    steps = [{"chosen": "b", "candidates": [("b", 0.6), ("c", 0.3), ("\n", 0.1)], "ids": [2, 3, 0]},
             {"chosen": "c", "candidates": [("c", 0.9), ("b", 0.1)], "ids": [3, 2]}]
    fig = plots.candidates_figure(steps, first_step=7)
    layer = fig.data[1]
    assert layer.type == "scatter" and layer.mode == "markers" and layer.marker.color == "rgba(0,0,0,0)"
    cells = list(zip(layer.x, layer.y, (tuple(d) for d in layer.customdata)))
    assert cells == [(7, 0, (7, 2)), (7, 1, (7, 3)), (7, 2, (7, 0)), (8, 0, (8, 3)), (8, 1, (8, 2))]
    # what a click sends back (Streamlit's selection point) maps to (step, token id)
    for x, y, data in cells:
        assert choice_of({"x": x, "y": y, "customdata": list(data)}) == data
    assert choice_of({"customdata": [7, None]}) is None  # a step without ids cannot branch
    assert choice_of({"x": 3}) is None and choice_of("nope") is None
    no_ids = plots.candidates_figure([{"chosen": "a", "candidates": [("a", 1.0)]}])
    assert [list(d) for d in no_ids.data[1].customdata] == [[0, None]]


def test_cell_labels_are_short_visible_and_escaped():
    assert cell_label(" the") == "␣the"
    assert cell_label("\n") == "⏎"
    assert cell_label("<b>bold") == "&lt;b&gt;bo…"  # cut first, then escaped: 6 visible characters
    assert cell_label("abcdef") == "abcdef" and cell_label("abcdefg") == "abcde…"


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
