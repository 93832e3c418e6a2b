"""App tests of the explorer's scalable views: a 500-piece text stays under 5 MB of page elements,
the grid picks a head on click, the whole view comes back from the URL, the line view draws the
chosen head, and the offline HTML file holds plotly.js and the shown figures."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.ui.explorer_view import offline_html
from test_app import array, assert_clean, charts, flippers, minilm, open_page, texts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_explorer import page_bytes, sentence  # noqa: E402

MAX_PAGE_BYTES = 5_000_000


@pytest.fixture(scope="module")
def minilm_bundle():
    return attnviz.load(minilm())


def click_grid(at, layer: int, head: int):
    """What the browser sends when a head of the grid is clicked: the chart's selection state."""
    grid = next(e for e in at.get("plotly_chart") if e.proto.id.endswith("explorer_model_view"))
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = grid.proto.id
    state.string_value = json.dumps({"selection": {"points": [{"customdata": [layer, head], "curve_number": 1}],
                                                   "point_indices": [0], "box": [], "lasso": []}})
    return at._run(states)


def pick_in_flipper(at, layer: int, head: int, nonce: str):
    """What the browser sends when a head is picked in the head flipper: the component's state."""
    flipper = next(e for e in at.get("bidi_component") if e.proto.component_name == "attnviz_head_flipper")
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = flipper.proto.id
    state.json_value = json.dumps({"pick": {"layer": layer, "head": head, "nonce": nonce}})
    return at._run(states)


def test_500_pieces_stay_under_5_mb_also_after_a_head_move(minilm_bundle):
    """A long text goes to the head flipper: the grid and every head of the layer as picture URLs (the
    pictures themselves are fetched over HTTP), each head's top and the tokens; a few KB a rerun."""
    text = sentence(minilm_bundle, 1, 500)
    n_tokens = len(minilm_bundle.encode(text).tokens)
    assert n_tokens >= 480
    at = open_page("explorer", model=minilm(), text=text)
    assert_clean(at)
    assert page_bytes(at) <= MAX_PAGE_BYTES
    assert "explorer_head" not in charts(at) and "explorer_model_view" not in charts(at)
    data = flippers(at)["explorer_flipper"]
    assert (data["layer"], data["head"]) == (0, 0) and data["title"] == "All heads: all-MiniLM-L6-v2"
    assert len(data["heads"]) == 12 and len(set(data["heads"])) == 12
    assert all("/media/" in url and url.endswith(".png") for url in [data["grid"]["url"], *data["heads"]])
    assert len(data["queries"]) == len(data["keys"]) == n_tokens
    trace = minilm_bundle.trace(text)
    assert np.allclose(data["tops"], trace.weights[0].max(axis=(1, 2)), atol=1e-5)
    assert len(json.dumps(data)) < 50_000
    next(s for s in at.slider if s.label == "Head").set_value(7)
    at.run()
    assert_clean(at)
    assert flippers(at)["explorer_flipper"]["head"] == 7
    assert at.query_params["head"] == "7"
    assert page_bytes(at) <= MAX_PAGE_BYTES


def test_a_head_picked_in_the_flipper_moves_the_sliders_and_the_link(minilm_bundle):
    at = open_page("explorer", model=minilm(), text=sentence(minilm_bundle, 1, 300))
    assert_clean(at)
    at = pick_in_flipper(at, 2, 9, "page-1")
    assert_clean(at)
    assert next(s for s in at.slider if s.label == "Layer").value == 2
    assert next(s for s in at.slider if s.label == "Head").value == 9
    assert at.query_params["layer"] == "2" and at.query_params["head"] == "9"
    data = flippers(at)["explorer_flipper"]
    assert (data["layer"], data["head"], data["nonce"]) == (2, 9, "page-1")  # the page knows it is heard
    at = pick_in_flipper(at, 7, 99, "page-2")  # not a head of this model: ignored
    assert_clean(at)
    assert (flippers(at)["explorer_flipper"]["layer"], flippers(at)["explorer_flipper"]["head"]) == (2, 9)


