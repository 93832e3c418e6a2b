"""The Train page under AppTest: it draws, a tiny run finishes and its model is listed at once,
and a corrupt upload is an error message, not a crash."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.bundles import registry

ROOT = Path(__file__).resolve().parents[1]


def _page_file() -> str:
    """The Train page's script, as app.py registers it (pages/train.py unless the folder moved)."""
    found = re.search(r"""st\.Page\(\s*["']([^"']*train\.py)["']""", (ROOT / "app.py").read_text())
    return str(ROOT / (found.group(1) if found else "pages/train.py"))


PAGE = _page_file()
WAIT_S = 120  # generous: the test machine is shared with other training


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "user_models"
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(folder))
    return folder


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Shown text without the backslashes that escape markdown."""
    return markdown.replace("\\", "")


def widget(elements, key: str):
    return next(e for e in elements if e.key == key)


def test_page_draws_its_controls(shared_data, user_dir, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = page()
    assert at.title[0].value == "Train a model"
    assert widget(at.text_input, "train_data_root").value == str(shared_data)
    assert not at.error
    assert widget(at.button, "train_start").disabled is False
    widget(at.selectbox, "train_task").select("lm").run()
    assert not at.exception and not at.error
    assert any(n.label == "Training steps" for n in at.number_input)
    widget(at.text_input, "train_data_root").input(str(shared_data / "nowhere")).run()
    assert at.error and widget(at.button, "train_start").disabled


def test_a_tiny_run_finishes_and_its_model_is_listed(shared_data, user_dir, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = page()
    widget(at.number_input, "train_limit_sentiment").set_value(128)
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    widget(at.slider, "train_layers").set_value(1)
    widget(at.select_slider, "train_d_model").set_value(32)
    widget(at.select_slider, "train_heads").set_value(2)
    widget(at.selectbox, "train_device").select("cpu")
    widget(at.text_input, "train_name").input("../tiny page run")
    at.run()
    assert any("tiny-page-run" in plain(c.value) for c in at.caption)
    widget(at.button, "train_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    deadline = time.monotonic() + WAIT_S
    while not at.success and not at.error and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "Saved in" in at.success[0].value
    assert str(user_dir / "tiny-page-run") in plain(at.success[0].value)
    folder = user_dir / "tiny-page-run"
    assert (folder / "config.json").is_file() and not (user_dir.parent / "tiny-page-run").exists()
    listed = {entry.source: entry for entry in registry.available_models("sentiment")}
    assert str(folder) in listed and listed[str(folder)].kind == "user"
    assert [m.label for m in at.metric] == ["accuracy"]


def test_a_corrupt_upload_shows_an_error(user_dir):
    at = page()
    widget(at.radio, "train_source").set_value("a file I upload").run()
    uploader = next(u for u in at.file_uploader if u.label == "Training file")
    uploader.upload("broken.tsv", b"sentence\tlabel\na good film\tyes\n", "text/tab-separated-values").run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.error) == 1 and "broken.tsv:2" in plain(at.error[0].value)
    assert widget(at.button, "train_start").disabled
    uploader = next(u for u in at.file_uploader if u.label == "Training file")
    uploader.set_value(("bytes.tsv", b"\xff\xfe\x00bad", "text/plain")).run()
    assert not at.exception and "not UTF-8" in plain(at.error[0].value)


def test_an_upload_is_read_and_checked(user_dir):
    at = page()
    widget(at.selectbox, "train_task").select("ner").run()
    widget(at.radio, "train_source").set_value("a file I upload").run()
    assert widget(at.button, "train_start").disabled
    uploader = next(u for u in at.file_uploader if u.label == "Training file")
    uploader.upload("mine.conll", b"Paris\tB-LOC\nis\tO\n\nBerlin\tB-LOC\n").run()
    assert not at.exception and not at.error
    assert any("Read 2 sentences from mine.conll" in plain(c.value) for c in at.caption)
    assert not widget(at.button, "train_start").disabled
    uploader = next(u for u in at.file_uploader if u.label == "Training file")
    uploader.set_value(("misc.conll", b"Paris\tB-MISC\n", "text/plain")).run()
    assert not at.exception and "B-MISC" in plain(at.error[0].value)


def test_stop_ends_a_run_and_keeps_the_model(shared_data, user_dir, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = page()
    widget(at.selectbox, "train_task").select("lm").run()
    next(n for n in at.number_input if n.label == "Training steps").set_value(100_000)
    widget(at.slider, "train_layers").set_value(1)
    widget(at.select_slider, "train_d_model").set_value(32)
    widget(at.button, "train_start").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert widget(at.button, "train_start").disabled, "a second run must wait for the first"
    stop = next(b for b in at.button if b.label == "Stop")
    stop.click().run()
    deadline = time.monotonic() + WAIT_S
    while not at.warning and not at.error and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Stopped after" in at.warning[0].value
    assert len([p for p in user_dir.iterdir() if (p / "config.json").is_file()]) == 1
