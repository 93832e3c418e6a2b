"""Train: a sentiment classifier, an NER tagger or a character language model, in the background.

The run goes on in a thread (attnviz.training.jobs) kept on one board per server, so it survives page
switches and does not block anyone; a fragment redraws its progress every second.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
import torch
from streamlit.errors import StreamlitAPIException

from attnviz import plots, ui

from attnviz.bundles import registry
from attnviz import hosted as hosting_policy
from attnviz.device import describe_device, pick_device
from attnviz.training.budget import RunCaps
from attnviz.training.jobs import JobBoard, TrainingJob, safe_name, user_models_dir
from attnviz.training.train import TrainConfig
from attnviz.training.training_job import JobSpec, ModelShape
from attnviz.ui.analysis_views import replay_view
from attnviz.ui.train_data import UNIT, data_section

TASKS = {"sentiment": "Sentiment: positive or negative (SST-2 sentences)",
         "ner": "Named entities: people, organisations, places (WikiANN)",
         "lm": "Character language model (tiny Shakespeare)"}
QUICK = {"sentiment": 2000, "ner": 2000, "lm": 200_000}  # training examples (lm: characters) in a quick run
QUICK_DEV = {"sentiment": 300, "ner": 300, "lm": 10_000}  # dev examples (lm: characters) in a quick run
QUICK_STEPS = 150  # language-model steps in a quick run
LEARNING_RATE = {False: 1e-3, True: 1e-4}  # default peak rate: from scratch, from the pretrained encoder
PRETRAINED = "all-MiniLM-L6-v2"
TASK_SCRIPTS = {"sentiment": "sentiment.py", "ner": "ner.py", "lm": "generation.py"}
TASK_PAGES = {"sentiment": "Sentiment", "ner": "Named entities", "lm": "Text generation"}
md = ui.escape_markdown  # every path, name and message shown goes through it
REPLAY_PROBES = {"sentiment": "a gripping , funny and moving film .",  # the probe whose attention is replayed
                 "ner": "Angela Merkel visited the Google offices in Paris .",
                 "lm": "To be, or not to be, that is the question."}


@st.cache_resource(show_spinner=False)
def job_board(max_running: int = 2) -> JobBoard:
    """One board per server: every session sees the same runs, and they outlive reruns."""
    return JobBoard(max_running=max_running)


def server_board() -> JobBoard:
    """The server's board: one run at a time in hosted mode, two otherwise."""
    return job_board(hosting_policy.LIMITS.max_running_jobs if ui.is_hosted() else 2)


def device_choices() -> list[str]:
    choices = ["auto", "cpu"]
    if torch.cuda.is_available():
        choices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        choices.append("mps")
    return choices


