"""Streamlit helpers shared by the pages (attnviz.ui is the one part of the library that imports streamlit).

Models are loaded once per process (`st.cache_resource`, keyed by source and config.json mtime so a
retrained model is reloaded) and never changed afterwards; traces are cached with `st.cache_data`.
User text is never rendered as HTML: it goes into markdown only through `escape_markdown`, and
into figures as data (the figure builders escape their labels).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
import torch

from attnviz.bundles.loading import load
from attnviz.text import display
from attnviz.bundles import registry
from attnviz.store.checkpoint import CONFIG_FILE, CheckpointError
from attnviz.device import describe_device, pick_device
from attnviz.errors import InputError
from attnviz.bundles.registry import ModelEntry
from attnviz.trace import AttentionTrace
from attnviz import hosted
from attnviz.ui.hosting import is_hosted, max_text_chars
from attnviz.ui.safe_text import escape_markdown

log = logging.getLogger("attnviz.ui")

USER_ERRORS = (InputError, CheckpointError, ValueError, IndexError, OSError, MemoryError)
MAX_URL_TEXT = 4_000            # longer texts are not put into the shareable URL (the page says so)
MAX_DOWNLOAD_WEIGHTS = 2_000_000  # bigger traces are not offered as CSV/JSON (hundreds of MB of text)
MODEL_VIEW_MAX_CELLS = 1_500_000  # the all-heads grid is cropped to stay below this many cells
CHOICES_KEY, SHARED_TEXT_KEY = "_attnviz_model_choices", "_attnviz_shared_text"
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


# ------------------------------------------------------------------------------------ navigation

# On a phone a wide markdown table (Home's models, Verify's checks) ran past the screen's edge and was cut
# off with no way to reach its last columns: below 640 px it scrolls sideways in its own box instead.
PHONE_STYLE = """<style>
@media (max-width: 640px) {
  [data-testid="stMarkdownContainer"] table { display: block; max-width: 100%; overflow-x: auto; }
}
</style>"""


def ensure_app() -> None:
    """Call first on every page: make sure the page runs inside app.py's st.navigation.

    Because this app keeps its pages in a folder named `pages/`, Streamlit starts in its old
    multipage mode (every file of `pages/` a page of its own) until some session has run
    st.navigation. So the first request after a server start that is a deep link (/explorer?text=…)
    would run the page file alone: no page config, no shared sidebar. AppTest starts every run in
    that mode too. Here such a run switches the old mode off and reruns, this time through app.py,
    which sends it to the same page (the url paths are the file names).
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# --------------------------------------------------------------------------------- device, models

def app_device() -> torch.device:
    """Where the app runs models: the CUDA GPU when there is one, else the CPU."""
    device = pick_device("auto")
    return device if device.type == "cuda" else torch.device("cpu")


def configure_threads() -> int:
    """torch threads for this request, from the cores, the load and the active sessions (1 when hosted
    or when several sessions run; ATTNVIZ_TORCH_THREADS overrides): see attnviz/ui/threads.py."""
    from attnviz.ui.threads import configure_threads as configure

    return configure(is_hosted())


def device_label() -> str:
    return describe_device(app_device())


def device_badge() -> None:
    """The device in the sidebar: "CPU (n threads)" or "CUDA: <GPU name>"."""
    st.sidebar.caption(f"Device: **{escape_markdown(device_label())}**")


def _config_mtime(source: str) -> int:
    """config.json's mtime (ns) for a model folder, 0 for a named model: part of the cache key."""
    try:
        return (Path(source) / CONFIG_FILE).stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(show_spinner="Loading the model…", max_entries=12)
def _load_cached(source: str, mtime: int, device: str):
    del mtime  # only part of the key: a retrained model (new config.json) is loaded afresh
    return load(source, device=device)


def load_model(source: str | ModelEntry):
    """The bundle for a source (cached per process; the model is read-only once loaded)."""
    source = source.source if isinstance(source, ModelEntry) else str(source)
    return _load_cached(source, _config_mtime(source), str(app_device()))


