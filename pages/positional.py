"""Positional encoding: the sinusoidal table, its dimensions, and why offsets are easy to read."""
from __future__ import annotations

import streamlit as st

from attnviz import plots, ui
from attnviz.nn.positional import sinusoidal_encoding

ui.ensure_app()
st.title("Positional encoding")
st.markdown(
    "Attention by itself ignores word order: shuffle the tokens and every weight moves with them. "
    "The transformer of *Attention Is All You Need* therefore adds to each token's embedding a "
    "vector that depends on its position p:  \n"
    "PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)).")

left, right = st.columns(2)
seq_len = left.slider("Sequence length (positions)", 1, 512, 64, key="positional_len")
d_model = right.slider("d_model (dimensions; odd is allowed)", 2, 512, 128, key="positional_d")

try:
    pe = sinusoidal_encoding(seq_len, d_model).numpy()  # (positions, dims)
    st.subheader("The table")
    st.markdown("Every row is the vector added at one position. Low dimensions (left) change quickly "
                "from row to row, high dimensions slowly: together they work like the hands of a clock, "
                "each turning at its own speed, so no two positions get the same vector.")
    ui.plot(plots.positional_heatmap(pe), key="positional_heatmap")

    st.subheader("Single dimensions")
    defaults = sorted({0, 1, min(d_model - 1, 2 * (d_model // 8)), d_model - 1})
    dims = st.multiselect("Dimensions to draw", list(range(d_model)), default=defaults,
                          key=f"positional_dims_{d_model}")
    if dims:
        ui.plot(plots.positional_curves(pe, dims), key="positional_curves")
    else:
        st.info("Pick at least one dimension to draw.")

    st.subheader("Wavelengths")
    st.markdown("Dimension pair i is a sine and a cosine with wavelength 2π·10000^(2i/d): from 2π "
                "positions for the first pair up to almost 2π·10000 for the last, on a geometric scale.")
    ui.plot(plots.wavelength_figure(d_model), key="positional_wavelengths")

    st.subheader("Why relative positions are easy")
    st.markdown(
        "For each pair of dimensions, moving from position p to p + k turns the point (sin, cos) by a "
        "fixed angle that depends on k only. So PE[p + k] is a **linear function of PE[p]** (a "
        "rotation, the same for every p), which a layer can learn to apply, and the dot product "
        "PE[p] · PE[p + k] = Σᵢ cos(k·ωᵢ) **depends on the offset k only**, not on p. The left chart "
        "shows the dot product of every pair of positions (the same pattern along every diagonal); the "
        "right one draws PE[p] · PE[p + k] against k for a few p: the curves lie on top of each other.")
    if d_model % 2:
        st.caption("d_model is odd: the last dimension is a sine without its cosine partner, so the "
                   "curves below drift apart a little (that one term depends on p).")
    if seq_len == 1:
        st.info("With one position there is no pair of positions to compare: pick a length of 2 or more "
                "to see the pattern along the diagonals and the offset curves.")
    sim_col, off_col = st.columns(2)
    with sim_col:
        ui.plot(plots.positional_similarity(pe), key="positional_similarity")
    with off_col:
        ui.plot(plots.offset_similarity(pe), key="positional_offsets")
except ui.USER_ERRORS as exc:
    ui.show_error(exc)
