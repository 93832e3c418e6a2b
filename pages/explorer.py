"""Attention explorer: every head of every layer for one sentence, then one head up close."""
from __future__ import annotations

import streamlit as st

from attnviz import ui

from attnviz.text import display
from attnviz.analysis.replay import has_replay
from attnviz.ui.analysis_views import replay_view
from attnviz.ui.decoder_views import logit_lens_view, surprisal_view
from attnviz.ui.explorer_view import explorer_views
from attnviz.ui.url_state import toggle_synced

EXAMPLES = [
    "The animal didn't cross the street because it was too tired.",
    "The cat sat on the mat and looked at the dog.",
    "I loved the acting, but the ending was terrible.",
    "Marie Curie worked in Paris with Pierre Curie.",
]
TEXT_KEY = "explorer_text"
MODEL_POINTER = "Another model: the sidebar (» at the top left on a phone)."

ui.ensure_app()
st.title("Attention explorer")
st.caption("Each small square is one head: row = the token that looks (query), column = the token it "
           "looks at (key), darker = more attention; every row sums to 1.")

entry = ui.model_picker(task=None, key="explorer_model", default="sentiment")
text = ui.text_input_synced("Sentence", key=TEXT_KEY, default=EXAMPLES[0], area=True,
                            placeholder="Type or paste a sentence")
ui.example_buttons(EXAMPLES, TEXT_KEY)

left, right = st.columns(2)
hide_special = toggle_synced(left, "Hide special tokens", "explorer_hide_special", "hide_special",
                             help="Drop [CLS], [SEP], <s>… and renormalise every row to sum to 1 again.")
merge = toggle_synced(right, "Merge word pieces into words", "explorer_merge", "merge",
                      help="One row and column per word: the attention a word RECEIVES is the sum over its "
                           "pieces; the attention a word GIVES is the mean over its pieces.")
if hide_special:
    left.caption("Special tokens are hidden; each row is renormalised to sum to 1 over the tokens left.")
if merge:
    right.caption("Pieces are merged: received = sum over a word's pieces, given = mean over its pieces.")
hide_sinks = toggle_synced(left, "Hide attention sinks", "explorer_hide_sinks", "hide_sinks",
                           help="Drop the first token and special tokens, where many heads park attention "
                                "they do not need (Xiao et al. 2023), and divide each row by the mass left.")


if entry is not None and ui.require_text(text):
    try:
        bundle = ui.load_model(entry)
        with st.spinner("Reading the text through every head…"):
            # sinks are found in the trace as read (the first token, special tokens), so they go first
            trace = ui.get_trace(entry, text, hide_special=hide_special and not hide_sinks, merge_pieces=merge)
        st.caption(f"{ui.escape_markdown(entry.name)}: {bundle.n_layers} layers × {bundle.n_heads} heads, "
                   f"task {ui.escape_markdown(bundle.task)}. {MODEL_POINTER}")
        if hide_sinks:
            trace = display.hide_sinks(trace, getattr(bundle, "special_tokens", None))
            left.caption("Sinks hidden: each row is divided by the attention left after the first token and "
                         "special tokens, so the rest of the pattern becomes visible.")
        ui.show_notes(trace, skip=[display.MERGE_NOTE])
        if merge and display.MERGE_NOTE not in trace.notes:
            right.caption("This text has no word pieces to merge: every token is already a whole word.")
        ui.show_tokens(trace)
        explorer_views(trace, entry.name, cache_key=(entry.source, text, hide_special, merge, hide_sinks,
                                                     len(trace.tokens)),
                       bundle=bundle, text=ui.clip_text(text)[0])
        ui.download_buttons(None, trace, key="explorer_download", name="attention")
        if bundle.task == "lm" and st.toggle("A decoder at work: logit lens and surprisal", key="explorer_decoder"):
            st.subheader("Logit lens")
            logit_lens_view(entry, "explorer_lens", text=ui.clip_text(text)[0])
            st.subheader("Surprisal")
            surprisal_view(entry, ui.clip_text(text)[0], "explorer_surprisal")
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)

if entry is not None and has_replay(entry.source):  # a model trained with --replay-text
    with st.expander("Training replay: how this model's attention formed"):
        replay_view(entry.source, key="explorer_replay", model_name=entry.name)