def settings_section(task: str, n_examples: int | None) -> tuple[dict, dict]:
    """(TrainConfig options, JobSpec options) from the hyper-parameter widgets."""
    hosted, caps = ui.is_hosted(), hosting_policy.LIMITS
    if hosted:
        quick = True
        st.caption(f"This is a hosted demo: quick runs only, at most {caps.max_train_steps} steps and "
                   f"{int(caps.max_train_seconds)} s, one run at a time on the server; trained models are "
                   f"deleted after {int(caps.user_model_ttl_s // 60)} minutes.")
    else:
        quick = st.toggle("Quick run (a demo that ends in a minute or so)", value=True, key="train_quick")
    limit = 0
    most = (caps.max_train_examples * (100 if task == "lm" else 1)) if hosted else 10_000_000
    if quick:
        limit = st.number_input(f"Use only the first N training {UNIT[task]}", min_value=100,
                                max_value=most, value=min(QUICK[task], most), step=100, key=f"train_limit_{task}")
    spec: dict = {"train_limit": int(limit), "caps": RunCaps() if hosted else None}
    start_from = "scratch"
    if task in ("sentiment", "ner"):
        start_from = st.radio("Start from", ["scratch", PRETRAINED], horizontal=True, key="train_init",
                              format_func=lambda c: "a new, random model" if c == "scratch"
                              else f"pretrained {PRETRAINED} (a real encoder; its first layers)")
    if start_from == PRETRAINED:
        spec.update(init=PRETRAINED, init_layers=st.slider("Layers kept", 1, 6, 2, key="train_init_layers"))
        if st.checkbox("Keep its full vocabulary, word embeddings frozen", value=False, key="train_full_vocab",
                       help="Every word piece the encoder knows (30,522) instead of the ones the training "
                            "data uses most; the frozen embeddings are read from the installed package."):
            spec.update(max_vocab=0, freeze_embeddings=True)
    else:
        a, b, c = st.columns(3)
        layers = a.slider("Layers", 1, 6, 2, key="train_layers")
        d_model = b.select_slider("Width (d_model)", [32, 64, 128, 256], 64 if quick else 128, key="train_d_model")
        heads = c.select_slider("Heads", [1, 2, 4, 8], 4, key="train_heads")
        spec["shape"] = ModelShape(d_model=d_model, n_heads=heads, n_layers=layers, d_ff=4 * d_model)
    left, middle, right = st.columns(3)
    if task == "lm":
        steps = left.number_input("Training steps", 10, caps.max_train_steps if hosted else 100_000,
                                  QUICK_STEPS if quick else 2000, step=50, key=f"train_steps_{quick}")
        epochs = 1
    else:
        default = (1 if start_from == PRETRAINED else 3) if quick else 5
        epochs = left.number_input("Epochs", 1, caps.max_epochs if hosted else 50, min(default, caps.max_epochs)
                                   if hosted else default, key=f"train_epochs_{quick}_{start_from}")
        steps = caps.max_train_steps if hosted else 0
    batch = middle.number_input("Batch size", 1, 512, 32, key="train_batch")
    lr = right.number_input("Peak learning rate", 1e-6, 0.1, LEARNING_RATE[start_from == PRETRAINED],
                            step=1e-4, format="%.5f", key=f"train_lr_{start_from}",
                            help="Reached after a short warm-up (a tenth of the steps), then lowered linearly to 0.")
    examples = int(limit) or n_examples
    planned = int(steps) if task == "lm" else (examples // int(batch) * int(epochs) if examples else 1000)
    device = st.selectbox("Device", device_choices(), key="train_device",
                          help="auto: the GPU when there is one, else the CPU")
    try:
        st.caption(f"Trains on: {describe_device(pick_device(device))}")
    except ValueError as error:
        st.warning(md(error))
    dev_limit = QUICK_DEV[task] if quick else 0
    probe = st.text_input("Replay sentence (its attention is recorded as the model trains)",
                          REPLAY_PROBES[task], key=f"train_replay_{task}", max_chars=300,
                          help="Leave empty to record nothing. After the run, a slider replays every head.")
    spec["replay_texts"] = (probe.strip(),) if probe.strip() else ()
    train = dict(task=task, epochs=int(epochs), max_steps=int(steps), batch_size=int(batch), lr=float(lr),
                 schedule="linear", warmup_steps=max(5, min(500, planned // 10)), device=device,
                 eval_every=max(50, int(steps) // 3) if task == "lm" else 0, eval_limit=dev_limit)
    return train, spec | {"dev_limit": dev_limit}


def metric_columns(metrics: dict) -> None:
    shown = [(k, v) for k, v in metrics.items() if isinstance(v, float)]
    for column, (name, value) in zip(st.columns(max(1, len(shown))), shown):
        column.metric(name, f"{value:.3f}")


def link_to_model(job: TrainingJob) -> None:
    """Where the new model can be used: a link to the explorer with it selected."""
    entry = next((e for e in registry.available_models(job.task) if e.source == str(job.folder)), None)
    if entry is None:
        return
    folder = Path(__file__).resolve().parent.name  # the pages' folder, relative to app.py
    page = f"{folder}/{TASK_SCRIPTS[job.task]}"
    st.markdown(f"**{md(entry.name)}** is now in the model lists of the other pages.")
    left, right = st.columns(2)
    try:
        left.page_link(f"{folder}/explorer.py", label="See its attention in the explorer",
                       icon=":material/grid_view:", query_params={"model": entry.name})
        right.page_link(page, label=f"Try it on the {TASK_PAGES[job.task]} page", icon=":material/arrow_forward:",
                        query_params={"model": entry.name})
    except StreamlitAPIException:  # the page runs on its own (tests): no other page to link to
        pass


def show_ended(job: TrainingJob) -> None:
    minutes, seconds = divmod(int(job.elapsed_s()), 60)
    took = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    if job.status == "failed":
        st.error(f"Training {md(job.name)} failed: {md(job.error)}")
        if (job.folder / "config.json").is_file():
            st.info(f"The best model before the failure is saved in {md(ui.shown_path(job.folder))}.")
        return
    steps = job.result.steps if job.result else 0
    if job.status == "stopped":
        st.warning(f"Stopped after {steps} steps ({took}). What it had learned is saved in {md(ui.shown_path(job.folder))}.")
    else:
        st.success(f"Finished {steps} steps in {took}. Saved in {md(ui.shown_path(job.folder))}.")
    link_to_model(job)
    if job.dev_metrics:
        st.caption(f"Dev metrics on {job.dev_metrics.get('n', '?')} examples:")
        metric_columns(job.dev_metrics)
    history = job.history_rows()
    if history:
        ui.plot(plots.training_chart(history, history[-1]["metric_name"]), key=f"train_chart_{job.id}")
    with st.expander("Replay: how the attention formed", expanded=True):
        if not replay_view(job.folder, key=f"train_replay_{job.id}", model_name=job.name):
            st.caption("This run recorded no replay (no replay sentence was given).")


def show_running(job: TrainingJob) -> None:
    event = job.latest()
    if event is None:
        st.progress(0.0, text=f"{md(job.name)}: preparing the data and the model...")
    else:
        eta = ""
        if event.step:
            left = event.elapsed_s * (event.total_steps - event.step) / event.step
            eta = f", about {int(left)} s to go"
        dev = f", dev {event.metric_name} {event.dev_metric:.3f}" if event.dev_metric is not None else ""
        st.progress(job.fraction(), text=f"{md(job.name)}: step {event.step}/{event.total_steps}, "
                                         f"loss {event.loss:.3f}{dev}{eta}")
    if job.stop_requested:
        st.caption("Stopping after this step...")
    elif st.button("Stop", key=f"train_stop_{job.id}", help="Stop now and keep what it has learned"):
        job.stop()
        st.caption("Stopping after this step...")
    history = job.history_rows()
    if history:
        ui.plot(plots.training_chart(history, history[-1]["metric_name"]), key=f"train_live_{job.id}")


@st.fragment(run_every=1.0)
def live_progress(job_id: str) -> None:
    job = server_board().get(job_id)
    if job is None:
        return
    if job.running:
        show_running(job)
    else:  # it has just ended: redraw the whole page, so the results and the model lists show it
        st.rerun(scope="app")


def run_list(board: JobBoard) -> None:
    jobs = board.jobs()
    if jobs:
        with st.expander(f"Training runs on this server ({len(jobs)})"):
            st.dataframe([{"model": j.name, "task": j.task, "status": j.status, "seconds": int(j.elapsed_s())}
                          for j in jobs], hide_index=True)


def start(board: JobBoard, task: str, data: dict, described: str, train: dict, spec: dict, name: str) -> None:
    dev_limit = spec.pop("dev_limit")
    data = dict(data)
    in_memory = {"train_data": data.pop("train_data", None), "dev_data": data.pop("dev_data", None)}
    try:
        job_spec = JobSpec(task=task, out="", train=TrainConfig(**train), command=f"Train page: {described}",
                           **data, **spec)
        max_seconds = hosting_policy.LIMITS.max_train_seconds if ui.is_hosted() else None
        job = board.start(job_spec, **in_memory, name=name.strip() or None, dev_limit=dev_limit,
                          max_seconds=max_seconds)
    except ui.USER_ERRORS as error:
        ui.show_error(error, "The run did not start")
        return
    st.session_state["train_job_id"] = job.id
    time.sleep(0.3)  # let it report before the page is drawn again
    st.rerun()


def main() -> None:
    ui.ensure_app()
    st.title("Train a model")
    st.caption("Trains in the background: you can switch pages and come back. Each model goes to a new folder "
               f"in {md(ui.shown_path(user_models_dir()) if not ui.is_hosted() else 'user models/')}; the shipped checkpoints are never touched.")
    if ui.is_hosted():
        ui.expire_user_models_now()
    board = server_board()
    job = board.get(st.session_state.get("train_job_id"))
    busy = job is not None and job.running
    if busy:
        live_progress(job.id)
    elif job is not None:
        if st.session_state.get("train_announced") != job.id:
            ui.refresh_models()
            st.session_state["train_announced"] = job.id
        show_ended(job)
    if job is not None:
        st.divider()
        st.subheader("Another run" if not busy else "Settings")

    task = st.selectbox("Task", list(TASKS), format_func=TASKS.get, key="train_task")
    data, described = data_section(task)
    train, spec = settings_section(task, len(data["train_data"]) if data and "train_data" in data else None)
    name = st.text_input("Name of the new model (optional)", key="train_name",
                         placeholder=f"{task}-<date>-<time>", help="Letters, digits, - and _.")
    name_ok = True
    if name.strip():
        try:
            clean = safe_name(name)
            if clean != name.strip():
                st.caption(f"It will be saved as {md(clean)}.")
        except ValueError as error:
            st.error(md(error))
            name_ok = False
    clicked = st.button("Start training", type="primary", disabled=busy or data is None or not name_ok,
                        key="train_start", help="Your run is still going: stop it or wait" if busy else None)
    run_list(board)
    if clicked:
        start(board, task, data, described, train, spec, name)


main()
