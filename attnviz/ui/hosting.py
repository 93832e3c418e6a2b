"""Hosted mode in the app (see attnviz.hosted), and the notes pages show about skipped model folders."""
from __future__ import annotations

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


def show_skipped_models() -> None:
    """A quiet warning naming the model folders the listing left out (call after listing models)."""
    skipped = registry.skipped_folders()
    if not skipped:
        return
    lines = [f"- {escape_markdown(folder)}: {escape_markdown(reason)}" for folder, reason in skipped[:10]]
    more = f"\n- … and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    st.warning(f"{len(skipped)} model folder{'s' if len(skipped) > 1 else ''} could not be read and "
               f"{'are' if len(skipped) > 1 else 'is'} left out:\n" + "\n".join(lines) + more)
