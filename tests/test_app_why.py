"""App tests of the pages "Why this prediction?" and "Minimal pairs" (streamlit AppTest)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from attnviz.ui import escape_markdown
from conftest import REPO_ROOT
from test_app import HARD_INPUTS, UNESCAPED_SCRIPT, array, assert_clean, charts, minilm, model_for, open_page, texts

# the shipped sentiment model's shape, read from its config (the grid has one cell per head)
_SENTIMENT_MODEL = json.loads((REPO_ROOT / "checkpoints" / "sentiment" / "config.json").read_text())["model"]
SENTIMENT_LAYERS, SENTIMENT_HEADS = _SENTIMENT_MODEL["n_layers"], _SENTIMENT_MODEL["n_heads"]


def z_shape(trace: dict) -> tuple[int, ...]:
    """The shape of a heatmap's z, whether plotly sent it as nested lists or as a typed array."""
    z = trace["z"]
    if isinstance(z, dict):
        return tuple(int(n) for n in z["shape"].split(","))
    return (len(z), len(z[0]))


def probability(at) -> float:
    assert len(at.metric) == 1, [m.label for m in at.metric]
    return float(at.metric[0].value)


def head_key(at, layer: int, head: int) -> str:
    return next(c.key for c in at.checkbox if c.key.endswith(f"_{layer}_{head}"))


