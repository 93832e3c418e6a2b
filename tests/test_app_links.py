"""Links and views of issues 19 and 20 (C1): URL numbers are read by one strict ASCII-digit rule on
every page (a bad one falls back to the default with a notice, never a traceback); the line view
follows the head slider; the line and query/key toggles live in the URL."""
from __future__ import annotations

import pytest

from attnviz.ui.url_state import heads_from_url, parse_index
from test_app import assert_clean, charts, minilm, model_for, open_page

HOSTILE = ["²", "--1", "-1", "+1", "٣", "1e3", "0x1", " 3 ", "9999999", "", "1.5", "①"]


def warnings(at) -> list[str]:
    return [plain(w.value) for w in at.warning]


def plain(markdown: str) -> str:
    """The text a person reads (markdown escapes removed)."""
    return markdown.replace("\\", "")


@pytest.mark.parametrize("raw, expected", [("3", 3), (" 3 ", 3), ("007", 7), ("²", None), ("--1", None),
                                           ("-1", None), ("+1", None), ("٣", None), ("①", None),
                                           ("1e3", None), ("9999999", None), ("", None), (None, None)])
def test_parse_index_takes_ascii_digits_only(raw, expected):
    assert parse_index(raw) == expected


def test_heads_from_url_keeps_valid_pairs_and_names_the_rest():
    assert heads_from_url("3.9, 0.1") == ({(3, 9), (0, 1)}, [])
    assert heads_from_url("².1,1.--1,2.3,7") == ({(2, 3)}, ["².1", "1.--1", "7"])


@pytest.mark.parametrize("page", ["explorer", "sentiment", "ner"])
@pytest.mark.parametrize("query", [{"layer": "²"}, {"head": "--1"}, {"layer": "٣", "head": "①"}])
def test_bad_layer_or_head_in_a_link_falls_back_with_a_notice(page, query):
    entry = minilm() if page == "explorer" else model_for(page).name
    at = open_page(page, model=entry, **query)
    assert_clean(at)
    for param in query:
        assert any(f"{param}=" in w and "is not a whole number" in w for w in warnings(at)), warnings(at)
    heads = [c for k, c in charts(at).items() if k.endswith("_head")]
    assert heads and heads[0]["layout"]["title"]["text"].startswith("Layer 0, head 0")


def test_why_reads_off_strictly_and_says_what_it_skipped():
    at = open_page("why", task="sentiment", text="The film was not good at all.", off="².1,0.1,99.0")
    assert_clean(at)
    assert any("off=" in w and "².1" in w and "99.0" in w for w in map(plain, warnings(at))), warnings(at)
    assert at.query_params["off"] == "0.1"  # the valid pair is kept, the rest dropped


def test_line_view_follows_the_head_slider():
    at = open_page("explorer", model=minilm(), text="The cat sat on the mat.", layer="1", head="7")
    at.toggle(key="explorer_lines_on").set_value(True).run()
    assert "head(s) 7" in charts(at)["explorer_lines"]["layout"]["title"]["text"]
    next(s for s in at.slider if s.label == "Head").set_value(9).run()
    assert_clean(at)
    assert charts(at)["explorer_head"]["layout"]["title"]["text"] == "Layer 1, head 9"
    assert charts(at)["explorer_lines"]["layout"]["title"]["text"].endswith("head(s) 9")


def test_line_and_query_key_toggles_go_into_the_link_and_come_back():
    at = open_page("explorer", model=minilm(), text="The cat sat on the mat.")
    at.toggle(key="explorer_lines_on").set_value(True).run()
    at.toggle(key="explorer_qk_on").set_value(True).run()
    assert at.query_params["lines"] == "1" and at.query_params["qk"] == "1"
    again = open_page("explorer", model=minilm(), text="The cat sat on the mat.", lines="1", qk="1")
    assert_clean(again)
    assert {"explorer_lines", "explorer_qk"} <= set(charts(again))


def test_heads_opens_on_a_word_level_model():
    at = open_page("heads")
    assert at.selectbox(key="heads_model").value == "sentiment"


def test_missing_data_on_a_web_page_names_no_command_line_flag(monkeypatch, tmp_path):
    import streamlit as st
    monkeypatch.setenv("ATTNVIZ_DATA", str(tmp_path / "nowhere"))
    st.cache_data.clear()  # the corpora read by earlier tests in this process
    at = open_page("heads")
    shown = " ".join(warnings(at))
    assert "ATTNVIZ_DATA" in shown and "--data" not in shown, shown


def test_a_512_token_trace_is_offered_as_a_compressed_numpy_file():
    """Regression (issue 19): CSV/JSON were disabled at 512 tokens with advice to hide special tokens."""
    import io

    import numpy as np

    from attnviz.trace import AttentionTrace
    from attnviz.ui.views import trace_npz
    weights = np.random.default_rng(1).dirichlet(np.ones(5), size=(2, 3, 5)).astype(np.float32)
    trace = AttentionTrace(weights=weights, tokens=list("abcde"))
    saved = np.load(io.BytesIO(trace_npz(trace)))
    np.testing.assert_array_equal(saved["weights"], weights)
    assert list(saved["tokens"]) == list("abcde") and list(saved["query_tokens"]) == list("abcde")

    text = " ".join(["word"] * 600)
    at = open_page("explorer", model=minilm(), text=text)
    assert_clean(at)
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert "Numbers (NumPy, compressed)" in buttons and not buttons["Numbers (NumPy, compressed)"].disabled
    assert {"Layer 0, head 0 (CSV, gzip)", "Layer 0, head 0 (JSON, gzip)"} <= set(buttons)  # the head shown as text
    assert not any(b.disabled for b in buttons.values())
    next(s for s in at.slider if s.label == "Head").set_value(5)
    at.run()
    assert "Layer 0, head 5 (CSV, gzip)" in {b.proto.label for b in at.get("download_button")}


@pytest.mark.parametrize("page", ["explorer", "sentiment", "ner"])
def test_the_main_area_points_to_the_model_picker(page):
    """On a phone the sidebar is closed: the main area names the model and where to change it."""
    at = open_page(page)
    assert_clean(at)
    assert any("Another model: the sidebar" in c.value for c in at.caption)
