"""One heavy job (a corpus index, head statistics over a corpus) per visitor at a time, in hosted mode.

A visitor is the client's address when Streamlit knows it, else the browser session. A second heavy
job of the same visitor (another tab) is refused with InputError instead of queueing up CPU time.
"""
from __future__ import annotations

import contextlib
import threading

import streamlit as st

from attnviz.errors import InputError
from attnviz.ui.hosting import is_hosted

_LOCK = threading.Lock()
_RUNNING: dict[str, str] = {}  # visitor -> what runs


def visitor_id() -> str:
    """Who is asking: the client's IP address when known, else this browser session's id."""
    try:
        address = st.context.ip_address
    except Exception:  # older Streamlit or no request context
        address = None
    if address:
        return f"ip:{address}"
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id if ctx else 'none'}"


@contextlib.contextmanager
def heavy_job(what: str, visitor: str | None = None, hosted: bool | None = None):
    """Hold the visitor's one heavy-job slot while the body runs (hosted mode only)."""
    if not (is_hosted() if hosted is None else hosted):
        yield
        return
    visitor = visitor or visitor_id()
    with _LOCK:
        running = _RUNNING.get(visitor)
        if running is not None:
            raise InputError(f"You are already {running} (in another tab?); this demo runs one heavy job per "
                             "visitor at a time. Try again when it has finished.")
        _RUNNING[visitor] = what
    try:
        yield
    finally:
        with _LOCK:
            _RUNNING.pop(visitor, None)
