"""Views of a decoder at work, shared by the explorer and the generation page: the logit lens grid and
the text coloured by surprisal (both cached per model and text)."""
from __future__ import annotations

import streamlit as st

from attnviz.analysis.logit_lens import LogitLens, logit_lens
from attnviz.analysis.surprisal import Surprisal, surprisal
from attnviz.bundles.registry import ModelEntry
from attnviz.plots import decoder as plots_decoder
from attnviz.ui.core import _config_mtime, _load_cached, app_device
from attnviz.ui.views import plot

LENS_COLUMNS = 12  # positions shown at once in the lens grid


@st.cache_data(show_spinner=False, max_entries=32)
def _lens(source: str, mtime: int, device: str, text: str | None, ids: tuple[int, ...] | None) -> LogitLens:
    return logit_lens(_load_cached(source, mtime, device), text, ids=None if ids is None else list(ids))


@st.cache_data(show_spinner=False, max_entries=32)
def _surprisal(source: str, mtime: int, device: str, text: str) -> Surprisal:
    return surprisal(_load_cached(source, mtime, device), text)


def get_lens(entry: ModelEntry, text: str | None = None, ids: list[int] | None = None) -> LogitLens:
    return _lens(entry.source, _config_mtime(entry.source), str(app_device()), text,
                 None if ids is None else tuple(ids))


def get_surprisal(entry: ModelEntry, text: str) -> Surprisal:
    return _surprisal(entry.source, _config_mtime(entry.source), str(app_device()), text)


LENS_CAPTION = ("Each row reads the model's running state after that layer through its own final norm and "
                "output layer (the logit lens, nostalgebraist 2020). Text: that row's most likely next token; "
                "colour: the probability it gives the token the whole model predicts in the end (bottom row). "
                "Hover for the top 5.")


def logit_lens_view(entry: ModelEntry, key: str, text: str | None = None, ids: list[int] | None = None,
                    last_only: bool = False) -> LogitLens:
    """The lens grid; a long text shows LENS_COLUMNS positions at a time (a slider picks where;
    last_only: the last positions, e.g. the window a generation step read)."""
    lens = get_lens(entry, text, ids)
    n = len(lens.tokens)
    start = max(0, n - LENS_COLUMNS)
    if n > LENS_COLUMNS and not last_only:
        start = st.slider("First position shown", 0, n - LENS_COLUMNS, 0, key=f"{key}_start")
    plot(plots_decoder.logit_lens_figure(lens, start, start + LENS_COLUMNS), key=key)
    st.caption(LENS_CAPTION + (f" Positions {start}–{min(n, start + LENS_COLUMNS) - 1} of {n}." if n > LENS_COLUMNS else ""))
    return lens


def surprisal_caption(result: Surprisal) -> str:
    n = int(result.chars[1:].sum())
    return (f"{result.total_nats:.1f} nats over {len(result.tokens) - 1} predicted tokens and {n} characters: "
            f"{result.nats_per_char:.3f} nats per character. Surprisal is −log₂ p(token | the text before it); "
            "hover a token for the entropy of that prediction and what the model expected instead.")


def surprisal_view(entry: ModelEntry, text: str, key: str, title: str = "Surprisal of each token") -> Surprisal:
    """The text coloured by surprisal, with its totals."""
    result = get_surprisal(entry, text)
    plot(plots_decoder.surprisal_figure(result, title=title), key=key)
    st.caption(surprisal_caption(result))
    return result
