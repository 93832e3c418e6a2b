"""Heads: what each head does across many sentences (statistics, roles), with links into the explorer."""
from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from attnviz import ui

from attnviz.plots import heads as plots_heads
from attnviz.analysis.head_stats import STATISTICS, head_role, role_counts
from attnviz.ui import analysis_views as av

md = ui.escape_markdown

ui.ensure_app()
st.title("What does each head do?")
st.markdown(
    "Statistics of every head over a sample of sentences, from the raw attention (special tokens "
    "included): **entropy** (nats; high = spread out), the mean weight on the **previous**, the "
    "**next** token and the token **itself**, the mass on **special** tokens ([CLS], [SEP], <s>…), the "
    "**sink** score (mass on the first token and special tokens, queries after the first) and the "
    "mean **distance** |i − j| between a token and what it attends to. Each head gets a **role**:")
rule = head_role.__doc__.split("attend broadly (high entropy):", 1)[-1]
st.code("\n".join(line.strip() for line in rule.strip().splitlines()), language=None)
st.caption("After Clark et al. 2019, “What does BERT look at? An Analysis of BERT's Attention”, and Xiao et "
           "al. 2023, “Efficient Streaming Language Models with Attention Sinks”.")

entry = ui.model_picker(key="heads_model", label="Model", default="sentiment")  # word-level, not the char LM
picked = av.corpus_picker("heads")
if entry is not None and picked is not None:
    described, texts = picked
    try:
        with st.spinner(f"Running {len(texts)} sentences through {md(entry.name)}…"):
            frame = av.head_table(entry, texts)
    except ui.USER_ERRORS as error:
        ui.show_error(error, "The statistics could not be computed")
        st.stop()
    st.caption(f"{len(frame)} heads of {md(entry.name)} over {len(texts)} sentences ({md(described)}).")

    counts = role_counts(frame)
    st.subheader("Roles")
    st.dataframe(counts, hide_index=True, key="heads_roles")

    st.subheader("Every head")
    links = frame.assign(explorer=[f"/explorer?{urlencode({'model': entry.name, 'layer': int(r.layer), 'head': int(r.head)})}"
                                   for r in frame.itertuples()])
    st.dataframe(links, hide_index=True, key="heads_table",
                 column_config={"explorer": st.column_config.LinkColumn("open", display_text="explorer"),
                                **{s: st.column_config.NumberColumn(format="%.3f") for s in STATISTICS},
                                "entropy_ratio": st.column_config.NumberColumn(format="%.2f")})
    st.caption("Click a column title to sort; “open” shows the head in the attention explorer.")

    st.subheader("Attention sinks")
    sinks = int((frame["role"] == "sink").sum())  # the role's rule, so the count matches the Roles table
    st.caption(f"{sinks} of {len(frame)} heads put half or more of their attention on the first token or on "
               "special tokens (the explorer's “Hide sinks” shows what the rest of such a head does).")
    ui.plot(plots_heads.statistic_heatmap(frame, "sink"), key="heads_sinks")

    statistic = st.selectbox("Statistic to map", STATISTICS, key="heads_statistic")
    ui.plot(plots_heads.statistic_heatmap(frame, statistic), key="heads_heatmap")

    left, right = st.columns(2)
    layer = left.number_input("Layer", 0, int(frame["layer"].max()), 0, key="heads_layer")
    head = right.number_input("Head", 0, int(frame["head"].max()), 0, key="heads_head")
    row = frame[(frame["layer"] == layer) & (frame["head"] == head)].iloc[0]
    st.markdown(f"Layer {layer}, head {head}: **{md(row['role'])}** (previous {row['previous']:.2f}, "
                f"next {row['next']:.2f}, self {row['self']:.2f}, special {row['special']:.2f}, "
                f"entropy {row['entropy']:.2f} nats).")
    try:
        st.page_link("pages/explorer.py", label=f"Open layer {layer}, head {head} in the explorer",
                     icon=":material/grid_view:",
                     query_params={"model": entry.name, "layer": str(layer), "head": str(head)})
    except StreamlitAPIException:  # the page runs on its own (tests): no other page to link to
        pass
