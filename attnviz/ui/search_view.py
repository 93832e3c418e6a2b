"""Corpus search in the app: every layer's index built once per model and corpus (one pass, progress bar,
Stop button), held per server process and on disk for the shared dev sets; one heavy job per visitor."""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from attnviz.analysis import index_cache
from attnviz.analysis.context_index import DEFAULT_MAX_BYTES, ContextIndex, build_layers
from attnviz.bundles.registry import ModelEntry
from attnviz.hosted import LIMITS
from attnviz.ui.core import _config_mtime, _load_cached, app_device
from attnviz.ui.heavy import heavy_job
from attnviz.ui.hosting import is_hosted

STOPPED_KEY = "_attnviz_search_stopped"


MAX_HELD = 4  # indexes (model x corpus) held per server process, least recently used dropped


@st.cache_resource(show_spinner=False)
def _held() -> tuple[OrderedDict, threading.Lock]:
    """The server's built indexes. Not an st.cache_resource of the builder itself: the builder draws a
    progress bar, and Streamlit cannot replay element calls made inside a cached function."""
    return OrderedDict(), threading.Lock()


def _build(source: str, mtime: int, device: str, texts: tuple[str, ...], disk: bool,
           _progress=None) -> dict[int, ContextIndex]:
    hosted = is_hosted()
    budget = LIMITS.index_cache_bytes if hosted else index_cache.DEFAULT_BUDGET_BYTES
    return build_layers(_load_cached(source, mtime, device), list(texts), cache=disk, progress=_progress,
                        cache_budget_bytes=budget, max_bytes=LIMITS.index_memory_bytes if hosted else DEFAULT_MAX_BYTES)


def _key(entry: ModelEntry, texts: list[str], disk: bool) -> tuple:
    return entry.source, _config_mtime(entry.source), str(app_device()), tuple(texts), disk


def _stop(key: tuple) -> None:
    st.session_state[STOPPED_KEY] = hash(key)


def corpus_indexes(entry: ModelEntry, texts: list[str], disk: bool) -> dict[int, ContextIndex] | None:
    """{layer: index} of the model over the texts, built here (progress bar, Stop) when not built yet;
    None (with a note and a button to build) after the visitor pressed Stop."""
    key = _key(entry, texts, disk)
    held, lock = _held()
    with lock:
        if key in held:
            held.move_to_end(key)
            return held[key]
    if st.session_state.get(STOPPED_KEY) == hash(key):
        st.info(f"Stopped: the index of {len(texts):,} sentences was not built. Fewer sentences build faster.")
        if not st.button("Build the index", key="search_build"):
            return None
        st.session_state.pop(STOPPED_KEY, None)
    place = st.empty()
    with place.container():
        st.button("Stop", key="search_stop", on_click=_stop, args=(key,),
                  help="Stops building the index (a built index is kept for everyone)")
        bar = st.progress(0.0, text=f"Embedding {len(texts):,} sentences at every layer (once per model)…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Embedded {done:,} of {total:,} sentences (every layer at once)…")

    with heavy_job("building a corpus index"):
        indexes = _build(*key, _progress=progress)
    with lock:
        held[key] = indexes
        while len(held) > MAX_HELD:
            held.popitem(last=False)
    place.empty()
    return indexes
