"""`train --init` picks fine-tuning defaults (issue 19): naming a pretrained encoder gives lr 8e-5 with
linear decay (the Transformer schedule's peak of ~3.5e-3 left MiniLM's loss at 0.69), an attnviz
checkpoint trained further and a model from scratch keep the Transformer schedule, and what is typed
always wins."""
from __future__ import annotations

from pathlib import Path

import pytest

from attnviz.cli import FINE_TUNE_LR, _job_spec, build_parser

REPO = Path(__file__).resolve().parents[1]


def spec_for(tmp_path, *extra: str):
    args = build_parser().parse_args(["train", "--task", "sentiment", "--out", str(tmp_path / "out"), *extra])
    return _job_spec(args, [])


def test_a_pretrained_encoder_gets_fine_tuning_defaults(tmp_path):
    train = spec_for(tmp_path, "--init", "all-MiniLM-L6-v2").train
    assert (train.lr, train.schedule) == (pytest.approx(8e-5), "linear") and FINE_TUNE_LR == 8e-5


def test_from_scratch_keeps_the_transformer_schedule(tmp_path):
    train = spec_for(tmp_path).train
    assert (train.lr, train.schedule) == (0.0, "transformer")


def test_an_attnviz_checkpoint_trained_further_keeps_the_transformer_schedule(tmp_path):
    folder = REPO / "checkpoints" / "sentiment"
    if not (folder / "config.json").exists():
        pytest.skip("the shipped sentiment checkpoint is not here")
    train = spec_for(tmp_path, "--init", str(folder)).train
    assert (train.lr, train.schedule) == (0.0, "transformer")


def test_typed_values_win(tmp_path):
    train = spec_for(tmp_path, "--init", "all-MiniLM-L6-v2", "--lr", "1e-4", "--schedule", "constant").train
    assert (train.lr, train.schedule) == (pytest.approx(1e-4), "constant")


def test_help_says_what_init_changes():
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    text = " ".join(train.format_help().split())
    assert "8e-05 when --init names a pretrained encoder" in text
    assert "linear when --init names a pretrained encoder" in text
    assert "train an attnviz checkpoint of the same task further" in text
