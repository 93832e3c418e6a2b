"""Streamlit helpers for the Heads, Corpus search and Verify pages and the training replay view."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from attnviz import plots

from attnviz.plots import heads as plots_heads
from attnviz.analysis.corpora import CORPORA, load_corpus, typed_sentences
from attnviz.analysis.head_stats import head_statistics
from attnviz.analysis.replay import ReplayError, load_replay
from attnviz.training.data import DataError
from attnviz.bundles.registry import ModelEntry
from attnviz.ui.core import _config_mtime, _load_cached, app_device, escape_markdown, show_error
from attnviz.ui.views import model_view_trace, plot
from attnviz.hosted import LIMITS
from attnviz.ui.heavy import heavy_job
from attnviz.ui.hosting import is_hosted

TYPED = "sentences I type"
MAX_TYPED_CHARS = 200_000  # a typed corpus, all lines together (hosted: HostedLimits.max_typed_chars)


@st.cache_data(show_spinner=False, max_entries=8)
def _corpus(name: str) -> list[str]:
    return load_corpus(name)


def corpus_picker(key: str, default_size: int = 100, max_size: int = 1000,
                  full: bool = False) -> tuple[str, list[str]] | None:
    """Pick a shared dev set (and how many of its sentences) or type sentences; None (with a message)
    when nothing usable was given. full=True offers the whole dev set (no size slider)."""
    choice = st.radio("Sentences", list(CORPORA) + [TYPED], horizontal=True, key=f"{key}_corpus")
    try:
        if choice == TYPED:
            text = st.text_area("One sentence per line", key=f"{key}_typed",
                                value="The cat sat on the mat.\nShe gave him the book he wanted.")
            limit = LIMITS.max_typed_sentences if is_hosted() else max_size
            lines = typed_sentences(text, limit)
            chars, most = sum(map(len, lines)), LIMITS.max_typed_chars if is_hosted() else MAX_TYPED_CHARS
            if chars > most:
                raise ValueError(f"The sentences hold {chars:,} characters; the limit is {most:,}.")
            return "typed", lines
        sentences = _corpus(choice)
    except DataError as error:
        reason = str(error).split("; pass --data")[0]  # the command line's advice means nothing here
        st.warning(f"The shared data cannot be read: {escape_markdown(reason)}. Whoever runs this app sets "
                   "the ATTNVIZ_DATA environment variable to the data folder; meanwhile, type sentences "
                   f"instead (pick \"{TYPED}\" above).")
        return None
    except ValueError as error:
        st.warning(escape_markdown(error))
        return None
    if full:
        return choice, sentences
    upper = min(max_size, len(sentences))
    size = st.slider("How many sentences (the first N)", 1, upper, min(default_size, upper), key=f"{key}_size")
    return f"{choice} (first {size})", sentences[:size]


@st.cache_data(show_spinner=False, max_entries=16)
def _head_table(source: str, mtime: int, device: str, texts: tuple[str, ...]) -> pd.DataFrame:
    with heavy_job("computing head statistics"):  # hosted: one per visitor (a cache hit holds no slot)
        return head_statistics(_load_cached(source, mtime, device), list(texts))


def head_table(entry: ModelEntry, texts: list[str]) -> pd.DataFrame:
    """Head statistics of a model over texts (cached per model and texts)."""
    return _head_table(entry.source, _config_mtime(entry.source), str(app_device()), tuple(texts))


def replay_view(folder: str | Path, key: str, model_name: str = "") -> bool:
    """The training replay of a checkpoint folder: a step slider, every head for the probe sentence at
    that step and the loss curve with a marker. Returns False (drawing nothing) when there is none."""
    try:
        replay = load_replay(folder)
    except (ReplayError, OSError) as error:
        st.warning(f"The training replay of this model cannot be shown and is skipped: {escape_markdown(error)}")
        return True
    if replay is None or not replay.steps:
        return False
    probe = 0
    if len(replay.texts) > 1:
        probe = st.selectbox("Probe sentence", range(len(replay.texts)), format_func=lambda i: replay.texts[i],
                             key=f"{key}_probe")
    traces = replay.traces(probe, model_name)
    steps = [s for s, _ in traces]
    step = st.select_slider("Training step", steps, value=steps[-1], key=f"{key}_step_{probe}")
    trace = dict(traces)[step]
    try:
        shown, note = model_view_trace(trace)
        if note:
            st.caption(escape_markdown(note))
        plot(plots.model_view(shown), key=f"{key}_grid")
        plot(plots_heads.loss_with_marker(replay.loss, step), key=f"{key}_loss")
    except (ValueError, IndexError) as error:
        show_error(error, "The replay cannot be drawn")
    return True
