"""Background training jobs: a tiny run finishes and saves, stop stops it, bad data fails in plain
words, and output never leaves (or overwrites anything in) the user models folder."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import attnviz
from attnviz.training.jobs import JobBoard, JobLimitError, reserve_output_folder, safe_name, start_job, user_models_dir
from attnviz.training.train import TrainConfig
from attnviz.training.training_job import JobSpec, ModelShape

TINY = ModelShape(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=32, dropout=0.0)
WAIT_S = 120  # generous: the test machine is shared with other training


@pytest.fixture(autouse=True)
def user_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "user_models"
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(folder))
    return folder


def tiny_spec(task: str, data_root: Path | None = None, **train) -> JobSpec:
    options = dict(epochs=1, batch_size=16, warmup_steps=2, device="cpu") | train
    limit = 20000 if task == "lm" else 64
    return JobSpec(task=task, out="", train=TrainConfig(task=task, **options), shape=TINY,
                   data_root=str(data_root) if data_root else None, train_limit=limit)


def test_tiny_job_finishes_saves_and_reports(shared_data, user_dir):
    job = start_job(tiny_spec("sentiment", shared_data), dev_limit=50)
    assert job.wait(WAIT_S), "the tiny job did not end in time"
    assert job.status == "finished", job.error
    assert job.folder.parent == user_dir and job.folder.name.startswith("sentiment-")
    assert job.history(), "no progress was reported"
    last = job.latest()
    assert last.total_steps == 4 and last.step == 4 and last.metric_name == "accuracy"
    assert job.fraction() == 1.0
    assert set(job.dev_metrics) >= {"accuracy"} and job.dev_metrics["n"] == 50
    assert job.data_description["train_size"] == 64
    bundle = attnviz.load(job.folder)
    assert bundle.task == "sentiment" and bundle.n_layers == 1
    assert bundle.metadata["data"]["dev_limit"] == 50
    assert len(bundle.predict(["a fine film"])) == 1


def test_stop_ends_the_run_early_and_keeps_the_model(shared_data):
    spec = tiny_spec("lm", shared_data, max_steps=100_000, eval_every=100_000)
    job = start_job(spec, dev_limit=2000)
    deadline = time.monotonic() + WAIT_S
    while not job.history() and job.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.history(), f"no progress before the deadline (status {job.status}: {job.error})"
    job.stop()
    assert job.wait(WAIT_S)
    assert job.status == "stopped", job.error
    assert job.result.stopped_early and 0 < job.result.steps < 100_000
    assert job.latest().message == "stopped by the user"
    assert attnviz.load(job.folder).task == "lm"


def test_a_corrupt_upload_fails_with_a_clear_message(tmp_path):
    corrupt = tmp_path / "train.tsv"
    corrupt.write_bytes(b"sentence\tlabel\na fine film\tmaybe\n")
    spec = JobSpec(task="sentiment", out="", train=TrainConfig(task="sentiment", epochs=1), shape=TINY,
                   train_file=str(corrupt))
    job = start_job(spec)
    assert job.wait(WAIT_S)
    assert job.status == "failed"
    assert "train.tsv:2" in job.error and "not an integer" in job.error
    assert "Traceback" not in job.error and "\n" not in job.error
    assert not job.folder.exists(), "a failed run must not leave an empty folder behind"


def test_too_short_uploaded_text_fails_in_plain_words():
    spec = tiny_spec("lm", max_steps=5)
    job = start_job(spec, train_data="To be or not to be.\n")
    assert job.wait(WAIT_S)
    assert job.status == "failed"
    assert "characters" in job.error and "context" in job.error


def test_tags_the_model_cannot_learn_fail_in_plain_words():
    spec = tiny_spec("ner")
    job = start_job(spec, train_data=[(["Paris", "is", "big"], ["B-LOC", "O", "B-MISC"])] * 20)
    assert job.wait(WAIT_S)
    assert job.status == "failed" and "B-MISC" in job.error and "training failed unexpectedly" not in job.error


def test_names_cannot_escape_the_user_folder(user_dir):
    assert safe_name("../x") == "x"
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("my model (v2)") == "my-model-v2"
    for bad in ("..", "/", "", "  ", "ééé"):
        with pytest.raises(ValueError):
            safe_name(bad)
    folder = reserve_output_folder("sentiment", "../x")
    assert folder == user_dir / "x" and folder.is_dir()
    assert user_models_dir() == user_dir
    assert not (user_dir.parent / "x").exists()


def test_an_existing_folder_is_never_reused(tmp_path):
    shipped = tmp_path / "sentiment"
    shipped.mkdir()
    (shipped / "config.json").write_text("{}")
    first = reserve_output_folder("sentiment", "sentiment", root=tmp_path)
    second = reserve_output_folder("sentiment", "sentiment", root=tmp_path)
    assert (first.name, second.name) == ("sentiment-2", "sentiment-3")
    assert (shipped / "config.json").read_text() == "{}"
    stamped = reserve_output_folder("ner", root=tmp_path)
    assert stamped.name.startswith("ner-") and stamped != reserve_output_folder("ner", root=tmp_path)


def test_the_board_keeps_jobs_and_caps_simultaneous_runs(shared_data):
    board = JobBoard(max_running=1)
    spec = tiny_spec("lm", shared_data, max_steps=100_000, eval_every=100_000)
    job = board.start(spec, dev_limit=2000, name="long run")
    assert board.get(job.id) is job and board.jobs() == [job] and job.name == "long-run"
    with pytest.raises(JobLimitError, match="already going"):
        board.start(spec)
    job.stop()
    assert job.wait(WAIT_S) and job.status in ("stopped", "finished")
    board.forget(job.id)
    assert board.get(job.id) is None and board.running() == []
