"""The whole view in the URL: small helpers that read a control's first value from ?param= and
keep the address bar up to date, so a copied link opens the same view.

Numbers in a link are read by one strict rule (`parse_index`): ASCII digits only, no sign, at most
six of them. Python's int() takes "²" as a digit by isdigit() and then raises, and reads "٣" as 3;
a value that breaks the rule falls back to the default with a notice, never a traceback.
"""
from __future__ import annotations

import re

import streamlit as st

from attnviz.ui.safe_text import escape_markdown

_INDEX = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() also accepts ², ٣, ①
_NOTICES_KEY = "_url_notices_shown"


def parse_index(raw: object) -> int | None:
    """A link's number: a str of 1-6 ASCII digits (surrounding spaces allowed) as an int, else None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    return int(text) if _INDEX.fullmatch(text) else None


def url_notice(param: str, raw: str, what: str, fallback: str) -> None:
    """Say once per session and value that the link's ?param=raw was not used, and what is shown."""
    shown = st.session_state.setdefault(_NOTICES_KEY, set())
    if (param, raw) in shown:
        return
    shown.add((param, raw))
    st.warning(f"The link's {escape_markdown(param)}={escape_markdown(repr(raw)[1:-1][:40])} is not "
               f"{escape_markdown(what)}: {escape_markdown(fallback)} is shown instead.")


def url_int(param: str, n: int, notice: bool = True) -> int | None:
    """?param= as an int in 0..n-1; None when missing, or (with a notice) when not such a number."""
    raw = st.query_params.get(param)
    if raw is None:
        return None
    value = parse_index(raw)
    if value is not None and value < n:
        return value
    if notice:
        url_notice(param, str(raw), f"a whole number from 0 to {n - 1}", f"{param} 0")
    return None


def seed_from_url(key: str, param: str, n: int) -> None:
    """On open (key not yet in the session), a valid ?param= becomes the widget's first value."""
    if key not in st.session_state:
        value = url_int(param, n)
        if value is not None:
            st.session_state[key] = value


def heads_from_url(value: str) -> tuple[set[tuple[int, int]], list[str]]:
    """?off=3.9,0.1 -> ({(3, 9), (0, 1)}, []); parts that are not layer.head in ASCII digits come back
    in the second list (for a notice) and are not used."""
    heads: set[tuple[int, int]] = set()
    bad: list[str] = []
    for part in str(value).split(","):
        if not part.strip():
            continue
        layer, dot, head = part.strip().partition(".")
        pair = (parse_index(layer), parse_index(head))
        if dot and pair[0] is not None and pair[1] is not None:
            heads.add((pair[0], pair[1]))
        else:
            bad.append(part.strip())
    return heads, bad


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
