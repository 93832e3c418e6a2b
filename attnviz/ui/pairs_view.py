"""Streamlit helpers of the Minimal pairs page: activation patching heatmaps and the A/B view of one head."""
from __future__ import annotations

import streamlit as st

from attnviz.analysis.id_runs import is_ours
from attnviz.analysis.minimal_pairs import MinimalPair
from attnviz.analysis.patching import PatchResult, patch
from attnviz.bundles.registry import ModelEntry
from attnviz.errors import InputError
from attnviz.plots import explain as plots_explain
from attnviz.ui.core import _config_mtime, _load_cached, app_device, escape_markdown, layer_head_pickers
from attnviz.ui.views import plot

AUTO_LIMIT = 40  # our models up to this many tokens are patched at once; larger runs wait for a button


@st.cache_data(show_spinner=False, max_entries=16)
def _patch(source: str, mtime: int, device: str, clean: str, corrupt: str, site: str, _progress=None) -> PatchResult:
    return patch(_load_cached(source, mtime, device), clean, corrupt, site=site, progress=_progress)


def patching_view(bundle, entry: ModelEntry, text_a: str, text_b: str) -> None:
    """Both patching heatmaps (residual stream x positions, layers x heads), A patched into B or back."""
    st.subheader("Where is the decision made? (activation patching)")
    direction = st.radio("Patch", ["A into B", "B into A"], horizontal=True, key="pairs_patch_direction")
    clean, corrupt = (text_a, text_b) if direction == "A into B" else (text_b, text_a)
    names = ("A", "B") if direction == "A into B" else ("B", "A")
    small = is_ours(bundle) and len(bundle.encode(corrupt).ids) <= AUTO_LIMIT
    request = (entry.source, clean, corrupt)
    if not small:
        st.caption(f"Patching {bundle.name} runs the model once per layer and site; it starts on request.")
        if st.button("Run patching", key="pairs_patch_go"):
            st.session_state["pairs_patch_for"] = request
        if st.session_state.get("pairs_patch_for") != request:
            return
    bar = st.progress(0.0, text="Patching…")
    key = (entry.source, _config_mtime(entry.source), str(app_device()), clean, corrupt)
    try:
        residual = _patch(*key, "residual", _progress=lambda f, m: bar.progress(f / 2, text=m))
        heads = _patch(*key, "heads", _progress=lambda f, m: bar.progress(0.5 + f / 2, text=m))
    except InputError as error:  # equal texts, nothing aligned: said plainly, the rest of the page goes on
        bar.empty()
        st.info(escape_markdown(error))
        return
    bar.empty()
    st.caption(f"Sentence {names[1]} is run again with one site taken from sentence {names[0]}; each cell is the "
               f"share of the gap in {escape_markdown(residual.metric)} ({residual.corrupt_score:.3f} in "
               f"{names[1]}, {residual.clean_score:.3f} in {names[0]}) that this one site restores "
               f"(0: nothing, 1: all). {escape_markdown(residual.note)}")
    left, right = st.columns(2)
    with left:
        plot(plots_explain.patching_heatmap(residual.restored, residual.tokens_corrupt,
                                            f"Residual stream of {names[1]} patched from {names[0]}"),
             key="pairs_patch_residual")
    with right:
        plot(plots_explain.patching_heatmap(heads.restored, None, f"One head of {names[1]} patched from {names[0]}"),
             key="pairs_patch_heads")


def head_ab_view(pair: MinimalPair, n_layers: int, n_heads: int) -> None:
    """The chosen head's attention among the aligned tokens in A and in B, and the difference."""
    if pair.weights_a is None or not pair.alignment:
        return
    st.subheader("One head in A and in B")
    layer, head = layer_head_pickers(n_layers, n_heads, key="pairs_ab")
    tokens_a = [pair.tokens_a[i] for i, _ in pair.alignment]
    tokens_b = [pair.tokens_b[j] for _, j in pair.alignment]
    st.caption(f"Layer {layer}, head {head}: attention among the aligned tokens (rows: queries, columns: keys) "
               "in A, in B, and B − A (red: more in B).")
    panels = plots_explain.pair_head_panels(pair.weights_a[layer, head], pair.weights_b[layer, head], tokens_a,
                                            tokens_b)
    for column, figure, name in zip(st.columns(3), panels, ("a", "b", "diff")):  # stacked on a phone
        with column:
            plot(figure, key=f"pairs_ab_{name}")
