"""Compare: the same sentence through two models side by side, and where their attention differs."""
from __future__ import annotations

import dataclasses

import streamlit as st

from attnviz import plots, ui

from attnviz.text import display

from attnviz.analysis.alignment import align_words, token_spans
from attnviz.bundles import registry
from attnviz.trace import AttentionTrace

EXAMPLES = [
    "The movie was not good at all.",
    "The cat sat on the mat.",
    "She gave the book to her brother because he asked for it.",
]
TEXT_KEY = "compare_text"

ui.ensure_app()
st.title("Compare two models")
st.caption("One sentence, two models, the same layout: all heads of each, one chosen head of each, and "
           "where their attention differs.")

entry_a = ui.model_picker(task=None, key="compare_model_a", label="Model A", param="model", default="sentiment")
entry_b = ui.model_picker(task=None, key="compare_model_b", label="Model B", param="model2",
                          default=registry.MINILM_NAME)
text = ui.text_input_synced("Sentence", key=TEXT_KEY, default=EXAMPLES[0], placeholder="Type a sentence")
ui.example_buttons(EXAMPLES, TEXT_KEY)
line_up = st.toggle("Line the two models up word by word", value=True, key="compare_words",
                    help="Each token is placed in the text by its character offsets and tokens are grouped into "
                         "the words of the text, so any two tokenizers (characters, word pieces, byte-level BPE) "
                         "give the same rows and columns.")
left, right = st.columns(2)
hide_special = left.toggle("Hide special tokens", value=True, key="compare_hide_special",
                           help="Drop [CLS], [SEP]… and renormalise every row to sum to 1 again.")
merge = right.toggle("Merge word pieces into words", value=True, key="compare_merge",
                     help="Received = sum over a word's pieces, given = mean over its pieces.")
if line_up:
    st.caption("Lined up by words: special tokens and white space are left out and every row renormalised; a word "
               "receives the sum over its tokens and gives the mean over them. The two switches apply when this "
               "is off.")
else:
    st.caption("With both switches on, both models' rows and columns are words, so the two can often be laid "
               "over each other." + (" Rows are renormalised after hiding special tokens." if hide_special else ""))


def words(trace: AttentionTrace) -> list[str]:
    return [display.clean_token(t).lower() for t in trace.tokens]


def is_unknown(word: str) -> bool:
    return word in ("[unk]", "<unk>", "<|unk|>")


def aligned(a: AttentionTrace, b: AttentionTrace) -> bool:
    """The same words in the same order (an unknown token matches any word)."""
    if len(a.tokens) != len(b.tokens) or len(a.query_tokens) != len(b.query_tokens):
        return False
    return all(x == y or is_unknown(x) or is_unknown(y) for x, y in zip(words(a), words(b)))


def one_head(trace: AttentionTrace, layer: int, head: int, name: str) -> AttentionTrace:
    """Just (layer, head) of a trace, renamed, so two different heads can be subtracted."""
    return dataclasses.replace(trace, weights=trace.weights[layer:layer + 1, head:head + 1], model_name=name)


def first_difference(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and not (is_unknown(x) or is_unknown(y)):
            return f"at word {i}: A reads “{x}”, B reads “{y}”"
    return f"A reads {len(a)} tokens, B reads {len(b)}"


@st.fragment
def detail_view(trace_a: AttentionTrace, trace_b: AttentionTrace, name_a: str, name_b: str) -> None:
    st.subheader("One head of each")
    col_a, col_b = st.columns(2)
    with col_a:
        layer_a, head_a = ui.layer_head_pickers(trace_a.n_layers, trace_a.n_heads, key=f"compare_a_{name_a}")
        ui.plot(plots.head_heatmap(trace_a, layer_a, head_a), key="compare_head_a")
    with col_b:
        layer_b, head_b = ui.layer_head_pickers(trace_b.n_layers, trace_b.n_heads, key=f"compare_b_{name_b}")
        ui.plot(plots.head_heatmap(trace_b, layer_b, head_b), key="compare_head_b")

    st.subheader("Where they differ")
    if aligned(trace_a, trace_b):
        label_a, label_b = f"A L{layer_a} H{head_a}", f"B L{layer_b} H{head_b}"
        figure = plots.diff_heatmap(one_head(trace_a, layer_a, head_a, label_a),
                                    one_head(trace_b, layer_b, head_b, label_b), 0, 0)
        figure.update_layout(title_text=f"{name_a} L{layer_a} H{head_a} − {name_b} L{layer_b} H{head_b}")
        st.caption("Red: model A gives this word more attention than model B does; blue: less. Both models "
                   "read the same words, so cell for cell this is the same query looking at the same key.")
        ui.plot(figure, key="compare_diff")
    else:
        reason = ("the two models split the text into different tokens "
                  f"({first_difference(words(trace_a), words(trace_b))})")
        if not (hide_special and merge):
            reason += "; switching on both 'hide special tokens' and 'merge word pieces' often lines them up"
        st.info(f"No cell-by-cell difference: {ui.escape_markdown(reason)}. Instead, the attention each token receives on "
                "average in the chosen layers (mean over heads as bars, each head as a dot):")
        bar_a, bar_b = st.columns(2)
        for column, trace, layer, name, key in ((bar_a, trace_a, layer_a, name_a, "compare_received_a"),
                                               (bar_b, trace_b, layer_b, name_b, "compare_received_b")):
            figure = plots.attention_to_token_bar(ui.mean_query_trace(trace, layer, "(average query)"), 0, 0)
            figure.update_layout(title_text=f"{name}, layer {layer}: attention received (mean over queries)")
            with column:
                ui.plot(figure, key=key)


if entry_a is not None and entry_b is not None and ui.require_text(text):
    try:
        if line_up:
            raw = [ui.get_trace(entry, text) for entry in (entry_a, entry_b)]
            spans = [token_spans(ui.load_model(entry), text) for entry in (entry_a, entry_b)]
            lined = align_words(raw[0], spans[0], raw[1], spans[1], text)
            traces = [lined.trace_a, lined.trace_b]
            st.caption(f"{len(lined.words)} words both models read; left out: {len(lined.dropped_a)} tokens of A, "
                       f"{len(lined.dropped_b)} of B (special tokens, white space, words only one model reaches).")
        else:
            traces = [ui.get_trace(entry, text, hide_special=hide_special, merge_pieces=merge)
                      for entry in (entry_a, entry_b)]
        col_a, col_b = st.columns(2)
        for column, entry, trace, tag in ((col_a, entry_a, traces[0], "a"), (col_b, entry_b, traces[1], "b")):
            with column:
                st.markdown(f"**{tag.upper()}: {ui.escape_markdown(entry.name)}** ({trace.n_layers} layers × "
                            f"{trace.n_heads} heads, {len(trace.tokens)} tokens)")
                ui.show_notes(trace, skip=[display.MERGE_NOTE])
                grid_trace, note = ui.model_view_trace(trace)
                if note:
                    st.info(note)
                grid = plots.model_view(grid_trace)
                grid.update_layout(height=int((grid.layout.height - 120) * 0.6) + 120)  # half-width column
                ui.plot(grid, key=f"compare_model_view_{tag}")
        detail_view(traces[0], traces[1], entry_a.name, entry_b.name)
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