def test_a_long_texts_views_go_to_the_browser_with_every_head_of_the_layer(minilm_bundle):
    """Past 128 tokens the line and query/key views are drawn by the page (layer_views.js) from the
    layer's packed lines and q/k: no plotly figure for them, their controls still Streamlit widgets."""
    at = open_page("explorer", model=minilm(), text=sentence(minilm_bundle, 1, 300), lines="1", qk="1",
                   layer="2", head="4")
    assert_clean(at)
    views = next(json.loads(e.proto.json) for e in at.get("bidi_component")
                 if e.proto.component_name == "attnviz_layer_views")
    assert (views["layer"], views["head"]) == (2, 4)
    assert "/media/" in views["lines"]["url"] and views["lines"]["extra"] == []
    assert len(views["lines"]["cut"]) == 12 and views["qk"]["query"] == 0 and "/media/" in views["qk"]["url"]
    assert "explorer_lines" not in charts(at) and "explorer_qk" not in charts(at)
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Query token")).set_value(5)
    at.multiselect(key=next(m.key for m in at.multiselect if m.label.startswith("Other heads"))).set_value([1, 7])
    at.run()
    assert_clean(at)
    views = next(json.loads(e.proto.json) for e in at.get("bidi_component")
                 if e.proto.component_name == "attnviz_layer_views")
    assert views["qk"]["query"] == 5 and views["lines"]["extra"] == [1, 7]


def test_clicking_a_head_in_the_grid_picks_and_outlines_it():
    at = open_page("explorer", model=minilm(), text="The cat sat on the mat.")
    assert_clean(at)
    click_grid(at, 4, 7)
    assert_clean(at)
    figures = charts(at)
    assert figures["explorer_head"]["layout"]["title"]["text"] == "Layer 4, head 7"
    assert next(s for s in at.slider if s.label == "Layer").value == 4
    assert next(s for s in at.slider if s.label == "Head").value == 7
    outline = figures["explorer_model_view"]["layout"]["shapes"][0]
    targets = figures["explorer_model_view"]["data"][1]
    x, y = next((px, py) for px, py, data in zip(targets["x"], targets["y"], targets["customdata"])
                if data == [4, 7])
    assert outline["x0"] < x < outline["x1"] and outline["y0"] < y < outline["y1"]
    assert at.query_params["layer"] == "4" and at.query_params["head"] == "7"


def test_a_link_with_layer_head_and_toggles_opens_that_view():
    at = open_page("explorer", model=minilm(), text="unbelievably good embeddings", layer="3", head="5",
                   hide_special="1", merge="1")
    assert_clean(at)
    assert at.toggle(key="explorer_hide_special").value and at.toggle(key="explorer_merge").value
    head = charts(at)["explorer_head"]
    assert head["layout"]["title"]["text"] == "Layer 3, head 5"
    labels = " ".join(head["layout"]["xaxis"]["ticktext"])
    assert "[CLS]" not in labels and "unbelievably" in labels
    next(s for s in at.slider if s.label == "Layer").set_value(1)
    at.toggle(key="explorer_merge").set_value(False)
    at.run()
    assert at.query_params["layer"] == "1" and at.query_params["head"] == "5"
    assert at.query_params["hide_special"] == "1" and "merge" not in at.query_params


def test_a_text_too_long_for_the_link_is_said_so():
    at = open_page("explorer", model=minilm())
    at.text_area(key="explorer_text").set_value("word " * 1_500).run()
    assert_clean(at)
    assert "text" not in at.query_params
    assert any("too long" in value and "link" in value for value, _ in texts(at))


def test_merge_says_when_there_are_no_pieces():
    at = open_page("explorer", model=minilm(), text="the cat sat", merge="1")
    assert_clean(at)
    assert any("no word pieces to merge" in value for value, _ in texts(at))


