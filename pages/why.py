"""Why this prediction? Attribution beside attention, and heads to switch off."""
from __future__ import annotations

import streamlit as st

from attnviz import analysis, ui
from attnviz.text.display import readable_token

from attnviz.plots import analysis as plots_analysis
from attnviz.analysis.attribution import METHOD_NAMES
from attnviz.errors import InputError
from attnviz.ui import why_view

TASKS = {"sentiment": "Sentiment", "ner": "Named entities", "lm": "Next character (language model)",
         "all": "Any model"}
EXAMPLES = {
    "sentiment": ["The film was not good at all.", "A gripping, beautifully acted film.",
                  "I wanted to love it, but it was boring."],
    "ner": ["Angela Merkel met Emmanuel Macron in Paris.", "Apple opened a new office in London."],
    "lm": ["To be, or not to be, that is the quest", "ROMEO:\nBut soft, what light through yonder wind"],
}
EXAMPLES["all"] = EXAMPLES["sentiment"]
TEXT_KEY = "why_text"

ui.ensure_app()
st.title("Why this prediction?")
st.caption("Attention weights alone do not explain a prediction. Here three other answers stand beside them: "
           "integrated gradients and gradient × input (how much each token's embedding moves the score "
           "of the prediction), occlusion (how much the prediction falls when the token is deleted), attention "
           "rollout (attention followed through every layer), and the "
           "causal test: switch heads off and watch the prediction move.")

if st.session_state.get("why_task") not in TASKS:
    url_task = st.query_params.get("task")
    st.session_state["why_task"] = url_task if url_task in TASKS else "sentiment"
task = st.radio("Task", list(TASKS), format_func=TASKS.get, key="why_task", horizontal=True)
if st.query_params.get("task") != task:
    st.query_params["task"] = task
entry = ui.model_picker(task=None if task == "all" else task, key=f"why_model_{task}")
text = ui.text_input_synced("Text", key=TEXT_KEY, default=EXAMPLES[task][0], placeholder="Type a sentence")
ui.example_buttons(EXAMPLES[task], TEXT_KEY)


@st.cache_data(show_spinner="Computing the attributions…", max_entries=32)
def attributions(source: str, text: str, position: int | None) -> dict[str, analysis.Attribution]:
    bundle = ui.load_model(source)
    return {method: analysis.attribute(bundle, text, method=method, position=position) for method in analysis.METHODS}


if entry is not None and ui.require_text(text):
    try:
        bundle = ui.load_model(entry)
        text, note = ui.clip_text(text)
        if note:
            st.info(note)
        if bundle.task == "encoder":
            raise InputError(f"{bundle.name} is an encoder without a task head: there is no prediction "
                                "to explain. Pick a sentiment, NER or language model.")
        tokens = bundle.encode(text).tokens
        position = None
        if bundle.task == "ner":
            choice = st.selectbox("Token to explain", ["auto"] + list(range(len(tokens))), key="why_position",
                                  format_func=lambda i: "the most confident entity" if i == "auto"
                                  else f"#{i} {readable_token(tokens[i])}")
            position = None if choice == "auto" or choice >= len(tokens) else int(choice)
        results = attributions(entry.source, text, position)
        first = results["integrated_gradients"]
        trace = ui.get_trace(entry, text)
        ui.show_notes(trace, skip=[note] if note else ())
        st.subheader(f"Which tokens matter for {ui.escape_markdown(first.target)}")
        strips = {METHOD_NAMES[m]: r.scores for m, r in results.items()}
        ui.plot(plots_analysis.attribution_strips(first.tokens, strips, title="Each method's scores "
                                                  "(each strip scaled to its own largest value)"),
                key="why_strips")
        if len(first.tokens) > plots_analysis.MAX_STRIP_TOKENS:
            st.info(f"The strips show the first {plots_analysis.MAX_STRIP_TOKENS} of {len(first.tokens)} tokens.")
        share = abs(first.delta) / abs(first.target_gap) if first.target_gap else float("nan")
        st.caption(f"Integrated gradients ({first.steps} steps, padding baseline; doubled from "
                   f"{analysis.attribution.DEFAULT_STEPS} while the gap exceeds 5 %): "
                   f"the scores add up to f(x) − f(baseline) = {first.target_gap:.4f} up to δ = {first.delta:.2e} "
                   f"({share:.1%} of it). Rollout and raw attention are shares of attention (they sum to 1); "
                   "the gradient methods and occlusion (the drop in probability when the token is deleted) are signed: "
                   "red pushes towards the prediction, blue against it.")
        why_view.curves_view(entry.source, text, results, METHOD_NAMES)
        why_view.head_switches(bundle, entry.source, text, position)
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