def assert_safe(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for value, allow_html in texts(at):
        assert not UNESCAPED_SCRIPT.search(value), f"unescaped script tag in {value[:200]!r}"
        if allow_html:
            assert "<script" not in value.lower()
    for figure in charts(at).values():
        assert "<script" not in json.dumps(figure).lower()


# -------------------------------------------------------------------------------- why this prediction

def test_why_shows_every_method_and_a_grid_of_heads():
    model_for("sentiment")
    at = open_page("why")
    assert_clean(at)
    strips = charts(at)["why_strips"]["data"][0]
    assert z_shape(strips)[0] == 5  # integrated gradients, gradient x input, rollout, raw attention, occlusion
    assert "Integrated gradients" in " ".join(charts(at)["why_strips"]["layout"]["yaxis"]["ticktext"])
    assert len(at.checkbox) == SENTIMENT_LAYERS * (SENTIMENT_HEADS + 1) and all(c.value for c in at.checkbox)
    assert "why_deletion_curves" in charts(at)
    assert 0.5 <= probability(at) <= 1.0
    assert at.query_params["task"] == "sentiment"


def test_switching_a_head_off_changes_the_probability_shown():
    at = open_page("why", text="The film was not good at all, and the actors looked bored.")
    before = probability(at)
    at.checkbox(key=head_key(at, 3, 9)).uncheck()
    at.button(key="why_apply").click().run()
    assert_clean(at)
    after = probability(at)
    assert after != before
    assert at.metric[0].delta.strip() == f"{after - before:+.4f}" or abs(float(at.metric[0].delta) - (after - before)) < 2e-4
    assert any("1 head(s) off" in c.value for c in at.caption)
    at.checkbox(key=head_key(at, 0, 0)).uncheck()
    at.button(key="why_apply").click().run()
    assert any("2 head(s) off" in c.value for c in at.caption)
    assert at.query_params["off"] == "0.0,3.9"
    at.button(key="why_all_on").click().run()
    assert probability(at) == before and all(c.value for c in at.checkbox)
    assert "off" not in at.query_params


def test_a_whole_layer_switches_off_with_one_click():
    at = open_page("why", text="The film was not good at all, and the actors looked bored.")
    layer_box = next(c for c in at.checkbox if c.key.endswith("_L2"))
    layer_box.uncheck()
    at.button(key="why_apply").click().run()
    assert_clean(at)
    assert any(f"{SENTIMENT_HEADS} head(s) off" in c.value for c in at.caption)
    assert at.query_params["off"] == ",".join(f"2.{h}" for h in range(SENTIMENT_HEADS))


def test_heads_switched_off_come_from_the_url():
    at = open_page("why", off="3.9,1.2,99.0,x.y")  # the unknown and malformed heads are ignored
    assert_clean(at)
    off = sorted(c.key[-4:] for c in at.checkbox if not c.value and "_L" not in c.key)
    assert off == ["_1_2", "_3_9"]
    assert any("2 head(s) off" in c.value for c in at.caption)


def test_most_important_heads_button():
    at = open_page("why")
    at.button(key="why_importance").click().run()
    assert_clean(at)
    grid = charts(at)["why_importance_grid"]["data"][0]
    assert z_shape(grid) == (SENTIMENT_LAYERS, SENTIMENT_HEADS)
    table = at.dataframe[-1].value
    assert list(table.columns) == ["layer", "head", "drop in log-probability"] and len(table) == 5
    drops = list(table["drop in log-probability"])
    assert drops == sorted(drops, reverse=True)


def test_why_for_ner_explains_the_chosen_token():
    model_for("ner")
    at = open_page("why", task="ner", text="Angela Merkel met Emmanuel Macron in Paris.")
    assert_clean(at)
    at.selectbox(key="why_position").set_value(2).run()
    assert_clean(at)
    token = at.selectbox(key="why_position").format_func(2).split(" ", 1)[1]
    assert f"for token {escape_markdown(token)}" in at.metric[0].label  # user text shown escaped
    assert "why_strips" in charts(at)


def test_why_for_the_language_model():
    model_for("lm")
    at = open_page("why", task="lm", text="To be, or not to be")
    assert_clean(at)
    assert "why_strips" in charts(at) and len(at.metric) == 1


def test_an_encoder_without_a_head_gets_a_clear_message():
    at = open_page("why", task="all", model=minilm())
    assert not at.exception
    assert any("no prediction to explain" in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.parametrize("text", ["", "   "])
def test_why_empty_text(text):
    at = open_page("why")
    at.text_input(key="why_text").set_value(text).run()
    assert_clean(at)
    assert at.info and not charts(at) and not at.checkbox


@pytest.mark.parametrize("name", list(HARD_INPUTS))
def test_why_hard_inputs(name):
    at = open_page("why")
    at.text_input(key="why_text").set_value(HARD_INPUTS[name]).run()
    assert_safe(at)
    assert at.error or "why_strips" in charts(at), "neither a result nor a message"
    if name == "long":
        assert any("cut" in i.value for i in at.info), [i.value for i in at.info]
        assert "text" not in at.query_params


# ------------------------------------------------------------------------------------- minimal pairs

def test_minimal_pairs_default_pair():
    model_for("sentiment")
    at = open_page("minimal_pairs")
    assert_clean(at)
    assert at.markdown[0].value.startswith("**A:**") and "positive" in at.markdown[0].value
    figure = charts(at)["pairs_heads"]["data"][0]
    assert z_shape(figure) == (SENTIMENT_LAYERS, SENTIMENT_HEADS)
    edits = [d for d in at.dataframe if list(d.value.columns)[0] == "edit"][0].value
    assert list(edits["edit"]) == ["insert"] and list(edits["tokens in B"]) == ["not"]
    assert at.query_params["a"] == "The film was good." and at.query_params["b"] == "The film was not good."
    # one head in A, in B and B − A: three charts (side by side, stacked on a phone), over the aligned tokens
    panels = [charts(at)[f"pairs_ab_{name}"] for name in ("a", "b", "diff")]
    a, b, diff = (array(p["data"][0]["z"]).astype(float) for p in panels)
    assert a.shape == b.shape == diff.shape == (7, 7)  # [CLS] the film was good . [SEP]: B's inserted "not" has no partner
    np.testing.assert_allclose(diff, b - a, atol=1e-6)
    assert [p["layout"]["title"]["text"] for p in panels][:2] == ["A", "B"]
    limit = np.abs(diff).max()  # the difference gets its own colour range, named in its title
    assert panels[2]["data"][0]["zmax"] == pytest.approx(limit) == -panels[2]["data"][0]["zmin"]
    assert panels[2]["layout"]["title"]["text"] == f"B − A (colours ±{limit:.2g})"


def test_minimal_pairs_example_button_and_url():
    at = open_page("minimal_pairs", a="A fine film.", b="A fine film.")
    assert_clean(at)
    assert any("same tokens" in c.value for c in at.caption)
    at.button(key="pairs_example_1").click().run()
    assert_clean(at)
    assert at.text_input(key="pair_b").value.endswith("too wide.")
    edits = [d for d in at.dataframe if list(d.value.columns)[0] == "edit"][0].value
    assert list(edits["edit"]) == ["replace"]


def test_minimal_pairs_ner_lists_changed_tags():
    model_for("ner")
    at = open_page("minimal_pairs", task="ner", a="John lives in Paris.", b="John lives in the park.")
    assert_clean(at)
    assert "pairs_heads" in charts(at)


@pytest.mark.parametrize("name", list(HARD_INPUTS))
def test_minimal_pairs_hard_inputs(name):
    at = open_page("minimal_pairs")
    at.text_input(key="pair_b").set_value(HARD_INPUTS[name]).run()
    assert_safe(at)
    assert at.error or "pairs_heads" in charts(at) or at.info, "neither a result nor a message"
    if name == "long":
        assert any("cut" in i.value for i in at.info), [i.value for i in at.info]
        assert "b" not in at.query_params


def test_minimal_pairs_empty_sentence():
    at = open_page("minimal_pairs")
    at.text_input(key="pair_a").set_value("").run()
    assert_clean(at)
    assert at.info and not charts(at)


def test_ner_without_an_entity_asks_for_a_token():
    model_for("ner")
    at = open_page("why", task="ner", text="the weather was nice today .")
    assert not at.exception
    assert any("No entity found" in e.value for e in at.error) or "why_strips" in charts(at)
