"""Minimal pairs: two sentences a word apart, their predictions, and which heads changed."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from attnviz.text.display import readable_token
from attnviz import analysis, ui

from attnviz.plots import analysis as plots_analysis
from attnviz.ui import pairs_view

TASKS = {"sentiment": "Sentiment", "ner": "Named entities", "lm": "Language model", "all": "Any model"}
PAIRS = [
    ("The film was good.", "The film was not good."),
    ("The animal didn't cross the street because it was too tired.",
     "The animal didn't cross the street because it was too wide."),
    ("John lives in Paris.", "John lives in the park."),
]
A_KEY, B_KEY = "pair_a", "pair_b"

ui.ensure_app()
st.title("Minimal pairs")
st.caption("Two sentences that differ in a word or two: the tokens both share are aligned, and for every "
           "head the page measures how far its attention among those shared tokens moved.")

if st.session_state.get("pairs_task") not in TASKS:
    url_task = st.query_params.get("task")
    st.session_state["pairs_task"] = url_task if url_task in TASKS else "sentiment"
task = st.radio("Task", list(TASKS), format_func=TASKS.get, key="pairs_task", horizontal=True)
if st.query_params.get("task") != task:
    st.query_params["task"] = task
entry = ui.model_picker(task=None if task == "all" else task, key=f"pairs_model_{task}")
left, right = st.columns(2)
with left:
    text_a = ui.text_input_synced("Sentence A", key=A_KEY, default=PAIRS[0][0], param="a", share=False)
with right:
    text_b = ui.text_input_synced("Sentence B", key=B_KEY, default=PAIRS[0][1], param="b", share=False)


def set_pair(a: str, b: str) -> None:
    st.session_state[A_KEY], st.session_state[B_KEY] = a, b


st.caption("Examples:")
for i, (a, b) in enumerate(PAIRS):
    st.button(f"{a}  ↔  {b}", key=f"pairs_example_{i}", on_click=set_pair, args=(a, b))


def summary(prediction: dict) -> str:
    """The prediction in one line of escaped markdown."""
    if "probabilities" in prediction:
        label = prediction["label"]
        return f"**{ui.escape_markdown(label)}** ({prediction['probabilities'][label]:.1%})"
    if "tags" in prediction:
        words = prediction["words"][:len(prediction["tags"])]
        return " ".join(ui.badge(f"{w} · {t}", "gray" if t == "O" else "blue")
                        for w, t in zip(words, prediction["tags"]))
    if "next_tokens" in prediction:
        return "next: " + ", ".join(f"{ui.badge(t)} {p:.1%}" for t, p in prediction["next_tokens"])
    return "(this model makes no prediction; only its attention is compared)"


if entry is not None and ui.require_text(text_a, "first sentence") and ui.require_text(text_b, "second sentence"):
    try:
        bundle = ui.load_model(entry)
        (text_a, note_a), (text_b, note_b) = ui.clip_text(text_a), ui.clip_text(text_b)
        for note in (note_a, note_b):
            if note:
                st.info(note)
        pair = analysis.minimal_pair(bundle, text_a, text_b)
        col_a, col_b = st.columns(2)
        col_a.markdown("**A:** " + summary(pair.prediction_a))
        col_b.markdown("**B:** " + summary(pair.prediction_b))
        if pair.prediction_a.get("truncated") or pair.prediction_b.get("truncated"):
            st.info(f"A sentence is longer than the model's context ({bundle.max_len} tokens) and was cut.")
        if pair.change:
            if all(isinstance(v, float) for v in pair.change.values()):
                rows = [{"label or token": k, "B − A": round(v, 4)} for k, v in pair.change.items()]
            else:
                rows = [{"word": k, "tag in A": a, "tag in B": b} for k, (a, b) in pair.change.items()]
            st.dataframe(pd.DataFrame(rows), hide_index=True, key="pairs_change")
        pairs_view.patching_view(bundle, entry, text_a, text_b)
        edits = [{"edit": op, "tokens in A": " ".join(map(readable_token, pair.tokens_a[a0:a1])),
                  "tokens in B": " ".join(map(readable_token, pair.tokens_b[b0:b1]))}
                 for op, a0, a1, b0, b1 in pair.edits]
        st.subheader("What differs")
        if edits:
            st.dataframe(pd.DataFrame(edits), hide_index=True, key="pairs_edits")
        else:
            st.caption("The two sentences give the same tokens.")
        if not pair.alignment:
            st.info("The two sentences share no token, so there is no attention to compare.")
        else:
            st.subheader("Which heads changed")
            st.caption(f"{len(pair.alignment)} aligned tokens. Per head: the mean over aligned query tokens of "
                       "half the summed |difference| over aligned keys (0: the same pattern, 1: disjoint).")
            ui.plot(plots_analysis.head_grid(pair.head_difference, "Attention change per head",
                                             colorbar_title="change", diverging=False), key="pairs_heads")
            pairs_view.head_ab_view(pair, bundle.n_layers, bundle.n_heads)
            st.subheader("Tokens where attention moved most")
            st.caption("Attention each token receives in B minus in A (mean over layers, heads and the shared "
                       "query tokens): up ▲ = more in B. An edited word is one row (∅: absent on that side).")
            moved = [{"token in A": readable_token(a), "token in B": readable_token(b), "change": ("▲ " if s > 0 else "▼ ") + f"{s:+.5f}"}
                     for a, b, s in pair.token_shift[:10]]
            st.dataframe(pd.DataFrame(moved), hide_index=True, key="pairs_tokens")
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
