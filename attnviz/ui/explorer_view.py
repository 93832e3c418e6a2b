"""The explorer's views of one trace: the all-heads grid (a clickable picture), one head up close and
its layer's mean, the line view, and an offline HTML file of what is shown.

All of it is one `st.fragment`: moving the layer or head slider, or clicking a head in the grid,
reruns only this part; the grid picture is cached, so only the outline and the one head are rebuilt.
A long text (a head over 128 x 128 weights) is shown by the head flipper instead (head_flipper.py):
the grid and every head of the layer as pictures in the browser, a head move drawn there at once.
Layer and head live in the URL (?layer=&head=) and are read from it on open.
"""
from __future__ import annotations

import base64
import re

import plotly.graph_objects as go
import streamlit as st

from attnviz import plots

from attnviz.plots.toolbar_room import leave_room_for_toolbar
from attnviz.plots import grid as plots_grid
from attnviz.plots import head_pictures
from attnviz.plots.layer_views import pack_query_keys
from attnviz.plots.attention import is_picture

from attnviz.plots import lines as plots_lines

from attnviz.plots import qk as plots_qk
from attnviz.store import trace_files
from attnviz.trace import AttentionTrace
from attnviz.ui.core import MAX_DOWNLOAD_WEIGHTS, index_picker
from attnviz.ui import layer_views as browser_views
from attnviz.ui.head_flipper import head_flipper
from attnviz.ui.url_state import seed_from_url, toggle_synced, url_set
from attnviz.ui.views import plot


@st.cache_data(show_spinner=False, max_entries=32)
def _picture(cache_key: tuple, _trace: AttentionTrace) -> plots_grid.GridPicture:
    """The grid picture of a trace; cache_key names the trace (model, text, toggles), so the
    trace itself (tens of MB at 500 tokens) is never hashed."""
    del cache_key
    return plots_grid.grid_picture(_trace)


@st.cache_data(show_spinner=False, max_entries=8)
def _query_keys(cache_key: tuple, layer: int, _bundle, text: str):
    """Every head's q and k in one layer for the text (cached per trace and layer: one forward pass
    serves every head of the layer, so moving between heads costs no forward pass)."""
    del cache_key
    return _bundle.query_keys(text, layer)


def _picker_keys(prefix: str, model_name: str, trace: AttentionTrace) -> tuple[str, str]:
    base = f"{prefix}_{model_name}"
    return f"{base}_layer_{trace.n_layers}", f"{base}_head_{trace.n_heads}"


def _on_grid_click(grid_key: str, layer_key: str, head_key: str, n_layers: int, n_heads: int) -> None:
    """Selection callback of the grid: the clicked head becomes the chosen layer and head."""
    picked = plots_grid.picked_head(st.session_state.get(grid_key), n_layers, n_heads)
    if picked is not None:
        st.session_state[layer_key], st.session_state[head_key] = picked


def layer_head_from_url(trace: AttentionTrace, layer_key: str, head_key: str) -> None:
    """On open, the URL's ?layer= and ?head= (when valid) seed the sliders; others get a notice."""
    seed_from_url(layer_key, "layer", trace.n_layers)
    seed_from_url(head_key, "head", trace.n_heads)


def offline_html(figures: list[go.Figure]) -> str:
    """One standalone page with these figures and plotly.js inlined: it opens without a network."""
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures)]
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>attnviz</title></head><body>"
            + "\n".join(parts) + "</body></html>")


@st.cache_data(show_spinner=False, max_entries=16)
def _layer_pictures(cache_key: tuple, layer: int, _trace: AttentionTrace) -> head_pictures.LayerPictures:
    """Every head of one layer as a PNG (a long text's head flipper), cached per trace and layer."""
    del cache_key
    return head_pictures.layer_pictures(_trace, layer)