def _word_ids(bundle, text: str, n_tokens: int) -> list[int | None] | None:
    """Which word each token belongs to when merging pieces; None lets display.merge_word_pieces
    group pieces by their markers ("##", "Ġ", "▁"), which keeps punctuation a word of its own.

    A character-level model has no markers, so its characters are grouped into words at white space
    here (each white-space character is a word of its own).
    """
    if getattr(getattr(bundle, "tokenizer", None), "kind", None) != "char":
        return None
    ids, word = [], 0
    for token in bundle.encode(text).tokens:
        if token.isspace():
            ids.append(word + 1)
            word += 2
        else:
            ids.append(word)
    return ids if len(ids) == n_tokens else None


def clip_text(text: str) -> tuple[str, str | None]:
    """The text cut to MAX_TEXT_CHARS (hosted mode: its smaller limit), and a note when it was cut."""
    limit = max_text_chars()
    if len(text) <= limit:
        return text, None
    return text[:limit], f"The text has {len(text):,} characters; only the first {limit:,} were read."


@st.cache_data(show_spinner=False, max_entries=48)
def _trace_cached(source: str, mtime: int, device: str, text: str, hide_special: bool,
                  merge_pieces: bool) -> AttentionTrace:
    bundle = _load_cached(source, mtime, device)
    trace = bundle.trace(text)
    if merge_pieces:  # before hiding: the word ids line up with the full token list
        trace = display.merge_word_pieces(trace, _word_ids(bundle, text, len(trace.tokens)))
    if hide_special:
        trace = display.hide_special_tokens(trace, getattr(bundle, "special_tokens", None))
    return trace


def get_trace(source: str | ModelEntry, text: str, hide_special: bool = False,
              merge_pieces: bool = False) -> AttentionTrace:
    """Every head of every layer for this text, optionally with special tokens hidden (rows
    renormalised) and word pieces merged into words (received = sum, given = mean)."""
    source = source.source if isinstance(source, ModelEntry) else str(source)
    text, note = clip_text(text)
    trace = _trace_cached(source, _config_mtime(source), str(app_device()), text, hide_special, merge_pieces)
    if note:
        trace = _with_notes(trace, [note])
    return trace


def _with_notes(trace: AttentionTrace, notes: list[str]) -> AttentionTrace:
    return dataclasses.replace(trace, notes=list(notes) + list(trace.notes))


# ------------------------------------------------------------------------------- pickers, inputs

def _choices() -> dict:
    return st.session_state.setdefault(CHOICES_KEY, {})


KIND_NOTES = {"pretrained": "Pretrained elsewhere, loaded read-only (not trained in this app).",
              "user": "Trained by you on the Train page."}


def listed_models(task: str | None = None) -> list[ModelEntry]:
    """The models this server offers: all of them, except that a hosted server leaves the prepared ones
    (SmolLM2) out unless ATTNVIZ_HOSTED_LARGE_MODELS=1 (memory: see attnviz.hosted)."""
    return registry.available_models(task, prepared=not is_hosted() or hosted.large_models_from_env())


def model_picker(task: str | None = None, key: str = "model", label: str = "Model",
                 param: str | None = "model", default: str | None = None,
                 sidebar: bool = True) -> ModelEntry | None:
    """A selectbox of the available models (of one task, or all), synced with ?<param>=<name>.

    The first time it is drawn in a session (or after a page switch) it takes, in order: the URL's
    choice, the last choice made with this key, `default`, the first model. Returns None (and says
    why) when there is no model for the task.
    """
    entries = listed_models(task)
    where = st.sidebar if sidebar else st
    if not entries:
        what = f"{task} " if task else ""
        where.warning(f"No {what}model is available. Train one on the Train page, or put a checkpoint "
                      f"folder into {registry.checkpoints_dir()}.")
        return None
    names = [e.name for e in entries]
    if st.session_state.get(key) not in names:
        url = st.query_params.get(param) if param else None
        remembered = _choices().get(key)
        start = next((n for n in (url, remembered, default) if n in names), names[0])
        st.session_state[key] = start
    kinds = {e.name: e for e in entries}
    name = where.selectbox(label, names, key=key)  # the bare name: a suffix was cut off in a narrow sidebar
    if kinds[name].kind in KIND_NOTES:
        where.caption(KIND_NOTES[kinds[name].kind])
    _choices()[key] = name
    if param and st.query_params.get(param) != name:
        st.query_params[param] = name
    return kinds[name]


