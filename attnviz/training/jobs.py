"""Training runs in background threads, so a run blocks neither the server nor other users.

`start_job` trains with `training_job.run_job` in a daemon thread and returns a `TrainingJob` at
once: its status, progress history, error and result are safe to read from any thread while it
runs. A `JobBoard` keeps jobs by id (the app keeps one board per server, so a run survives page
switches and reruns). Output always goes to a fresh folder under the user models folder, never
over an existing one: a shipped checkpoint cannot be overwritten from here. No streamlit inside.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from attnviz.store import safe_write
from attnviz.store.checkpoint import CONFIG_FILE, CheckpointError
from attnviz.training.data import NER_LABELS, SENTIMENT_LABELS, DataError, split_tail
from attnviz.errors import InputError
from attnviz.hosted import VISITOR_MARKER
from attnviz.training.train import Progress, TrainResult
from attnviz.training.training_job import JobSpec, load_job_data, run_job

log = logging.getLogger(__name__)

STATUSES = ("running", "finished", "stopped", "failed")
USER_ERRORS = (DataError, CheckpointError, InputError, ValueError, FileNotFoundError, PermissionError)
NAME_LIMIT = 64
HOLDOUT_FRACTION = 0.1  # share of an uploaded training file held out as dev when no dev file is given
_reserve_lock = threading.Lock()


def user_models_dir() -> Path:
    """Where models trained in the app go: the registry's answer ($ATTNVIZ_USER_MODELS, else a default)."""
    try:
        from attnviz.bundles.registry import user_models_dir as registry_dir
    except ImportError:
        registry_dir = None
    if registry_dir is not None:
        return Path(registry_dir())
    env = os.environ.get("ATTNVIZ_USER_MODELS")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "user_models"


def safe_name(name: str) -> str:
    """A folder name made of letters, digits, '-' and '_' only ('../x' -> 'x'); ValueError if none is left."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name.strip()).strip("-_")[:NAME_LIMIT].strip("-_")
    if not cleaned:
        raise ValueError(f"the model name {name!r} has no letters or digits; use letters, digits, - and _")
    return cleaned


def reserve_output_folder(task: str, name: str | None = None, root: str | Path | None = None) -> Path:
    """Create and return a new, empty folder `<root>/<name>` (default name `<task>-<timestamp>`).

    When the name is taken, `-2`, `-3`... is added: nothing that exists is ever reused or replaced.
    """
    base = Path(root) if root is not None else user_models_dir()
    safe_write.real_dir(base)
    stem = safe_name(name) if name and name.strip() else f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    with _reserve_lock:
        for attempt in range(1, 1000):
            folder = base / (stem if attempt == 1 else f"{stem}-{attempt}")
            if folder.resolve().parent != base.resolve():  # cannot happen with a safe name; belt and braces
                raise ValueError(f"the model name {name!r} would leave the folder {base}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            safe_write.save_text(folder / VISITOR_MARKER, "made by the attnviz Train page\n")
            return folder
    raise ValueError(f"too many models named {stem!r} in {base}; choose another name")


def split_holdout(task: str, data, fraction: float = HOLDOUT_FRACTION):
    """(train, dev): the last `fraction` of an uploaded file held out for dev (None when too small)."""
    if task == "lm":
        return split_tail(data, fraction) if len(data) >= 1000 else (data, None)
    if len(data) < 10:
        return data, None
    cut = len(data) - max(1, int(round(len(data) * fraction)))
    return data[:cut], data[cut:]


def check_labels(task: str, data, source: str = "the data") -> None:
    """DataError naming the labels the task's model cannot learn (sentiment 0/1, NER's BIO tags)."""
    if task == "sentiment":
        bad = sorted({label for _, label in data} - set(range(len(SENTIMENT_LABELS))))
        if bad:
            raise DataError(f"{source}: labels must be 0 (negative) or 1 (positive); found {bad[:5]}")
    elif task == "ner":
        bad = sorted({tag for _, tags in data for tag in tags} - set(NER_LABELS))
        if bad:
            raise DataError(f"{source}: tags {bad[:5]} are not among {' '.join(NER_LABELS)}")


def _plain_error(error: BaseException) -> str:
    """One line for a person: the message of a user error, a hint for memory, else the error's name."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "the GPU ran out of memory: try a smaller batch size or a smaller model"
    if isinstance(error, MemoryError):
        return "the machine ran out of memory: try a smaller batch size, model or training set"
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, USER_ERRORS) and first:
        return first
    return f"training failed unexpectedly ({type(error).__name__}{': ' + first if first else ''})"


