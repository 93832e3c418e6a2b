"""The app under AppTest with hostile and careless inputs (issue 11): broken model folders, server paths
in the Train page's data box, markdown in token text, and hosted mode."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.training import data

from attnviz.bundles import registry
from test_app import assert_clean, minilm, model_for, open_page
from test_checkpoint import saved
from test_train_page import PAGE, user_dir  # noqa: F401  (a fixture)

UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def train_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def widget(elements, key: str):
    return next(e for e in elements if e.key == key)


# ------------------------------------------------------------------------- item 4: broken folders

def test_home_leaves_out_and_names_broken_model_folders(tmp_path, monkeypatch):
    root = tmp_path / "user"
    saved(root, "sentiment")
    zero = saved(tmp_path / "x", "ner").rename(root / "zero-heads")
    document = json.loads((zero / "config.json").read_text())
    document["model"]["n_heads"] = 0
    (zero / "config.json").write_text(json.dumps(document))
    nested = saved(tmp_path / "y", "lm").rename(root / "nested")
    (nested / "config.json").write_text('{"format": "attnviz", "task": ' + "[" * 50_000 + "]" * 50_000 + "}")
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(root))
    at = open_page("home")
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "zero-heads" in warning and "nested" in warning and "n_heads" in warning
    assert "sentiment" in [e.name for e in registry.available_models("sentiment")]


# ------------------------------------------------------------------------- item 8: the data box

def test_data_box_starts_at_the_default_data_root(tmp_path, monkeypatch, user_dir):  # noqa: F811
    shared = tmp_path / "shared" / "data"
    shared.parent.mkdir()
    shared.symlink_to(Path(data.default_data_root()[0]).resolve())
    monkeypatch.delenv("ATTNVIZ_DATA", raising=False)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path / "attnviz")  # a clone with ../shared/data beside it
    at = train_page()
    assert widget(at.text_input, "train_data_root").value == str(shared)
    assert not at.error and widget(at.button, "train_start").disabled is False


def test_data_box_long_paths_and_missing_folders_get_one_message(shared_data, monkeypatch, user_dir):  # noqa: F811
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = train_page()
    messages = []
    for path in ("/" + "a" * 300, "/" + "/".join(["b" * 200] * 6), "/no/such/folder", "/etc", "/dev/null"):
        widget(at.text_input, "train_data_root").input(path).run()
        assert not at.exception, (path, [e.message for e in at.exception])
        assert at.error and widget(at.button, "train_start").disabled
        messages.append(at.error[0].value)
    assert len(set(messages)) == 1, messages  # nothing tells which server folders exist
    assert "/etc" not in messages[0] and "does not exist" not in messages[0]


# ------------------------------------------------------------------------- item 8: compare escaping

def test_compare_escapes_markdown_from_token_text():
    lm = model_for("lm")
    at = open_page("compare", model=lm.name, model2=minilm(), text="$E$ and $F$ are fine")
    at.toggle(key="compare_words").set_value(False).run()  # token by token: they differ, and the note says so
    assert_clean(at)
    infos = [i.value for i in at.info]
    assert any("different tokens" in i for i in infos)
    for info in infos:
        assert not UNESCAPED_DOLLAR.search(info), info


# ------------------------------------------------------------------------- hosted mode

def test_hosted_train_page_has_no_path_box_and_caps_the_run(shared_data, monkeypatch, user_dir):  # noqa: F811
    monkeypatch.setenv("ATTNVIZ_HOSTED", "1")
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = train_page()
    assert not any(t.key == "train_data_root" for t in at.text_input)
    assert not any(t.key == "train_quick" for t in at.toggle)
    shown = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "SST-2" in shown and str(shared_data) not in shown and "hosted demo" in shown
    widget(at.selectbox, "train_task").select("lm").run()
    steps = next(n for n in at.number_input if n.label == "Training steps")
    assert steps.max == 300
    assert widget(at.number_input, "train_limit_lm").max == 500_000
    assert widget(at.button, "train_start").disabled is False


def test_hosted_mode_from_secrets_toml(shared_data, monkeypatch, user_dir):  # noqa: F811
    monkeypatch.delenv("ATTNVIZ_HOSTED", raising=False)
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.secrets["hosted"] = True
    at.run()
    assert not at.exception
    assert not any(t.key == "train_data_root" for t in at.text_input)


def test_hosted_mode_cuts_long_texts(monkeypatch):
    monkeypatch.setenv("ATTNVIZ_HOSTED", "1")
    entry = model_for("sentiment")
    at = open_page("explorer", model=entry.name)
    at.text_area(key="explorer_text").set_value("good " * 1000).run()
    assert_clean(at)
    assert any("only the first 2,000 were read" in i.value for i in at.info)


def test_hosted_mode_expires_old_user_models(monkeypatch, user_dir, shared_data):  # noqa: F811
    import os
    import time
    from attnviz.hosted import VISITOR_MARKER

    old = saved(user_dir, "sentiment")
    fresh = saved(user_dir / "fresh", "lm")
    (old / VISITOR_MARKER).write_text("made by the attnviz Train page\n")  # a visitor's model
    past = time.time() - 2 * 3600
    for path in [old, *old.iterdir()]:
        os.utime(path, (past, past))
    monkeypatch.setenv("ATTNVIZ_HOSTED", "1")
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    train_page()
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("value", ["0", "", "no"])
def test_not_hosted_keeps_the_data_box(value, shared_data, monkeypatch, user_dir):  # noqa: F811
    monkeypatch.setenv("ATTNVIZ_HOSTED", value)
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))
    at = train_page()
    assert any(t.key == "train_data_root" for t in at.text_input)
