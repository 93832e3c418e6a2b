"""Streamlit views shared by the pages: tokens, notes, charts, downloads."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from attnviz.store.trace_files import trace_csv, trace_json, trace_npz  # noqa: F401 (ui.trace_csv etc.)
from attnviz.plots.toolbar_room import leave_room_for_toolbar
from attnviz.text import display
from attnviz.trace import AttentionTrace
from attnviz.ui.core import MAX_DOWNLOAD_WEIGHTS, MODEL_VIEW_MAX_CELLS, PLOTLY_CONFIG, badge, escape_markdown


def show_notes(trace: AttentionTrace, skip: Sequence[str] = ()) -> None:
    """The trace's notes (text cut to the context, tokens hidden, pieces merged) as st.info."""
    for note in trace.notes:
        if note not in skip:
            st.info(note)


def show_tokens(trace: AttentionTrace, label: str = "Tokens as the model sees them") -> None:
    """The tokens as badges (unknown tokens in red) and a warning naming the unknown ones."""
    unknown = [i for i, t in enumerate(trace.tokens) if t in display.UNKNOWN_TOKENS]
    parts = []
    for i, token in enumerate(trace.tokens):
        color = "red" if i in unknown else ("violet" if display.is_special(token) else "gray")
        parts.append(badge(display.readable_token(token), color))
    st.markdown(f"**{escape_markdown(label)}** ({len(trace.tokens)}):  \n" + " ".join(parts))
    if unknown:
        st.warning(f"{len(unknown)} token(s) are unknown to this model and read as "
                   f"{escape_markdown(trace.tokens[unknown[0]])}: the model sees no difference between "
                   "them (positions " + ", ".join(str(i) for i in unknown[:20])
                   + (", …" if len(unknown) > 20 else "") + ").")


def plot(fig: go.Figure, key: str, on_select: Callable[[], None] | None = None) -> None:
    """st.plotly_chart with the figure's own look (theme=None) and a PNG button in the modebar.
    on_select: a callback run when the selected point changes (a click on a point); its selection is
    then st.session_state[key].selection."""
    config = {**PLOTLY_CONFIG, "toImageButtonOptions": {**PLOTLY_CONFIG["toImageButtonOptions"],
                                                         "filename": re.sub(r"\W+", "_", key)}}
    fig = leave_room_for_toolbar(fig)
    if on_select is None:
        st.plotly_chart(fig, key=key, theme=None, config=config)
    else:
        st.plotly_chart(fig, key=key, theme=None, config=config, on_select=on_select, selection_mode="points")


def crop_trace(trace: AttentionTrace, n: int) -> AttentionTrace:
    """The first n query and key tokens, each row renormalised to sum to 1 (a row with no weight
    left becomes uniform over the keys it may see): a display-only view of a long text."""
    if n >= len(trace.tokens) and n >= len(trace.query_tokens):
        return trace
    weights = trace.weights[:, :, :n, :n].astype(np.float64)  # (L, H, n, n)
    mass = weights.sum(axis=-1, keepdims=True)
    allowed = np.tril(np.ones((weights.shape[2], weights.shape[3]))) if trace.causal else \
        np.ones((weights.shape[2], weights.shape[3]))
    uniform = allowed / allowed.sum(axis=1, keepdims=True)
    weights = np.where(mass > 1e-12, weights / np.where(mass > 1e-12, mass, 1.0), uniform[None, None])
    return dataclasses.replace(trace, weights=weights.astype(np.float32), tokens=trace.tokens[:n],
                               query_tokens=trace.query_tokens[:n])


def model_view_trace(trace: AttentionTrace) -> tuple[AttentionTrace, str | None]:
    """The trace to draw in the all-heads grid: cropped when the grid would be too big to send."""
    n_layers, n_heads, n_query, n_key = trace.weights.shape
    if n_layers * n_heads * n_query * n_key <= MODEL_VIEW_MAX_CELLS:
        return trace, None
    n = int((MODEL_VIEW_MAX_CELLS / (n_layers * n_heads)) ** 0.5)
    note = (f"The all-heads grid shows the first {n} of {n_key} tokens (rows renormalised over them) "
            f"so it stays light enough for the browser; the single-head view below shows every token.")
    return crop_trace(trace, n), note