@st.fragment
def explorer_views(trace: AttentionTrace, model_name: str, cache_key: tuple, prefix: str = "explorer",
                   bundle=None, text: str | None = None) -> None:
    """Grid (click a head to pick it), layer/head sliders, the head and its layer's mean, line view."""
    layer_key, head_key = _picker_keys(prefix, model_name, trace)
    grid_key = f"{prefix}_model_view"
    layer_head_from_url(trace, layer_key, head_key)
    layer = st.session_state.get(layer_key, 0)
    head = st.session_state.get(head_key, 0)
    layer = layer if isinstance(layer, int) and 0 <= layer < trace.n_layers else 0
    head = head if isinstance(head, int) and 0 <= head < trace.n_heads else 0

    picture = _picture(cache_key, trace)
    if picture.pool > 1:
        st.caption(f"The grid pools {picture.pool} × {picture.pool} tokens into one pixel (their mean "
                   "weight) so all heads fit on screen, and colours each head from 0 to its own largest "
                   "pooled weight (pooling averages the peaks away); the head below shows every token.")
    title = f"All heads: {plots._plain(trace.model_name)}" if trace.model_name else "All heads"
    long_text = is_picture(len(trace.query_tokens), len(trace.tokens))
    if long_text:
        layer, head = _long_text_views(trace, picture, layer_key, head_key, prefix, cache_key)
    else:
        _short_text_views(trace, picture, title, layer, head, layer_key, head_key, grid_key, prefix)
    url_set("layer", str(layer))
    url_set("head", str(head))

    # built only when asked for: both cost a figure (and q/k a forward pass); a long text's are drawn
    # in the browser from every head of the layer (layer_views.py), so they follow the flipper at once
    lines = qk = None
    if toggle_synced(st, "Line view: each query joined to the keys it attends to", f"{prefix}_lines_on", "lines"):
        if long_text:
            extra, query = _line_controls(trace, head, prefix)
            lines = browser_views.lines_spec(trace, layer, extra, query, cache_key, prefix)
        else:
            line_view(trace, layer, head, prefix)
    if bundle is not None and text and toggle_synced(
            st, "Query and key vectors: where the weights come from", f"{prefix}_qk_on", "qk"):
        if trace.tokens != list(bundle.encode(text).tokens):
            st.info("Query and key vectors are shown for the tokens as the model reads them: switch off "
                    "hiding special tokens and merging word pieces to see them.")
        elif long_text:
            query = _qk_query(trace, prefix)
            try:
                qk = browser_views.qk_spec(_packed_query_keys(cache_key, layer, bundle, text), query, prefix)
            except (ValueError, IndexError) as exc:  # InputError is a ValueError: a model without q/k
                st.info(str(exc))
        else:
            query_key_view(bundle, text, trace, layer, head, prefix, cache_key)
    if lines or qk:
        browser_views.layer_views(trace, layer, head, prefix, lines, qk)

    def offline_page() -> str:  # built only when the button is pressed
        top = float(max(trace.head(layer, head).max(), 1e-6)) if long_text else 1.0
        return offline_html([plots_grid.grid_figure(picture, title, selected=(layer, head)),
                             plots.head_heatmap(trace, layer, head, zmax=top)])

    stem = re.sub(r"[^\w.-]+", "_", f"{prefix}_{trace.model_name}_L{layer}H{head}").strip("_")
    html_col, csv_col, json_col = st.columns(3)
    html_col.download_button("This view, offline (HTML)", data=offline_page, file_name=f"{stem}.html",
                             mime="text/html", key=f"{prefix}_offline_html", on_click="ignore",
                             help="the grid and the chosen head in one web page that works without a network "
                                  "(plotly.js is inside, about 5 MB)")
    if trace.weights.size > MAX_DOWNLOAD_WEIGHTS:  # the whole trace goes as NumPy only: this head as text
        csv_col.download_button(f"Layer {layer}, head {head} (CSV, gzip)", on_click="ignore",
                                data=lambda: trace_files.head_csv_gz(trace, layer, head), file_name=f"{stem}.csv.gz",
                                mime="application/gzip", key=f"{prefix}_head_csv",
                                help="this head's rows of the CSV: layer, head, query, key, tokens and the exact "
                                     "weight; pandas.read_csv opens the .gz as it is")
        json_col.download_button(f"Layer {layer}, head {head} (JSON, gzip)", on_click="ignore",
                                 data=lambda: trace_files.head_json_gz(trace, layer, head), file_name=f"{stem}.json.gz",
                                 mime="application/gzip", key=f"{prefix}_head_json",
                                 help="tokens (raw and as shown) and this head's weights[query][key]")


def _short_text_views(trace: AttentionTrace, picture: plots_grid.GridPicture, title: str, layer: int, head: int,
                      layer_key: str, head_key: str, grid_key: str, prefix: str) -> None:
    """The grid as a plotly chart (click a head), the Layer and Head sliders, the head and the layer mean."""
    grid = plots_grid.grid_figure(picture, title, selected=(layer, head))
    st.caption("Click a head in the grid to look at it closely below (it is outlined in red), or pick it with the "
               "Layer and Head sliders there (easier on a phone, where the grid's heads are small).")
    st.plotly_chart(leave_room_for_toolbar(grid), key=grid_key, theme=None, on_select=lambda: _on_grid_click(
        grid_key, layer_key, head_key, trace.n_layers, trace.n_heads), selection_mode="points",
        config={"displaylogo": False})
    st.subheader("One head up close")
    left, right = st.columns(2)
    layer = index_picker("Layer", trace.n_layers, layer_key, left)
    head = index_picker("Head", trace.n_heads, head_key, right)
    head_col, mean_col = st.columns(2)
    with head_col:
        plot(plots.head_heatmap(trace, layer, head), key=f"{prefix}_head")
    with mean_col:
        plot(plots.mean_heatmap(trace, layer), key=f"{prefix}_mean")