def text_input_synced(label: str, key: str, default: str = "", param: str | None = "text",
                      area: bool = False, share: bool = True, help: str | None = None,
                      placeholder: str | None = None) -> str:
    """A text box synced with ?<param>=<text> (texts up to MAX_URL_TEXT characters).

    Its first value: the URL's text, else (share=True) the last text typed on any page, else default.
    """
    if key not in st.session_state:
        url = st.query_params.get(param) if param else None
        shared = st.session_state.get(SHARED_TEXT_KEY) if share else None
        st.session_state[key] = next((t for t in (url, shared) if t), default)
    widget = st.text_area if area else st.text_input
    options = {"height": 100} if area else {}
    value = widget(label, key=key, help=help, placeholder=placeholder, **options) or ""
    if share and value.strip():
        st.session_state[SHARED_TEXT_KEY] = value
    if param:
        if value and len(value) <= MAX_URL_TEXT:
            if st.query_params.get(param) != value:
                st.query_params[param] = value
        else:
            if param in st.query_params:
                del st.query_params[param]
            if len(value) > MAX_URL_TEXT:
                st.caption(f"This text ({len(value):,} characters) is too long to keep in the link (at most "
                           f"{MAX_URL_TEXT:,}): a copied link opens without it.")
    return value


def set_text(key: str, text: str) -> None:
    """Callback for example buttons: put `text` into the text box `key`."""
    st.session_state[key] = text


def example_buttons(examples: Sequence[str], key: str, label: str = "Examples:") -> None:
    """One small button per example sentence; a click fills the text box `key`."""
    st.caption(label)
    columns = st.columns(min(len(examples), 4))
    for i, example in enumerate(examples):
        columns[i % len(columns)].button(example, key=f"{key}_example_{i}", on_click=set_text,
                                         args=(key, example), width="stretch")


def index_picker(label: str, n: int, key: str, where=st) -> int:
    """A slider over 0..n-1 (a caption when n is 1): for layers and heads."""
    if n <= 1:
        where.caption(f"{label}: 0 (the only one)")
        return 0
    value = st.session_state.get(key)
    if not isinstance(value, int) or not 0 <= value < n:
        st.session_state[key] = 0
    return int(where.slider(label, 0, n - 1, key=key))


def layer_head_pickers(n_layers: int, n_heads: int, key: str) -> tuple[int, int]:
    """Layer and head sliders side by side; keys carry the sizes, so another model starts at 0."""
    left, right = st.columns(2)
    layer = index_picker("Layer", n_layers, f"{key}_layer_{n_layers}", left)
    head = index_picker("Head", n_heads, f"{key}_head_{n_heads}", right)
    return layer, head


# ----------------------------------------------------------------------------- safe text, errors

def badge(text: object, color: str = "gray") -> str:
    """Markdown for a coloured badge around escaped text (newlines shown as ⏎)."""
    text = str(text).replace("\n", "⏎").replace("\t", "⇥")
    shown = escape_markdown(text) if text.strip() else "␣" * max(1, len(text))
    return f":{color}-badge[{shown}]"


def show_error(exc: BaseException, context: str = "") -> None:
    """A problem in plain words with st.error: never a traceback (that goes to the server log)."""
    prefix = f"{context}: " if context else ""
    message = str(exc).strip() or type(exc).__name__
    if isinstance(exc, InputError):
        text = message
    elif isinstance(exc, CheckpointError):
        text = f"The model cannot be loaded. {message}"
    elif isinstance(exc, MemoryError):
        text = "There is not enough memory for this; try a shorter text or a smaller model."
    elif isinstance(exc, OSError):
        text = f"A file could not be read: {message}"
    else:
        text = f"That did not work: {message}"
    log.info("shown to the user: %s", text, exc_info=exc)
    st.error(prefix + text)


def require_text(text: str, what: str = "sentence") -> bool:
    """False (with a friendly note) when the box is empty or holds only white space."""
    if text and text.strip():
        return True
    st.info(f"Type a {what} above (or pick an example) to see the model's attention."
            if text == "" else "The text holds only spaces: type some words to see the model's attention.")
    return False
