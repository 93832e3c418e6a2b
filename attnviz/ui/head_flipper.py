"""The head flipper: a long text's all-heads grid and one head, switched in the browser.

At 512 tokens a head move through the server (new figure, new picture, Streamlit redrawing the
fragment) took ~0.5 s however light the figure. Here every head of the chosen layer is sent once as a
PNG served by Streamlit's media store (a URL each, so the browser fetches and caches it; a rerun
sends only the URLs), and a custom component (Streamlit components v2, head_flipper.js) shows the
grid, head buttons and the chosen head. Picking a head (click in the grid, a head button, or ← →)
draws it at once, then tells the server (the state "pick"), whose callback moves the Layer and Head
sliders, so the link, the downloads and the line and query/key views follow. A pick of another
layer (↑ ↓, the grid, the Layer slider) goes through the server: its pictures are not here yet.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from attnviz.plots.attention import _visible
from attnviz.plots.grid import LEVELS, GridPicture, palette_hex
from attnviz.plots.head_pictures import LayerPictures
from attnviz.trace import AttentionTrace

_HERE = Path(__file__).parent
HINT = "Hover over (or tap) the head for the two tokens and the weight there."

_HTML = """<div class="flipper" tabindex="0" aria-label="all heads and the chosen head; arrow keys move">
  <div class="grid-title"></div>
  <div class="grid"><img draggable="false"><div class="outline"></div></div>
  <div class="grid-readout">Click a head to look at it below; ← → move between heads, ↑ ↓ between layers
    (click here first).</div>
  <div class="heads"><span>Head</span></div>
  <div class="head-title"></div>
  <div class="axes">Rows are the queries (the first token at the top), columns the keys (the first at the left).</div>
  <div class="head"><img draggable="false"></div>
  <div class="colour"><span>0</span><div class="bar"></div><span class="bar-top"></span>
    <span class="bar-label">weight (0 to this head's largest)</span></div>
  <div class="readout"></div>
</div>"""

_CSS = """
.flipper { display: flex; flex-direction: column; gap: 0.4rem; outline: none; max-width: 860px; }
.flipper:focus-visible { box-shadow: 0 0 0 2px #1f77b466; border-radius: 4px; }
.grid-title, .head-title { font-weight: 600; font-size: 1.05rem; margin-top: 0.3rem; }
.grid { position: relative; line-height: 0; margin: 1.1rem 0 0 1.9rem; }
.tick { position: absolute; font-size: 0.7rem; line-height: 1; opacity: 0.7; white-space: nowrap; }
.tick.top { top: -0.95rem; transform: translateX(-50%); }
.tick.left { left: -1.8rem; transform: translateY(-50%); }
.grid img, .head img { width: 100%; display: block; image-rendering: pixelated; }
.grid img { cursor: pointer; }
.outline { position: absolute; outline: 3px solid #d62728; outline-offset: 1px; pointer-events: none; }
.grid-readout, .readout, .axes { font-size: 0.875rem; opacity: 0.75; min-height: 1.3em; overflow-wrap: anywhere; }
.heads { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.heads span { margin-right: 0.4rem; }
.heads button { min-width: 36px; min-height: 36px; padding: 0 6px; border: 1px solid #bbb; border-radius: 6px;
                background: transparent; color: inherit; font: inherit; cursor: pointer; }
.heads button[aria-pressed="true"] { background: #d62728; border-color: #d62728; color: white; }
.head img { cursor: crosshair; }
.loading .head img { opacity: 0.3; }
.colour { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; font-size: 0.875rem; }
.bar { flex: 1 1 160px; height: 12px; border: 1px solid #ccc; }
.bar-label { flex-basis: 100%; opacity: 0.75; }
"""

_component = st.components.v2.component(
    "attnviz_head_flipper", html=_HTML, css=_CSS, js=(_HERE / "head_flipper.js").read_text(encoding="utf-8"))


def media_url(data: bytes, coordinates: str, mimetype: str = "image/png") -> str:
    """A URL the browser can fetch `data` from: Streamlit's own media store (what st.image uses; an
    internal API of the pinned streamlit version), kept while this session's page shows it."""
    from streamlit.runtime import Runtime

    url = Runtime.instance().media_file_mgr.add(data, mimetype, coordinates)
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{url}" if base else url


def flipper_data(trace: AttentionTrace, grid: GridPicture, grid_png: bytes, pictures: LayerPictures,
                 layer: int, head: int, title: str, nonce: str | None, prefix: str) -> dict:
    """What head_flipper.js gets: sizes, the grid and head picture URLs, each head's top, the tokens."""
    return {
        "title": title, "layer": layer, "head": head, "nonce": nonce, "hint": HINT, "prefix": prefix,
        "n_layers": trace.n_layers, "n_heads": trace.n_heads, "levels": LEVELS, "palette": palette_hex(),
        "grid": {"url": media_url(grid_png, f"attnviz.{prefix}.grid"), "width": grid.width,
                 "height": grid.height, "block_w": grid.block_w, "block_h": grid.block_h, "gap": grid.gap,
                 "n_layers": grid.n_layers, "n_heads": grid.n_heads},
        "heads": [media_url(png, f"attnviz.{prefix}.head.{h}") for h, png in enumerate(pictures.pngs)],
        "tops": [round(top, 6) for top in pictures.tops],
        "queries": [_visible(str(t)) for t in trace.query_tokens],
        "keys": [_visible(str(t)) for t in trace.tokens],
    }


def _on_pick(component_key: str, layer_key: str, head_key: str, nonce_key: str, n_layers: int,
             n_heads: int) -> None:
    """The browser picked a head: it becomes the sliders' layer and head (checked, as it comes from
    the page), and its nonce is echoed so the page knows the server has caught up."""
    pick = (st.session_state.get(component_key) or {}).get("pick") or {}
    try:
        layer, head = int(pick["layer"]), int(pick["head"])
    except (KeyError, TypeError, ValueError):
        return
    if 0 <= layer < n_layers and 0 <= head < n_heads:
        st.session_state[layer_key], st.session_state[head_key] = layer, head
        st.session_state[nonce_key] = str(pick.get("nonce", ""))[:64]


def head_flipper(trace: AttentionTrace, grid: GridPicture, grid_png: bytes, pictures: LayerPictures,
                 layer: int, head: int, title: str, layer_key: str, head_key: str, prefix: str) -> None:
    """Mount the flipper for `layer`/`head` (the sliders' values); see the module docstring."""
    component_key, nonce_key = f"{prefix}_flipper", f"{prefix}_flipper_nonce"
    data = flipper_data(trace, grid, grid_png, pictures, layer, head, title,
                        st.session_state.get(nonce_key), prefix)
    _component(key=component_key, data=data, on_pick_change=lambda: _on_pick(
        component_key, layer_key, head_key, nonce_key, trace.n_layers, trace.n_heads))