def test_line_view_draws_the_chosen_head(minilm_bundle):
    text = "The animal did not cross the street because it was tired."
    at = open_page("explorer", model=minilm(), text=text, layer="2", head="9")
    assert_clean(at)
    query = 3
    at.toggle(key="explorer_lines_on").set_value(True).run()
    at.selectbox(key=f"explorer_lines_query_{len(minilm_bundle.encode(text).tokens)}").set_value(query).run()
    assert_clean(at)
    lines = charts(at)["explorer_lines"]
    assert "layer 2" in lines["layout"]["title"]["text"] and "head(s) 9" in lines["layout"]["title"]["text"]
    drawn = set()
    for trace in lines["data"]:
        if trace.get("mode") == "lines" and trace.get("x") and trace["x"][0] is not None:
            ys = trace["y"]
            drawn |= {(ys[i], ys[i + 1]) for i in range(0, len(ys), 3)}
    weights = minilm_bundle.trace(text).weights[2, 9, query]
    assert drawn == {(query, k) for k in np.nonzero(weights >= 0.05)[0].tolist()}


def test_offline_html_inlines_plotly_and_holds_both_figures():
    at = open_page("explorer", model=minilm(), text="The cat sat on the mat.", layer="1", head="2")
    assert_clean(at)
    import plotly.graph_objects as go
    figures = charts(at)
    html = offline_html([go.Figure(figures["explorer_model_view"]), go.Figure(figures["explorer_head"])])
    assert not re.search(r"<script[^>]*\bsrc=", html)  # no script is fetched: plotly.js is inline
    assert len(html) > 3_000_000  # plotly.js itself is inside
    assert "Layer 1, head 2" in html and "All heads" in html


def test_query_key_view_shows_the_chosen_head_and_query(minilm_bundle):
    text = "The animal did not cross the street because it was tired."
    at = open_page("explorer", model=minilm(), text=text, layer="1", head="4")
    assert_clean(at)
    n = len(minilm_bundle.encode(text).tokens)
    assert "explorer_qk" not in charts(at)  # built only when asked for
    at.toggle(key="explorer_qk_on").set_value(True).run()
    at.selectbox(key=f"explorer_qk_query_{n}").set_value(5).run()
    assert_clean(at)
    figure = charts(at)["explorer_qk"]
    assert figure["layout"]["title"]["text"].startswith("Layer 1, head 4")
    softmax = next(t for t in figure["data"] if t["type"] == "bar" and t.get("marker", {}).get("color") == "#08519c")
    expected = minilm_bundle.trace(text).weights[1, 4, 5]
    np.testing.assert_allclose(array(softmax["x"]), expected, atol=1e-4)


def test_generation_timeline_shows_the_row_of_the_chosen_step():
    from test_app import _generate, model_for
    entry = model_for("lm")
    at = open_page("generation", model=entry.name)
    text = _generate(at, max_new=30, temperature=1.0, seed=3, top_k=10)
    assert any("top-k 10" in value and "seed 3" in value for value, _ in texts(at))
    at.slider(key="generation_timeline_step").set_value(12)
    layer_key = next(s.key for s in at.slider if s.key.startswith("generation_timeline_layer"))
    at.slider(key=layer_key).set_value(1)
    at.run()
    assert_clean(at)
    figures = charts(at)
    bars = figures["generation_timeline_attention"]
    assert bars["layout"]["title"]["text"].startswith("Step 12: choosing")
    bundle = attnviz.load(entry.source)
    trace = bundle.trace(text)
    position = len(trace.tokens) - 30 + 12  # the 13th new token
    expected = trace.weights[1, :, position - 1, :position].mean(axis=0)
    np.testing.assert_allclose(array(bars["data"][0]["y"]), expected, atol=1e-3)  # recorded as float16
    assert figures["generation_timeline_candidates"]["layout"]["title"]["text"].startswith("Step 12:")


def test_sentiment_page_reads_layer_and_head_from_the_link():
    from test_app import model_for
    entry = model_for("sentiment")
    at = open_page("sentiment", model=entry.name, text="a warm and funny film", layer="1", head="3")
    assert_clean(at)
    assert charts(at)["sentiment_head"]["layout"]["title"]["text"] == "Layer 1, head 3"
    next(s for s in at.slider if s.label == "Head").set_value(2)
    at.run()
    assert at.query_params["head"] == "2" and at.query_params["layer"] == "1"