@dataclass
class TrainingJob:
    """One training run. Read it from any thread; only its own thread writes the results."""

    spec: JobSpec
    folder: Path
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    status: str = "running"
    error: str = ""
    dev_metrics: dict = field(default_factory=dict)
    result: TrainResult | None = None
    finished_at: float | None = None
    data_description: dict = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _history: list[Progress] = field(default_factory=list, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the run to stop after the current step; it still saves what it has learned."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (True) or the timeout passes (False)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def history(self) -> list[Progress]:
        with self._lock:
            return list(self._history)

    def history_rows(self) -> list[dict]:
        """The progress events as dicts, the shape `plots.training_chart` takes."""
        return [asdict(event) for event in self.history()]

    def latest(self) -> Progress | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def fraction(self) -> float:
        """Share of the planned steps done, 0..1 (1 once the run has ended)."""
        if not self.running:
            return 1.0
        event = self.latest()
        if event is None or event.total_steps <= 0:
            return 0.0
        return min(1.0, max(0.0, event.step / event.total_steps))

    def elapsed_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def _record(self, event: Progress) -> None:
        with self._lock:
            self._history.append(event)

    def _finish(self, status: str, error: str = "") -> None:
        with self._lock:
            self.status, self.error, self.finished_at = status, error, time.time()


def _load_data(spec: JobSpec, train_data, dev_data, dev_limit: int) -> tuple[object, object, dict]:
    """Training and dev data with the limits applied, and a description for the checkpoint's metadata."""
    if train_data is None:
        train_data, dev_data, described = load_job_data(spec)  # applies spec.train_limit
    else:
        described = {"source": "uploaded file"}
        if spec.train_limit:
            train_data = train_data[: spec.train_limit]
        if dev_data is None:
            train_data, dev_data = split_holdout(spec.task, train_data)
            described["dev"] = f"last {HOLDOUT_FRACTION:.0%} of the upload" if dev_data is not None else "none"
    if not train_data:
        raise DataError("the training data is empty")
    check_labels(spec.task, train_data, "the training data")
    if dev_data is not None:
        check_labels(spec.task, dev_data, "the dev data")
    if dev_limit and dev_data is not None:
        dev_data = dev_data[:dev_limit]
    described.update(train_limit=spec.train_limit, dev_limit=dev_limit,
                     train_size=len(train_data), dev_size=len(dev_data) if dev_data is not None else 0)
    return train_data, dev_data, described


def _record_data_description(folder: Path, described: dict) -> None:
    """run_job marks in-memory data as 'uploaded'; write down where it really came from."""
    path = folder / CONFIG_FILE
    document = json.loads(path.read_text(encoding="utf-8"))
    document.setdefault("metadata", {})["data"] = described
    safe_write.save_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _run(job: TrainingJob, train_data, dev_data, dev_limit: int, max_seconds: float | None = None) -> None:
    deadline = job.started_at + max_seconds if max_seconds else None

    def should_stop() -> bool:
        if deadline is not None and time.time() > deadline:
            job._stop.set()  # out of time: stop like the Stop button, keeping what it learned
        return job._stop.is_set()

    try:
        train_data, dev_data, described = _load_data(job.spec, train_data, dev_data, dev_limit)
        job.data_description = described
        folder, result, dev_metrics = run_job(job.spec, job._record, should_stop, train_data, dev_data)
        _record_data_description(folder, described)
        job.result, job.dev_metrics = result, dev_metrics
        job._finish("stopped" if (job._stop.is_set() and result.stopped_early) else "finished")
    except BaseException as error:  # the thread must end with a status whatever happened
        if not isinstance(error, USER_ERRORS):
            log.exception("training job %s failed", job.id)
        if not (job.folder / CONFIG_FILE).is_file():
            try:
                (job.folder / VISITOR_MARKER).unlink(missing_ok=True)
                job.folder.rmdir()  # the reserved folder, empty but for its marker
            except OSError:
                pass
        job._finish("failed", _plain_error(error))


def start_job(spec: JobSpec, train_data=None, dev_data=None, *, name: str | None = None,
              dev_limit: int = 0, root: str | Path | None = None, max_seconds: float | None = None) -> TrainingJob:
    """Start training in a daemon thread and return its job at once.

    The output folder is new, under `root` (default: the user models folder), named `name`
    (made safe) or `<task>-<timestamp>`; `spec.out` is replaced by it. Data: `train_data`/`dev_data`
    in memory (an upload; without dev data the last 10% is held out), else what `spec` names.
    `spec.train_limit` and `dev_limit` cut the data for a quick run; `max_seconds` stops the run
    (keeping what it learned) once that much time has passed since it started.
    """
    folder = reserve_output_folder(spec.task, name, root)
    job = TrainingJob(spec=replace(spec, out=str(folder)), folder=folder)
    job._thread = threading.Thread(target=_run, args=(job, train_data, dev_data, dev_limit, max_seconds),
                                   name=f"attnviz-train-{job.id}", daemon=True)
    job._thread.start()
    return job


class JobLimitError(ValueError):
    """Too many runs at once for this server."""


class JobBoard:
    """The jobs of one server by id; thread-safe. `max_running` caps simultaneous runs."""

    def __init__(self, max_running: int = 2) -> None:
        self.max_running = max_running
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()

    def start(self, spec: JobSpec, train_data=None, dev_data=None, **options) -> TrainingJob:
        with self._lock:
            busy = sum(job.running for job in self._jobs.values())
            if busy >= self.max_running:
                raise JobLimitError(f"{busy} training run{'s are' if busy > 1 else ' is'} already going on this "
                                    "server; wait for one to end or stop it")
            job = start_job(spec, train_data, dev_data, **options)
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[TrainingJob]:
        """Newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.started_at, reverse=True)

    def running(self) -> list[TrainingJob]:
        return [job for job in self.jobs() if job.running]

    def forget(self, job_id: str) -> None:
        """Drop an ended job from the board (its saved model stays)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not job.running:
                del self._jobs[job_id]
