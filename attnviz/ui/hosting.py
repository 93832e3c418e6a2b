"""Hosted mode in the app (see attnviz.hosted), and the notes pages show about skipped model folders."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

import streamlit as st

from attnviz import hosted

from attnviz.bundles import registry
from attnviz.ui.safe_text import MAX_TEXT_CHARS, escape_markdown


def is_hosted() -> bool:
    """ATTNVIZ_HOSTED=1 in the environment, or `hosted = true` in .streamlit/secrets.toml."""
    if hosted.hosted_from_env():
        return True
    try:
        value = st.secrets.get("hosted", False)
    except Exception:  # no secrets file, or one that cannot be parsed: not hosted
        return False
    return value is True or str(value).strip().lower() in hosted.TRUE_WORDS


def limits() -> hosted.HostedLimits:
    return hosted.LIMITS


def max_text_chars() -> int:
    """How much of a pasted text the models read."""
    return hosted.LIMITS.max_text_chars if is_hosted() else MAX_TEXT_CHARS


def shown_path(path: str | Path) -> str:
    """How a server path is shown: in full locally; hosted, only its last part under "user models/"."""
    return f"user models/{Path(path).name}" if is_hosted() else str(path)


_EXPIRY_LOCK = threading.Lock()
_EXPIRY_EVERY_S = 60.0
_last_expiry: dict[str, float] = {}  # user-models folder -> when it was last swept


def expire_user_models_now() -> None:
    """Hosted: delete visitors' models past their time (at most once a minute, from any page load)."""
    from attnviz.training.jobs import user_models_dir

    root = user_models_dir()
    with _EXPIRY_LOCK:
        if time.monotonic() - _last_expiry.get(str(root), -_EXPIRY_EVERY_S) < _EXPIRY_EVERY_S:
            return
        _last_expiry[str(root)] = time.monotonic()
    hosted.expire_user_models(root)


@contextlib.contextmanager
def error_boundary(what: str = "This page"):
    """Run a page body; any exception that escapes it becomes one short st.error (details to the log).
    Streamlit's own stop/rerun signals are BaseExceptions and pass through untouched."""
    try:
        yield
    except Exception as error:  # the last line of defence: a visitor never sees a traceback
        logging.getLogger("attnviz.ui").exception("%s failed", what)
        kind = type(error).__name__
        st.error(f"{what} ran into a problem it could not handle ({kind}). Try other inputs, or reload the page.")


def show_skipped_models() -> None:
    """A quiet warning naming the model folders the listing left out (call after listing models)."""
    skipped = registry.skipped_folders()
    if not skipped:
        return
    lines = [f"- {escape_markdown(folder)}: {escape_markdown(reason)}" for folder, reason in skipped[:10]]
    more = f"\n- … and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    st.warning(f"{len(skipped)} model folder{'s' if len(skipped) > 1 else ''} could not be read and "
               f"{'are' if len(skipped) > 1 else 'is'} left out:\n" + "\n".join(lines) + more)
