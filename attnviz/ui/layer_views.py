"""A long text's line and query/key views, drawn in the browser so they follow the head flipper at once.

The plotly views are re-created by Streamlit on every head move (~0.4 s in the browser at 512
tokens). Here the lines of every head of the layer (attnviz/plots/layer_views.py) and, for the
query/key view, every head's q and k go to the page once as binaries from Streamlit's media store;
layer_views.js draws the chosen head's lines (SVG) and computes q ⊙ k, q·k/√d and the softmax for the
chosen query (canvas and SVG), and redraws when the flipper shows another head. The controls (other
heads, one query token) stay Streamlit widgets above the views.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from attnviz.plots.attention import _visible
from attnviz.plots.grid import palette_hex
from attnviz.plots.layer_views import MIN_WEIGHT, pack_lines
from attnviz.plots.lines import HEAD_COLOURS, MAX_LINES, WEIGHT_BANDS
from attnviz.plots.qk import VECTOR_SCALE
from attnviz.trace import AttentionTrace
from attnviz.ui.head_flipper import media_url

_HERE = Path(__file__).parent
QK_CAPTION = ("Each key's score is the sum of its row of q ⊙ k divided by √d; the softmax of the scores is the "
              "row of the pattern above. Hover over the panels for a key's score and weight.")

_HTML = f"""<div class="views">
  <div class="problem"></div>
  <div class="lines-box" hidden>
    <div class="title lines-title"></div><div class="lines-legend"></div><div class="note lines-note"></div>
    <div class="lines"></div>
  </div>
  <div class="qk-box" hidden>
    <div class="title qk-title"></div><div class="note">{QK_CAPTION}</div>
    <div class="qk-grid">
      <span></span><span class="panel-title" style="grid-column: 2 / 4">query q</span><span></span><span></span>
      <span></span><canvas class="qk-q" style="grid-column: 2 / 4"></canvas><span></span><span></span>
      <span></span><span class="panel-title">keys k</span><span class="panel-title">q ⊙ k</span>
      <span class="panel-title">q·k / √d<br><small class="qk-score-range"></small></span>
      <span class="panel-title">softmax<br><small>0 to 1</small></span>
    </div>
    <div class="qk-grid qk-panels">
      <div class="qk-labels"></div><canvas class="qk-k"></canvas><canvas class="qk-product"></canvas>
      <svg class="qk-scores" data-colour="#1f77b4" preserveAspectRatio="none"></svg>
      <svg class="qk-weights" data-colour="#08519c" preserveAspectRatio="none"></svg>
    </div>
    <div class="note qk-readout"></div>
  </div>
</div>"""

_CSS = """
.views { display: flex; flex-direction: column; gap: 1rem; max-width: 860px; }
.title { font-weight: 600; font-size: 1.05rem; }
.note, .lines-legend { font-size: 0.875rem; opacity: 0.75; min-height: 1.2em; }
.lines-legend span { margin-right: 1rem; opacity: 1; }
.problem { color: #d62728; }
.problem:empty { display: none; }
.lines svg { display: block; font-size: 12px; fill: currentColor; }
.qk-grid { display: grid; grid-template-columns: 7.5rem 34fr 34fr 16fr 16fr; gap: 6px; align-items: end; }
.qk-labels { position: relative; font-size: 0.7rem; }
.qk-labels span { position: absolute; right: 0; transform: translateY(-50%); white-space: nowrap; overflow: hidden;
                  max-width: 7.5rem; text-overflow: ellipsis; line-height: 1; }
.qk-grid canvas { width: 100%; image-rendering: pixelated; display: block; }
.qk-q { height: 18px; }
.qk-panels canvas, .qk-panels svg { width: 100%; display: block; }
.qk-panels svg { border-left: 1px solid #bbb; }
.panel-title { font-size: 0.875rem; }
@media (max-width: 500px) {  /* a phone: narrower key names, the panels keep most of the width */
  .qk-grid { grid-template-columns: 4.5rem 34fr 34fr 16fr 16fr; }
  .qk-labels span { max-width: 4.5rem; }
}
"""

_component = st.components.v2.component(
    "attnviz_layer_views", html=_HTML, css=_CSS, js=(_HERE / "layer_views.js").read_text(encoding="utf-8"))


@st.cache_data(show_spinner=False, max_entries=16)
def _lines(cache_key: tuple, layer: int, query: int | None, _trace: AttentionTrace) -> tuple[bytes, list[bool]]:
    """The layer's packed lines (every query, or one) and, per head, whether lines were left out."""
    del cache_key
    rows = list(range(len(_trace.query_tokens))) if query is None else [query]
    strong = (_trace.weights[layer][:, rows] >= MIN_WEIGHT).sum(axis=(1, 2))  # (H,) lines per head
    return pack_lines(_trace, layer, rows), [bool(n > MAX_LINES) for n in strong]


def lines_spec(trace: AttentionTrace, layer: int, extra: list[int], query: int | None, cache_key: tuple,
               prefix: str) -> dict:
    """What layer_views.js needs for the line view of `layer` (every head; it draws the chosen ones)."""
    packed, cut = _lines(cache_key, layer, query, trace)
    return {"url": media_url(packed, f"attnviz.{prefix}.lines", "application/octet-stream"), "extra": extra,
            "cut": cut, "bands": list(WEIGHT_BANDS), "min_weight": MIN_WEIGHT, "max_lines": MAX_LINES,
            "colours": list(HEAD_COLOURS)}


def qk_spec(packed: bytes, query: int, prefix: str) -> dict:
    """What layer_views.js needs for the query/key view: every head's q and k, the query, the colours."""
    return {"url": media_url(packed, f"attnviz.{prefix}.qk", "application/octet-stream"), "query": query,
            "palette": palette_hex(VECTOR_SCALE)}


def layer_views(trace: AttentionTrace, layer: int, head: int, prefix: str, lines: dict | None,
                qk: dict | None) -> None:
    """Mount the views (see the module docstring); lines / qk: a spec, or None to leave that view out."""
    name = f"{trace.model_name}: " if trace.model_name else ""
    token_id = hashlib.sha1("\x00".join(trace.query_tokens + ["\x01"] + trace.tokens).encode()).hexdigest()[:16]
    _component(key=f"{prefix}_layer_views", data={
        "prefix": prefix, "layer": layer, "head": head, "name": name, "token_id": token_id,
        "queries": [_visible(str(t)) for t in trace.query_tokens], "keys": [_visible(str(t)) for t in trace.tokens],
        "lines": lines, "qk": qk})
