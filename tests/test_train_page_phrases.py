"""The Train page can train sentiment on SST-2's phrase-level set (train_phrases.tsv), dev from dev.tsv."""
from __future__ import annotations

import json
import time

from tests.test_train_page import WAIT_S, page, plain, user_dir, widget  # noqa: F401 (user_dir is a fixture)


def test_phrase_level_training_set(shared_data, user_dir, monkeypatch):  # noqa: F811
    if not (shared_data / "sst2" / "train_phrases.tsv").is_file():
        import pytest
        pytest.fail("the shared data lacks sst2/train_phrases.tsv")
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = page()
    widget(at.radio, "train_sst2_file").set_value("train_phrases.tsv").run()
    assert any("train_phrases.tsv" in plain(c.value) for c in at.caption)
    widget(at.number_input, "train_limit_sentiment").set_value(128)
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    widget(at.slider, "train_layers").set_value(1)
    widget(at.select_slider, "train_d_model").set_value(32)
    widget(at.select_slider, "train_heads").set_value(2)
    widget(at.selectbox, "train_device").select("cpu")
    widget(at.text_input, "train_name").input("phrases")
    at.run()
    widget(at.button, "train_start").click().run()
    deadline = time.monotonic() + WAIT_S
    while not at.success and not at.error and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    data = json.loads((user_dir / "phrases" / "config.json").read_text())["metadata"]["data"]
    assert data["train"].endswith("train_phrases.tsv")
    assert data["dev"] == "dev split of the data folder"
