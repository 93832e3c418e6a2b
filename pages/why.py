"""Why this prediction? Attribution beside attention, and heads to switch off."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from attnviz.text.display import readable_token
from attnviz import analysis, plots, ui

from attnviz.plots import analysis as plots_analysis
from attnviz.analysis.attribution import choose_target, slot_probabilities
from attnviz.errors import InputError
from attnviz.ui.url_state import heads_from_url, url_notice

TASKS = {"sentiment": "Sentiment", "ner": "Named entities", "lm": "Next character (language model)",
         "all": "Any model"}
EXAMPLES = {
    "sentiment": ["The film was not good at all.", "A gripping, beautifully acted film.",
                  "I wanted to love it, but it was boring."],
    "ner": ["Angela Merkel met Emmanuel Macron in Paris.", "Apple opened a new office in London."],
    "lm": ["To be, or not to be, that is the quest", "ROMEO:\nBut soft, what light through yonder wind"],
}
EXAMPLES["all"] = EXAMPLES["sentiment"]
METHOD_NAMES = {"integrated_gradients": "Integrated gradients", "gradient_x_input": "Gradient × input",
                "rollout": "Attention rollout", "attention": "Raw attention (last layer)"}
TEXT_KEY = "why_text"

ui.ensure_app()
st.title("Why this prediction?")
st.caption("Attention weights alone do not explain a prediction. Here three other answers stand beside them: "
           "integrated gradients and gradient × input (how much each token's embedding moves the score "
           "of the prediction), attention rollout (attention followed through every layer), and the "
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


@st.cache_data(show_spinner="Switching each head off in turn…", max_entries=16)
def importance(source: str, text: str, position: int | None):
    return analysis.head_importance(ui.load_model(source), [text], position=position)


def switch_all_on(keys: list[str]) -> None:
    for key in keys:
        st.session_state[key] = True


def remember_importance(request: tuple) -> None:
    st.session_state["why_importance_for"] = request


@st.fragment
def head_switches(bundle, source: str, text: str, position: int | None) -> None:
    """The layers x heads grid of switches, and the prediction as the switched-off heads leave it."""
    st.subheader("Switch heads off")
    st.caption("Untick a head to switch it off: its output is zeroed before the layer's output projection, "
               "for this prediction only (the shared model is never changed).")
    prefix = f"why_on_{bundle.name}_{bundle.n_layers}x{bundle.n_heads}"
    keys = {(l, h): f"{prefix}_{l}_{h}" for l in range(bundle.n_layers) for h in range(bundle.n_heads)}
    from_url, bad = heads_from_url(st.query_params.get("off", ""))
    unknown = sorted(p for p in from_url if p not in keys)
    if bad or unknown:  # a hand-edited link: say which parts were not used
        parts = bad + [f"{l}.{h}" for l, h in unknown]
        url_notice("off", ",".join(parts), f"a list of layer.head pairs of this model "
                   f"({bundle.n_layers} layers x {bundle.n_heads} heads)", "only the valid pairs switched off")
    for pair, key in keys.items():
        if key not in st.session_state:  # first drawing for this model: the URL says which heads are off
            st.session_state[key] = pair not in from_url
    for layer in range(bundle.n_layers):  # a row that wraps (columns would stack 12 deep on a phone)
        row = st.container(horizontal=True, gap="small", vertical_alignment="center")
        row.caption(f"Layer {layer}", width=64)
        for head in range(bundle.n_heads):
            row.checkbox(str(head), key=keys[(layer, head)], width="content")
    st.button("Switch all heads on", key="why_all_on", on_click=switch_all_on, args=(list(keys.values()),))
    off = [pair for pair, key in keys.items() if not st.session_state.get(key, True)]
    if off:
        st.query_params["off"] = ",".join(f"{l}.{h}" for l, h in off)
    elif "off" in st.query_params:
        del st.query_params["off"]

    base_logits = bundle.logits(text)
    target = choose_target(bundle, base_logits, position=position)
    before = slot_probabilities(bundle, base_logits, target)
    after = slot_probabilities(bundle, bundle.logits(text, ablate=off), target)
    name = ui.escape_markdown(target.label)
    where = f" for token {ui.escape_markdown(readable_token(bundle.encode(text).tokens[target.position]))}" \
        if bundle.task == "ner" else ""
    left, right = st.columns([1, 2])
    left.metric(f"Probability of {name}{where}", f"{after.get(target.label, 0.0):.4f}",
                delta=f"{after.get(target.label, 0.0) - before.get(target.label, 0.0):+.4f}" if off else None)
    left.caption(f"{len(off)} head(s) off. With every head on: {before.get(target.label, 0.0):.4f} for {name}.")
    new_best = max(after, key=after.get)
    if off and new_best != target.label:
        left.warning(f"The prediction flips to {ui.escape_markdown(new_best)}.")
    with right:
        labels = list(after)
        ui.plot(plots.probability_bar(labels, [after[k] for k in labels],
                                      title="Probabilities with these heads off"), key="why_probabilities")

    st.subheader("Most important heads")
    st.caption("Each head alone switched off, one forward pass per head: the drop in the log-probability "
               "of the prediction (positive: the head supports it).")
    st.button("Find the most important heads", key="why_importance", on_click=remember_importance,
              args=((source, text, position),))
    if st.session_state.get("why_importance_for") == (source, text, position):
        scores = importance(source, text, position)
        ui.plot(plots_analysis.head_grid(scores, "Drop in log-probability when the head is off",
                                         colorbar_title="drop", highlight=off), key="why_importance_grid")
        order = sorted(((float(scores[l, h]), l, h) for l in range(bundle.n_layers)
                        for h in range(bundle.n_heads)), reverse=True)[:5]
        st.dataframe(pd.DataFrame([{"layer": l, "head": h, "drop in log-probability": round(v, 5)}
                                   for v, l, h in order]), hide_index=True, key="why_importance_table")


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
        st.caption(f"Integrated gradients ({analysis.attribution.DEFAULT_STEPS} steps, padding baseline): "
                   f"the scores add up to f(x) − f(baseline) = {first.target_gap:.4f} up to δ = {first.delta:.2e} "
                   f"({share:.1%} of it). Rollout and raw attention are shares of attention (they sum to 1); "
                   "the gradient methods are signed: red pushes towards the prediction, blue against it.")
        head_switches(bundle, entry.source, text, position)
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
