"""How many torch threads a request gets. A shared 2-core machine taught us: two threads per request,
fighting other work (or the other sessions) for two cores, made SmolLM2 generation 10-20x slower than
one. So: ATTNVIZ_TORCH_THREADS when set; one thread when hosted or when several sessions are active;
else the cores not already busy (cores minus the 1-minute load average), at least one.

torch's thread pool is one per process: the choice is made at the start of each full rerun."""
from __future__ import annotations

import os

import torch

ENV = "ATTNVIZ_TORCH_THREADS"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def choose_threads(cores: int, active_sessions: int, hosted: bool, override: str | None = None,
                   load: float = 0.0) -> int:
    """Threads for one request (see the module docstring); `override` is ATTNVIZ_TORCH_THREADS."""
    text = (override or "").strip()
    if text.isascii() and text.isdigit() and 0 < int(text) <= 1024:
        return int(text)
    if hosted or active_sessions > 1:
        return 1
    return max(1, min(cores, cores - int(load)))


def active_sessions() -> int:
    """Browser sessions connected to this Streamlit server now (1 outside a server)."""
    try:
        from streamlit.runtime import Runtime

        return max(1, Runtime.instance()._session_mgr.num_active_sessions())
    except Exception:  # noqa: BLE001  no runtime (a script, AppTest) or another Streamlit version
        return 1


def configure_threads(hosted: bool) -> int:
    """Set torch's thread count for this request; returns it."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    threads = choose_threads(usable_cores(), active_sessions(), hosted, os.environ.get(ENV), load)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