def download_buttons(fig: go.Figure | None, trace: AttentionTrace, key: str, name: str = "attention") -> None:
    """Download the figure (standalone HTML with plotly.js inside, so it opens offline; skipped when
    fig is None) and the exact numbers (CSV, JSON); files are made only when clicked. PNG comes from
    the chart's own camera button."""
    stem = re.sub(r"[^\w.-]+", "_", f"{name}_{trace.model_name}").strip("_") or "attention"
    size = int(trace.weights.size)
    too_big = size > MAX_DOWNLOAD_WEIGHTS
    columns = st.columns(3 if fig is not None else 2)
    csv_col, json_col = columns[0], columns[1]
    if too_big:  # tens of millions of weights: hundreds of MB as text, a few tens of MB compressed
        csv_col.download_button("Numbers (NumPy, compressed)", data=(lambda: trace_npz(trace)),
                                file_name=f"{stem}.npz", mime="application/octet-stream", key=f"{key}_npz",
                                on_click="ignore", help=f"{size:,} weights: too many for CSV or JSON; "
                                "numpy.load(file) gives weights[layer, head, query, key], tokens, query_tokens")
        json_col.caption(f"This trace has {size:,} weights, too many for one CSV or JSON file (at most "
                         f"{MAX_DOWNLOAD_WEIGHTS:,}): all of them are in the NumPy file, and the head shown is "
                         "offered as CSV and JSON (gzip) beside “This view, offline” above.")
    else:
        _text_downloads(csv_col, json_col, trace, key, stem)
    if fig is None:
        return
    columns[2].download_button("Figure (HTML)", data=(lambda: fig.to_html(include_plotlyjs=True)),
                             file_name=f"{stem}.html", mime="text/html", key=f"{key}_html",
                             on_click="ignore", help="the interactive chart as a web page that works offline")


def _text_downloads(csv_col, json_col, trace: AttentionTrace, key: str, stem: str) -> None:
    """The CSV and JSON buttons (files made only when clicked)."""
    csv_col.download_button("Numbers (CSV)", data=(lambda: trace_csv(trace)), file_name=f"{stem}.csv",
                            mime="text/csv", key=f"{key}_csv", on_click="ignore",
                            help="layer, head, query, key and the exact weight, one row each")
    json_col.download_button("Numbers (JSON)", data=(lambda: trace_json(trace)), file_name=f"{stem}.json",
                             mime="application/json", key=f"{key}_json", on_click="ignore",
                             help="tokens (raw and as shown) and weights[layer][head][query][key]")


def mean_query_trace(trace: AttentionTrace, layer: int, label: str = "(all queries)") -> AttentionTrace:
    """One layer with its queries averaged into one row: what the mean-pooled sentence looks at,
    or the attention each token receives on average. Weights [1, heads, 1, keys]."""
    weights = trace.weights[layer:layer + 1].mean(axis=2, keepdims=True)  # (1, H, 1, K)
    return AttentionTrace(weights, trace.tokens, query_tokens=[label], causal=False,
                          model_name=trace.model_name)



def refresh_models() -> None:
    """Called after training: the model list is read from disk on every run and a retrained folder
    (new config.json) gets a new cache key, so there is nothing to clear."""


@st.fragment
def head_view(trace: AttentionTrace, prefix: str, model_name: str, title: str, with_mean: bool = True,
              caption: str | None = None) -> None:
    """One head large (and, if asked, its layer's mean beside it); a fragment, so moving the layer and
    head sliders reruns only this part. Keys: {prefix}_{model_name} (pickers), {prefix}_head/_mean.
    Layer and head are read from ?layer=&head= on open and kept there."""
    from attnviz import plots
    from attnviz.ui.core import layer_head_pickers

    st.subheader(title)
    if caption:
        st.caption(caption)
    from attnviz.ui.url_state import seed_from_url, url_set
    base = f"{prefix}_{model_name}"  # the keys layer_head_pickers gives its sliders
    seed_from_url(f"{base}_layer_{trace.n_layers}", "layer", trace.n_layers)  # a shared link's ?layer=
    seed_from_url(f"{base}_head_{trace.n_heads}", "head", trace.n_heads)
    layer, head = layer_head_pickers(trace.n_layers, trace.n_heads, key=base)
    url_set("layer", str(layer))
    url_set("head", str(head))
    if not with_mean:
        plot(plots.head_heatmap(trace, layer, head), key=f"{prefix}_head")
        return
    head_col, mean_col = st.columns(2)
    with head_col:
        plot(plots.head_heatmap(trace, layer, head), key=f"{prefix}_head")
    with mean_col:
        plot(plots.mean_heatmap(trace, layer), key=f"{prefix}_mean")
