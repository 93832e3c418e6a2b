"""What a newcomer meets on a fresh clone (issue 11): help texts with defaults, a mistyped path named as
such before any talk of the hub, the LM's dev loss reproducible with `evaluate --split dev`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import attnviz
from attnviz.store.checkpoint import CheckpointError
from attnviz.cli import build_parser
from test_data_safety import run_cli

REPO = Path(__file__).resolve().parents[1]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_has_a_help_text_and_shows_its_default():
    parser = build_parser()
    for name, sub in subparsers(parser).items():
        if name in ("bench", "prepare"):
            continue  # their own parsers: python -m attnviz bench attention --help, prepare --help
        assert sub.formatter_class is argparse.ArgumentDefaultsHelpFormatter, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    text = subparsers(parser)["generate"].format_help()
    assert "(default: 200)" in text and "(default: 1.0)" in text
    assert "(default: 32)" in subparsers(parser)["train"].format_help()


@pytest.mark.parametrize("typed,suggested", [("checkpoints/sentimnt", "checkpoints/sentiment"),
                                             ("./checkpoints/lmm", "checkpoints/lm"),
                                             ("sentimnet", "sentiment")])
def test_a_mistyped_path_says_the_folder_does_not_exist_and_suggests_the_nearest(typed, suggested, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as error:
        attnviz.load(typed)
    message = str(error.value)
    assert "does not exist" in message and suggested in message and "hub" not in message.lower()


def test_a_mistyped_path_in_the_cli(tmp_path):
    result = run_cli("predict", str(tmp_path / "nothing-here"), "hello")
    assert result.returncode == 2 and "does not exist" in result.stderr and "hub" not in result.stderr.lower()


def test_hub_ids_still_go_to_the_hub(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="hub"):
        attnviz.load("some-org/some-model-that-is-not-cached")


def test_evaluate_split_dev_reproduces_the_recorded_dev_loss(tmp_path, shared_data):
    root = tmp_path / "data"
    (root / "tinyshakespeare").mkdir(parents=True)
    (root / "tinyshakespeare" / "train.txt").write_text(
        (shared_data / "tinyshakespeare" / "train.txt").read_text()[:20_000])
    out = tmp_path / "lm"
    result = run_cli("train", "--task", "lm", "--data", str(root), "--out", str(out), "--max-steps", "5",
                     "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--max-len", "32", "--quiet")
    assert result.returncode == 0, result.stderr
    recorded = json.loads((out / "config.json").read_text())["metadata"]["dev_metrics"]
    result = run_cli("evaluate", str(out), "--split", "dev", "--data", str(root), "--json")
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["n"] == recorded["n"] == 2000 - 1  # the last 10% of 20,000 characters, predicted after the first
    assert measured["loss"] == pytest.approx(recorded["loss"], rel=1e-6)
    both = run_cli("evaluate", str(out), str(root / "tinyshakespeare" / "train.txt"), "--split", "dev")
    assert both.returncode == 2 and "not both" in both.stderr
