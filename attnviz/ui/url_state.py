"""The whole view in the URL: small helpers that read a control's first value from ?param= and
keep the address bar up to date, so a copied link opens the same view."""
from __future__ import annotations

import streamlit as st


def url_int(param: str, n: int) -> int | None:
    """?param= as an int in 0..n-1, or None when missing or out of range."""
    raw = st.query_params.get(param)
    if raw is None or not str(raw).strip().lstrip("-").isdigit():
        return None
    value = int(str(raw).strip())
    return value if 0 <= value < n else None


def url_set(param: str, value: str | None) -> None:
    """Put ?param=value into the address bar (None removes it); no write when it is already so."""
    if value is None:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


def toggle_synced(where, label: str, key: str, param: str, help: str | None = None) -> bool:
    """A toggle whose first value comes from ?param=1 (or 0) and which keeps ?param=1 while on."""
    if key not in st.session_state and param in st.query_params:
        st.session_state[key] = st.query_params.get(param) in ("1", "true", "on")
    value = bool(where.toggle(label, key=key, help=help))
    url_set(param, "1" if value else None)
    return value
