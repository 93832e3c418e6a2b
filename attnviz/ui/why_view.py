"""Streamlit helpers of the Why page: the switches for heads and whole layers (one form, applied together),
the prediction they leave, the most important heads (batched, with progress) and per-sentence deletion curves."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from attnviz import plots
from attnviz.analysis.faithfulness import text_curves
from attnviz.analysis.importance import head_importance
from attnviz.analysis.targets import choose_target, slot_probabilities
from attnviz.plots import analysis as plots_analysis
from attnviz.plots import explain as plots_explain
from attnviz.text.display import clean_token, readable_token
from attnviz.ui.core import escape_markdown, load_model
from attnviz.ui.url_state import heads_from_url, url_notice
from attnviz.ui.views import plot


@st.cache_data(show_spinner=False, max_entries=16)
def _importance(source: str, text: str, position: int | None, _progress=None):
    return head_importance(load_model(source), [text], position=position, progress=_progress)


@st.cache_data(show_spinner="Deleting each method's top tokens…", max_entries=16)
def deletion_curves(source: str, text: str, _attributions: dict, methods: tuple[str, ...]) -> dict:
    return text_curves(load_model(source), text, methods, attributions=_attributions)


def switch_all_on(keys: list[str]) -> None:
    for key in keys:
        st.session_state[key] = True


def remember_importance(request: tuple) -> None:
    st.session_state["why_importance_for"] = request


def shown(label: str) -> str:
    """A target as the page shows it: a newline or space next token reads ⏎ / ␣; markdown escaped."""
    return escape_markdown(clean_token(label) if not label.strip() else label)


def switch_grid(bundle) -> list[tuple[int, int]]:
    """The form of switches: one per layer (the whole layer) and one per head; returns the heads now off."""
    prefix = f"why_on_{bundle.name}_{bundle.n_layers}x{bundle.n_heads}"
    keys = {(l, h): f"{prefix}_{l}_{h}" for l in range(bundle.n_layers) for h in range(bundle.n_heads)}
    layer_keys = {l: f"why_layer_{bundle.name}_{bundle.n_layers}x{bundle.n_heads}_L{l}" for l in range(bundle.n_layers)}
    from_url, bad = heads_from_url(st.query_params.get("off", ""))
    unknown = sorted(p for p in from_url if p not in keys)
    if bad or unknown:  # a hand-edited link: say which parts were not used
        parts = bad + [f"{l}.{h}" for l, h in unknown]
        url_notice("off", ",".join(parts), f"a list of layer.head pairs of this model "
                   f"({bundle.n_layers} layers x {bundle.n_heads} heads)", "only the valid pairs switched off")
    for pair, key in keys.items():
        if key not in st.session_state:  # first drawing for this model: the URL says which heads are off
            st.session_state[key] = pair not in from_url
    for key in layer_keys.values():
        st.session_state.setdefault(key, True)
    with st.form("why_switches", border=False):
        for layer in range(bundle.n_layers):  # a row that wraps (columns would stack 12 deep on a phone)
            row = st.container(horizontal=True, gap="small", vertical_alignment="center")
            row.checkbox(f"Layer {layer}", key=layer_keys[layer], help="untick: the whole layer's heads off",
                         width="content")
            for head in range(bundle.n_heads):
                row.checkbox(str(head), key=keys[(layer, head)], width="content")
        st.form_submit_button("Apply the switches", key="why_apply", type="primary")
    st.button("Switch all heads on", key="why_all_on", on_click=switch_all_on,
              args=(list(keys.values()) + list(layer_keys.values()),))
    off = sorted({pair for pair, key in keys.items() if not st.session_state.get(key, True)}
                 | {(l, h) for l, key in layer_keys.items() if not st.session_state.get(key, True)
                    for h in range(bundle.n_heads)})
    if off:
        st.query_params["off"] = ",".join(f"{l}.{h}" for l, h in off)
    elif "off" in st.query_params:
        del st.query_params["off"]
    return off


def head_switches(bundle, source: str, text: str, position: int | None) -> None:
    """The switches, and the prediction as the switched-off heads leave it; then the most important heads."""
    st.subheader("Switch heads or whole layers off")
    st.caption("Untick heads, or a whole layer, then apply: their output is zeroed before the layer's output "
               "projection, for this prediction only (the shared model is never changed).")
    off = switch_grid(bundle)
    base_logits = bundle.logits(text)
    target = choose_target(bundle, base_logits, position=position)
    before = slot_probabilities(bundle, base_logits, target)
    after = slot_probabilities(bundle, bundle.logits(text, ablate=off), target)
    name = shown(target.label)
    where = f" for token {escape_markdown(readable_token(bundle.encode(text).tokens[target.position]))}" if bundle.task == "ner" else ""
    left, right = st.columns([1, 2])
    left.metric(f"Probability of {name}{where}", f"{after.get(target.label, 0.0):.4f}",
                delta=f"{after.get(target.label, 0.0) - before.get(target.label, 0.0):+.4f}" if off else None)
    left.caption(f"{len(off)} head(s) off. With every head on: {before.get(target.label, 0.0):.4f} for {name}.")
    new_best = max(after, key=after.get)
    if off and new_best != target.label:
        left.warning(f"The prediction flips to {shown(new_best)}.")
    with right:
        labels = list(after)
        plot(plots.probability_bar([clean_token(k) if not k.strip() else k for k in labels], [after[k] for k in labels],
                                   title="Probabilities with these heads off"), key="why_probabilities")
    importance_view(bundle, source, text, position, off)


def importance_view(bundle, source: str, text: str, position: int | None, off: list) -> None:
    st.subheader("Most important heads")
    st.caption("Each head alone switched off (the heads of one layer in one batch): the drop in the "
               "log-probability of the prediction (positive: the head supports it).")
    st.button("Find the most important heads", key="why_importance", on_click=remember_importance,
              args=((source, text, position),))
    if st.session_state.get("why_importance_for") != (source, text, position):
        return
    bar = st.progress(0.0, text="Switching each head off…")
    scores = _importance(source, text, position, _progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
    bar.empty()
    plot(plots_analysis.head_grid(scores, "Drop in log-probability when the head is off",
                                  colorbar_title="drop", highlight=off), key="why_importance_grid")
    order = sorted(((float(scores[l, h]), l, h) for l in range(bundle.n_layers)
                    for h in range(bundle.n_heads)), reverse=True)[:5]
    st.dataframe(pd.DataFrame([{"layer": l, "head": h, "drop in log-probability": round(v, 5)}
                               for v, l, h in order]), hide_index=True, key="why_importance_table")


def curves_view(source: str, text: str, results: dict, names: dict) -> None:
    """Each method's deletion curve for this sentence (p after deleting its top 0, 10, ..., 100 % tokens)."""
    st.subheader("Which method's tokens matter most here")
    curves = deletion_curves(source, text, results, tuple(results))
    plot(plots_explain.deletion_curves({names.get(m, "Random order"): c for m, c in curves.items()},
                                       title="Probability of the prediction as each method's top tokens are deleted"),
         key="why_deletion_curves")
    st.caption("The faster a curve falls, the more the tokens that method ranks first really carry the prediction "
               "(the Faithfulness page measures this over many sentences).")
