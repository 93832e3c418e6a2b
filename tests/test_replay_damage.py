"""C2: a damaged or oversized replay is named and skipped (library and explorer's replay view), never a traceback."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors.numpy import save_file

from attnviz.analysis.replay import ReplayError, load_replay
from attnviz.store.replay_file import MAX_REPLAY_JSON_BYTES, REPLAY_JSON, REPLAY_WEIGHTS, write_replay
from tests.test_app import TIMEOUT, AppTest
from tests.test_app_heads import replay_script


def good(folder):
    weights = np.full((2, 1, 1, 3, 3), 1 / 3, dtype=np.float16)
    document = {"texts": ["a b"], "tokens": [["[CLS]", "a", "b"]], "steps": [0, 5], "loss": [[0, 0.7], [5, 0.6]],
                "causal": False}
    write_replay(folder, {"probe0": weights}, document)
    return document, weights


def test_a_good_replay_still_loads(tmp_path):
    good(tmp_path)
    replay = load_replay(tmp_path)
    assert replay.steps == [0, 5] and replay.weights[0].shape == (2, 1, 1, 3, 3)


@pytest.mark.parametrize("damage", ["no_tokens", "bad_loss", "nan_loss", "nan_weights", "wrong_shape", "list",
                                    "deep", "huge", "fifo", "zero_link"])
def test_a_damaged_replay_is_a_replay_error(tmp_path, damage):
    document, weights = good(tmp_path)
    path, arrays = tmp_path / REPLAY_JSON, tmp_path / REPLAY_WEIGHTS
    if damage == "no_tokens":
        document.pop("tokens")
    elif damage == "bad_loss":
        document["loss"] = [[0, "high"], 7]
    elif damage == "nan_loss":
        document["loss"] = [[0, float("nan")]]
    elif damage == "list":
        document = [1, 2]
    if damage in ("no_tokens", "bad_loss", "nan_loss", "list"):
        path.write_text(json.dumps(document))
    elif damage == "deep":
        path.write_text("[" * 50_000 + "]" * 50_000)
    elif damage == "nan_weights":
        weights[1, 0, 0, 0, 0] = np.nan
        save_file({"probe0": weights}, str(arrays))
    elif damage == "wrong_shape":
        save_file({"probe0": weights[:, :, :, :2, :2].copy()}, str(arrays))
    elif damage == "huge":
        with open(path, "r+b") as handle:
            handle.truncate(MAX_REPLAY_JSON_BYTES + 1)  # sparse: no disk, and never read
    elif damage == "fifo":
        os.unlink(path)
        os.mkfifo(path)
    elif damage == "zero_link":
        os.unlink(arrays)
        os.symlink("/dev/zero", arrays)
    if damage in ("fifo",):  # has_replay says a FIFO is no file: nothing to show, and nothing blocks
        assert load_replay(tmp_path) is None
        return
    if damage == "zero_link":
        assert load_replay(tmp_path) is None  # a device is not a file either
        return
    with pytest.raises(ReplayError):
        load_replay(tmp_path)


def test_the_replay_view_names_a_damaged_replay_and_skips_it(tmp_path):
    good(tmp_path)
    (tmp_path / REPLAY_JSON).write_text(json.dumps({"texts": ["a b"], "steps": [0, 5]}))
    at = AppTest.from_function(replay_script, args=(str(tmp_path),), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.warning and "cannot be shown" in at.warning[0].value and "token list" in at.warning[0].value