def _long_text_views(trace: AttentionTrace, picture: plots_grid.GridPicture, layer_key: str, head_key: str,
                     prefix: str, cache_key: tuple) -> tuple[int, int]:
    """A long text: the Layer and Head sliders, then the head flipper (the grid and every head of the
    layer as pictures already in the browser: a head move draws at once), and the layer mean on request."""
    st.caption("A long text: each head is a picture, one pixel per weight, coloured from 0 to the head's own "
               "largest weight (its colour bar). Every head of the layer is already in your browser: click "
               "one in the grid or a head button, or use ← → after clicking the pictures, and it is drawn "
               "at once. The exact numbers are in the downloads.")
    left, right = st.columns(2)
    layer = index_picker("Layer", trace.n_layers, layer_key, left)
    head = index_picker("Head", trace.n_heads, head_key, right)
    grid_png = base64.b64decode(picture.source.split(",", 1)[1])
    plain_title = f"All heads: {trace.model_name}" if trace.model_name else "All heads"  # set as text, not HTML
    head_flipper(trace, picture, grid_png, _layer_pictures(cache_key, layer, trace), layer, head, plain_title,
                 layer_key, head_key, prefix)
    if st.toggle("The layer's mean over its heads", key=f"{prefix}_mean_on"):
        mean = trace.mean_over_heads(layer)
        plot(plots.mean_heatmap(trace, layer, zmax=float(max(mean.max(), 1e-6))), key=f"{prefix}_mean")
    return layer, head


@st.cache_data(show_spinner=False, max_entries=8)
def _packed_query_keys(cache_key: tuple, layer: int, _bundle, text: str) -> bytes:
    """Every head's q and k of one layer, packed for the browser's query/key view."""
    return pack_query_keys(_query_keys(cache_key, layer, _bundle, text))


def _line_controls(trace: AttentionTrace, head: int, prefix: str) -> tuple[list[int], int | None]:
    """The line view's choices: other heads to draw beside the chosen one, and one query token (or None)."""
    others = [h for h in range(trace.n_heads) if h != head]
    extra = st.multiselect(f"Other heads beside head {head} (one colour each)", others,
                           key=f"{prefix}_lines_heads_{trace.n_heads}", format_func=lambda h: f"head {h}")
    n = len(trace.query_tokens)
    query = st.selectbox("Only the lines of one query token", [None] + list(range(n)), key=f"{prefix}_lines_query_{n}",
                         format_func=lambda q: "every query" if q is None else f"#{q} {trace.query_tokens[q]}")
    return [h for h in extra if h in others], query


def _qk_query(trace: AttentionTrace, prefix: str) -> int:
    """The query/key view's query token."""
    n = len(trace.tokens)
    return int(st.selectbox("Query token", list(range(n)), key=f"{prefix}_qk_query_{n}",
                            format_func=lambda q: f"#{q} {trace.tokens[q]}"))


def line_view(trace: AttentionTrace, layer: int, head: int, prefix: str) -> None:
    """BertViz's head view: tokens in two columns, a line from each query to each key it attends to."""
    extra, query = _line_controls(trace, head, prefix)
    heads = sorted({head, *extra})  # the slider's head is always drawn
    figure, note = plots_lines.line_view(trace, layer, heads, query=query)
    if note:
        st.caption(note)
    plot(figure, key=f"{prefix}_lines")


def query_key_view(bundle, text: str, trace: AttentionTrace, layer: int, head: int, prefix: str,
                   cache_key: tuple) -> None:
    """BertViz's neuron view for the chosen head: one query token's q, every k, q ⊙ k, the scores."""
    query = _qk_query(trace, prefix)
    try:
        vectors = _query_keys(cache_key, layer, bundle, text)[head]
    except (ValueError, IndexError) as exc:  # InputError is a ValueError: a model without q/k
        st.info(str(exc))
        return
    st.caption("Each key's score is the sum of its row of q ⊙ k divided by √d; the softmax of the scores is "
               "the row of the pattern above.")
    plot(plots_qk.query_key_figure(vectors, int(query)), key=f"{prefix}_qk")
