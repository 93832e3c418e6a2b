"""AppTest of the Heads, Corpus search and Verify pages and of the training replay view."""
from __future__ import annotations

import time

import pytest

import attnviz
from attnviz.analysis import replay_traces
from attnviz.training.data import load_task
from attnviz.training.train import TrainConfig
from attnviz.training.training_job import JobSpec, ModelShape, run_job
from tests.test_app import AppTest, TIMEOUT, assert_clean, charts, open_page


@pytest.fixture(autouse=True)
def _cache_and_data(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("ATTNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))


def dataframe(at, column: str):
    """The first table on the page that has this column (AppTest gives dataframes no key)."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no table with a column {column!r}: {[list(d.value.columns) for d in at.dataframe]}")


def test_heads_page_table_heatmap_and_roles():
    at = open_page("heads", model="sentiment")
    at.slider(key="heads_size").set_value(20).run()
    assert_clean(at)
    bundle = attnviz.load("sentiment")
    table = dataframe(at, "explorer")
    assert len(table) == bundle.n_layers * bundle.n_heads
    assert {"layer", "head", "entropy", "previous", "next", "self", "special", "distance", "role"} <= set(table)
    assert table["explorer"].iloc[0] == "/explorer?model=sentiment&layer=0&head=0"
    roles = dataframe(at, "heads")
    assert roles["heads"].sum() == len(table)
    before = charts(at)["heads_heatmap"]
    at.selectbox(key="heads_statistic").set_value("previous").run()
    after = charts(at)["heads_heatmap"]
    assert after["data"][0]["z"] != before["data"][0]["z"] and "previous" in after["layout"]["title"]["text"]


def test_heads_page_on_typed_sentences_and_an_empty_box():
    at = open_page("heads", model="sentiment")
    at.radio(key="heads_corpus").set_value("sentences I type").run()
    at.text_area(key="heads_typed").set_value("a fine film .\nnot good at all .").run()
    assert_clean(at)
    assert "2 sentences" in " ".join(c.value for c in at.caption)
    at.text_area(key="heads_typed").set_value("   \n  ").run()
    assert not at.exception and any("at least one sentence" in w.value for w in at.warning)


def test_search_page_finds_the_sentence_itself_first():
    sentence = "a dull , lifeless story about nothing ."
    at = open_page("search", model="sentiment", text=sentence)
    at.radio(key="search_corpus").set_value("sentences I type").run()
    corpus = "the film is a charming , funny surprise .\n" + sentence + "\nnobody in the cast seems to care ."
    at.text_area(key="search_typed").set_value(corpus).run()
    assert_clean(at)
    results = dataframe(at, "context")
    first = results.iloc[0]
    assert first["sentence"] == sentence and first["similarity"] == pytest.approx(1.0, abs=2e-3)
    assert "[" in first["context"] and list(results["similarity"]) == sorted(results["similarity"], reverse=True)


def test_verify_page_shows_every_check_passing():
    at = open_page("verify")
    assert_clean(at)
    table = next(m.value for m in at.markdown if m.value.startswith("|  | identity"))  # wraps, unlike a dataframe
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) >= 6 and all(row.startswith("| ✓ |") for row in rows)
    assert at.success and "checks pass" in at.success[0].value
    plain = table.replace("\\", "")
    assert "MultiheadAttention" in plain
    assert plain.count("transformers' BERT") == 2  # sentiment and NER against BertModel


def replay_script(folder: str) -> None:
    import streamlit as st

    from attnviz.ui.analysis_views import replay_view

    if not replay_view(folder, key="replay", model_name="tiny"):
        st.info("no replay")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, shared_data):
    folder = tmp_path_factory.mktemp("app_replay") / "model"
    spec = JobSpec(task="sentiment", out=str(folder),
                   train=TrainConfig(task="sentiment", epochs=1, batch_size=16, lr=1e-3, device="cpu"),
                   shape=ModelShape(d_model=32, n_heads=2, n_layers=2, d_ff=64, max_len=32),
                   replay_texts=("a great film", "awful"), replay_every=2)
    run_job(spec, train_data=load_task("sentiment", "train", shared_data)[:160],
            dev_data=load_task("sentiment", "dev", shared_data)[:20])
    return folder


def test_replay_view_slider_moves_the_grid_and_the_marker(replayed, tmp_path):
    at = AppTest.from_function(replay_script, args=(str(replayed),), default_timeout=TIMEOUT).run()
    assert_clean(at)
    slider = at.select_slider(key="replay_step_0")
    assert slider.value == 10
    last = charts(at)
    slider.set_value(0).run()
    first = charts(at)
    assert first["replay_grid"]["data"][0]["z"] != last["replay_grid"]["data"][0]["z"]
    assert first["replay_loss"]["layout"]["shapes"][0]["x0"] == 0
    at.selectbox(key="replay_probe").set_value(1).run()
    assert_clean(at)
    empty = AppTest.from_function(replay_script, args=(str(tmp_path),), default_timeout=TIMEOUT).run()
    assert empty.info and empty.info[0].value == "no replay"


def test_a_run_on_the_train_page_records_the_default_probe_and_replays_it(shared_data, tmp_path, monkeypatch):
    from tests.test_train_page import WAIT_S, page, widget

    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(tmp_path / "user_models"))
    at = page()
    probe = widget(at.text_input, "train_replay_sentiment")
    assert probe.value  # a probe sentence is there by default
    widget(at.number_input, "train_limit_sentiment").set_value(128)
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    widget(at.slider, "train_layers").set_value(1)
    widget(at.select_slider, "train_d_model").set_value(32)
    widget(at.select_slider, "train_heads").set_value(2)
    widget(at.selectbox, "train_device").select("cpu")
    widget(at.text_input, "train_name").input("replayed")
    at.run()
    widget(at.button, "train_start").click().run()
    deadline = time.monotonic() + WAIT_S
    while not at.success and not at.error and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert_clean(at)
    replay = replay_traces(attnviz.load(str(tmp_path / "user_models" / "replayed")))
    assert replay and replay[0][0] == 0 and replay[-1][0] == 4  # 128 sentences / 32 per batch
    step = next(s for s in at.select_slider if s.key.startswith("train_replay_"))
    assert step.value == 4
    chart_keys = set(charts(at))
    assert any(k.endswith("_grid") for k in chart_keys) and any(k.endswith("_loss") for k in chart_keys)


def test_the_explorer_replays_a_model_that_recorded_it(replayed, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(replayed.parent))
    at = open_page("explorer", model=replayed.name)
    assert_clean(at)
    assert at.select_slider(key="explorer_replay_step_0").value == 10
    assert "explorer_replay_grid" in charts(at)
    plain = open_page("explorer", model="sentiment")
    assert not [s for s in plain.select_slider if s.key and s.key.startswith("explorer_replay")]


def test_typed_corpora_are_not_written_to_the_disk_cache(tmp_path):
    cache = tmp_path / "cache"
    at = open_page("search", model="sentiment", text="a dull story")  # the SST-2 dev set (maybe on disk)

    def entries() -> set[str]:
        return {p.name for p in cache.iterdir()} if cache.is_dir() else set()

    before = entries()
    at.radio(key="search_corpus").set_value("sentences I type").run()
    at.text_area(key="search_typed").set_value("one typed line\nand another one").run()
    assert_clean(at)
    assert len(dataframe(at, "context")) > 0
    assert entries() == before
