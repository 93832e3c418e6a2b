"""Hosted mode's policy without a server: the switch, the limits, expiring user models, time-capped runs,
and the toolbar without the developer options in every mode."""
from __future__ import annotations

import os
import time
import tomllib
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from attnviz import hosted
from attnviz.training.jobs import start_job
from test_checkpoint import saved
from test_jobs import WAIT_S, tiny_spec, user_dir  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), (" YES ", True), ("on", True),
                                            ("0", False), ("", False), ("false", False), ("hosted", False)])
def test_the_switch(value, expected):
    assert hosted.hosted_from_env({hosted.ENV_VAR: value}) is expected
    assert hosted.hosted_from_env({}) is False


def test_limits_are_frozen_and_tighter_than_the_defaults():
    from attnviz.nn.generate import MAX_NEW_TOKENS_CAP
    from attnviz.ui.hosting import MAX_TEXT_CHARS
    limits = hosted.LIMITS
    with pytest.raises(FrozenInstanceError):
        limits.max_running_jobs = 5  # type: ignore[misc]
    assert limits.max_running_jobs == 1 and limits.max_text_chars < MAX_TEXT_CHARS
    assert 0 < limits.max_train_steps < MAX_NEW_TOKENS_CAP and limits.max_train_seconds > 0


def test_expire_user_models_deletes_only_old_folders_under_the_root(tmp_path):
    root = tmp_path / "user_models"
    old, fresh = saved(root, "sentiment"), saved(root / "f", "lm").parent
    outside = saved(tmp_path / "outside", "ner")
    for folder in (old, fresh, outside):
        (folder / hosted.VISITOR_MARKER).write_text("made by the attnviz Train page\n")
    (root / "link").symlink_to(outside)
    foreign = root / "someone-elses-folder"  # old, but not a visitor's model: never deleted
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    past = time.time() - 7200
    for path in [old, *old.iterdir(), outside, *outside.iterdir(), foreign, *foreign.iterdir()]:
        os.utime(path, (past, past), follow_symlinks=False)
    removed = hosted.expire_user_models(root, ttl_s=3600)
    assert removed == [old] and not old.exists()
    assert fresh.exists() and outside.exists() and (root / "link").is_symlink() and foreign.exists()


def test_a_train_page_folder_keeps_its_marker_across_saves(tmp_path):
    from attnviz.training.jobs import reserve_output_folder

    from test_checkpoint import LABELS, make_model

    from attnviz.store.checkpoint import save_checkpoint

    folder = reserve_output_folder("sentiment", "mine", root=tmp_path)
    assert (folder / hosted.VISITOR_MARKER).is_file()
    model, tokenizer = make_model("sentiment")
    for _ in range(2):  # the first save into the reserved folder, then a later (better) one
        save_checkpoint(folder, model, tokenizer, "sentiment", LABELS["sentiment"])
        assert (folder / hosted.VISITOR_MARKER).is_file() and (folder / "config.json").is_file()


def test_a_run_is_stopped_at_its_time_cap_and_keeps_what_it_learned(shared_data):
    spec = tiny_spec("lm", shared_data, max_steps=100_000, eval_every=1000, patience=1000)  # only time stops it
    job = start_job(spec, dev_limit=500, max_seconds=3.0)
    assert job.wait(WAIT_S), "the capped run did not end"
    assert job.status == "stopped", (job.status, job.error)
    assert job.elapsed_s() < 60
    assert (job.folder / "config.json").is_file()


def test_toolbar_hides_the_developer_options_in_every_mode():
    from streamlit import config
    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    mode = settings["client"]["toolbarMode"]
    assert mode == "viewer"
    assert "client.toolbarMode" in config.get_config_options()  # an option this Streamlit knows
