"""Careless and hostile inputs to the library (issue 11, items 2 and 4-7): --overwrite never deletes a
non-checkpoint, broken folders are skipped and named, generation settings and lone surrogates are refused
with the field named, and a killed save loses nothing."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import attnviz
from attnviz.bundles import registry
from attnviz.store.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, save_checkpoint
from attnviz.errors import InputError
from attnviz.nn.generate import MAX_NEW_TOKENS_CAP, GenerationConfig

from test_checkpoint import make_model, saved
from test_hardening import REPO, edit_config

# ------------------------------------------------------------------------- 2. --overwrite

TINY_LM = ["--task", "lm", "--max-steps", "1", "--layers", "1", "--d-model", "8", "--heads", "1", "--d-ff", "8",
           "--max-len", "16", "--quiet", "--overwrite"]


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text("to be or not to be, that is the question.\n" * 40)
    return path


def test_overwrite_refuses_a_folder_of_user_files(tmp_path, tiny_text):
    out = tmp_path / "my-documents"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = run_cli("train", "--data", str(tiny_text), "--out", str(out), *TINY_LM)
    assert result.returncode == 2, result.stderr
    assert "not an attnviz checkpoint" in result.stderr and "Traceback" not in result.stderr
    assert (out / "thesis.tex").read_text() == "years of work"


def test_overwrite_refuses_the_parent_of_checkpoints(tmp_path, tiny_text):
    parent = tmp_path / "checkpoints"
    saved(parent, "lm")
    result = run_cli("train", "--data", str(tiny_text), "--out", str(parent), *TINY_LM)
    assert result.returncode == 2
    assert (parent / "lm" / WEIGHTS_FILE).is_file()


def test_overwrite_replaces_a_checkpoint_and_fills_an_empty_folder(tmp_path, tiny_text):
    old = saved(tmp_path, "lm")
    before = (old / WEIGHTS_FILE).read_bytes()
    result = run_cli("train", "--data", str(tiny_text), "--out", str(old), *TINY_LM)
    assert result.returncode == 0, result.stderr
    assert (old / WEIGHTS_FILE).read_bytes() != before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("train", "--data", str(tiny_text), "--out", str(empty), *TINY_LM).returncode == 0


def test_save_checkpoint_never_replaces_a_folder_that_is_not_one(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    model, tokenizer = make_model("lm")
    with pytest.raises(CheckpointError, match="not an attnviz checkpoint"):
        save_checkpoint(folder, model, tokenizer, "lm", [])
    assert (folder / "notes.txt").read_text() == "keep me"


# ------------------------------------------------------------------------- 4. the registry

def test_registry_skips_and_names_broken_folders(tmp_path, monkeypatch):
    root = tmp_path / "user"
    saved(root, "sentiment")
    edit_config(saved(tmp_path / "x", "ner").rename(root / "zero-heads"), n_heads=0)
    nested = saved(tmp_path / "y", "lm").rename(root / "nested")
    (nested / CONFIG_FILE).write_text('{"format": "attnviz", "task": ' + "[" * 50_000 + "]" * 50_000 + "}")
    fifo = root / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / CONFIG_FILE)
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(root))
    monkeypatch.setenv("ATTNVIZ_CHECKPOINTS", str(tmp_path / "none"))
    names = [e.name for e in registry.available_models() if e.kind == "user"]
    assert names == ["sentiment"]
    skipped = dict(registry.skipped_folders())
    assert set(skipped) == {str(root / "zero-heads"), str(root / "nested"), str(root / "fifo")}
    assert "n_heads" in skipped[str(root / "zero-heads")]


# ------------------------------------------------------------------------- 5. generation settings

@pytest.mark.parametrize("field,value", [("temperature", math.inf), ("temperature", math.nan),
                                         ("temperature", -1.0), ("top_p", math.nan), ("top_p", 0.0),
                                         ("top_k", -1), ("max_new_tokens", MAX_NEW_TOKENS_CAP + 1),
                                         ("max_new_tokens", 2.5), ("n_candidates", 0), ("seed", "a")])
def test_generation_config_names_the_field_and_its_range(field, value):
    with pytest.raises(ValueError, match=field):
        GenerationConfig(**{field: value})


def test_generate_cli_caps_max_new_tokens(tmp_path):
    folder = saved(tmp_path, "lm")
    result = run_cli("generate", str(folder), "--max-new-tokens", "1000000")
    assert result.returncode == 2 and "max_new_tokens" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("generate", str(folder), "--temperature", "inf")
    assert result.returncode == 2 and "temperature" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------- 6. lone surrogates

@pytest.mark.parametrize("task", ["sentiment", "ner", "lm"])
def test_a_lone_surrogate_is_an_input_error(tmp_path, task):
    bundle = attnviz.load(saved(tmp_path, task))
    with pytest.raises(InputError, match="surrogate"):
        bundle.predict(["a good \ud800 film"])
    with pytest.raises(InputError, match="surrogate"):
        bundle.trace("a good \udfff film")
    if task == "lm":
        with pytest.raises(InputError, match="surrogate"):
            bundle.generate("To \ud800", GenerationConfig(max_new_tokens=2))


# ------------------------------------------------------------------------- 7. killed saves

def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_kill_between_the_two_renames_is_rolled_back_on_load(tmp_path):
    folder = saved(tmp_path, "lm")
    before = (folder / WEIGHTS_FILE).read_bytes()
    pid = dead_pid()
    os.replace(folder, tmp_path / f".lm.old-{pid}")  # the first rename happened, then the kill
    staging = tmp_path / f".lm.tmp-{pid}-abc"
    staging.mkdir()
    (staging / WEIGHTS_FILE).write_bytes(b"half written")
    checkpoint = load_checkpoint(folder)
    assert checkpoint.task == "lm" and (folder / WEIGHTS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm"]


def test_a_kill_after_a_complete_staging_finishes_the_replace(tmp_path):
    old = saved(tmp_path, "lm")
    new = saved(tmp_path / "other", "lm", metadata={"new": 1})
    pid = dead_pid()
    os.replace(old, tmp_path / f".lm.old-{pid}")
    os.replace(new, tmp_path / f".lm.new-{pid}")  # complete and renamed as such, then the kill
    assert [e.name for e in registry._scan(tmp_path, "user")] == ["lm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm", "other"]
    assert load_checkpoint(tmp_path / "lm").metadata == {"new": 1}


def test_stale_staging_folders_are_removed_by_the_next_save(tmp_path):
    folder = saved(tmp_path, "lm")
    stale = tmp_path / f".lm.tmp-{dead_pid()}-q1"
    stale.mkdir()
    (stale / WEIGHTS_FILE).write_bytes(b"\0" * 1000)
    legacy = tmp_path / ".lm.tmp-k2j3h4"  # from before staging names carried the process id
    legacy.mkdir()
    os.utime(legacy, (time.time() - 7200, time.time() - 7200))
    live = tmp_path / f".lm.tmp-{os.getpid()}-live"  # another save in this very process: left alone
    live.mkdir()
    model, tokenizer = make_model("lm")
    save_checkpoint(folder, model, tokenizer, "lm", [])
    assert not stale.exists() and not legacy.exists() and live.exists()
