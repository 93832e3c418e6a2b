"""The command line end to end on small slices of the shared data, and training on 2 processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

import attnviz

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, data: Path | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if data is not None:
        env["ATTNVIZ_DATA"] = str(data)
    return subprocess.run([sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


TINY = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--max-len", "64", "--quiet"]


@pytest.mark.parametrize("task,extra,dev_file,keys", [
    ("sentiment", ["--train-limit", "300", "--epochs", "1", "--eval-limit", "100"], "sst2/dev.tsv",
     {"task", "accuracy", "n"}),
    ("ner", ["--train-limit", "300", "--epochs", "1", "--eval-limit", "100"], "wikiann-en/dev.conll",
     {"task", "f1", "precision", "recall", "n"}),
    ("lm", ["--train-limit", "20000", "--max-steps", "20", "--eval-limit", "2000"], None, {"task", "loss", "n"}),
])
@pytest.mark.slow
def test_train_evaluate_predict(tmp_path, shared_data, task, extra, dev_file, keys):
    out = tmp_path / task
    result = run_cli("train", "--task", task, "--data", str(shared_data), "--out", str(out), *TINY, *extra)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["checkpoint"] == str(out)
    config = json.loads((out / "config.json").read_text())
    assert config["metadata"]["command"].startswith("python -m attnviz train --task " + task)
    assert config["metadata"]["dev_metrics"]["task"] == task
    bundle = attnviz.load(out)
    assert bundle.task == task

    if dev_file is None:  # the LM is measured on a text file
        evaluation_file = tmp_path / "held_out.txt"
        evaluation_file.write_text((shared_data / "tinyshakespeare" / "train.txt").read_text()[-3000:])
    else:
        evaluation_file = tmp_path / Path(dev_file).name
        lines = (shared_data / dev_file).read_text().split("\n")[:400]
        evaluation_file.write_text("\n".join(lines) + "\n")
    result = run_cli("evaluate", str(out), str(evaluation_file), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) == keys and metrics["task"] == task and metrics["n"] > 0

    if task == "lm":
        result = run_cli("generate", str(out), "--prompt", "ROMEO:", "--temperature", "0.8", "--top-k", "10",
                         "--max-new-tokens", "30", "--seed", "3", "--json")
        assert result.returncode == 0, result.stderr
        first = json.loads(result.stdout)
        again = json.loads(run_cli("generate", str(out), "--prompt", "ROMEO:", "--temperature", "0.8", "--top-k",
                                   "10", "--max-new-tokens", "30", "--seed", "3", "--json").stdout)
        assert first["text"] == again["text"] and len(first["steps"]) == 30
    else:
        result = run_cli("predict", str(out), "Paris is lovely", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["text"] == "Paris is lovely"


def test_clear_one_line_errors(tmp_path, shared_data):
    cases = [
        ("evaluate", str(tmp_path / "missing"), str(tmp_path / "x.tsv"), "--json"),
        ("train", "--task", "sentiment", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")),
        ("predict", str(REPO / "requirements.txt"), "hello"),
    ]
    for args in cases:
        result = run_cli(*args, data=shared_data)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    result = run_cli("train", "--task", "poetry", "--out", "x")
    assert result.returncode == 2 and "invalid choice" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict", "generate", "bench"):
        assert command in result.stdout
    result = run_cli("train", "--help")
    assert "--max-steps" in result.stdout and "--init" in result.stdout and "--precision" in result.stdout


@pytest.mark.slow
def test_torchrun_two_processes_end_with_identical_weights(tmp_path, shared_data):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO / "tests" / "ddp_worker.py"), str(shared_data), str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert first.keys() == second.keys()
    for name in first:
        assert (first[name] == second[name]).all(), name
    initial = None  # and they trained: the weights moved away from the seed's initial values
    import torch
    torch.manual_seed(0)
    from attnviz.nn.models import ModelConfig, build_model
    vocab = first["encoder.token_embedding.weight"].shape[0]
    initial = build_model(ModelConfig(kind="classifier", vocab_size=vocab, d_model=16, n_heads=2, n_layers=1,
                                      d_ff=32, max_len=64)).state_dict()
    assert not (initial["head.weight"] == first["head.weight"]).all()
