"""Sentiment: the prediction for a sentence, and the attention behind it."""
from __future__ import annotations

import streamlit as st

from attnviz import plots, ui
from attnviz.ui.examples import SENTIMENT_EXAMPLES, SENTIMENT_FAILURES, labelled

EXAMPLES = [e.text for e in SENTIMENT_EXAMPLES]
TEXT_KEY = "sentiment_text"

ui.ensure_app()
st.title("Sentiment")
st.caption("A classifier reads the sentence, averages its last layer over all tokens (mean pooling) "
           "and says positive or negative.")

entry = ui.model_picker(task="sentiment", key="sentiment_model")
if entry is not None:
    st.caption(f"Model: {ui.escape_markdown(entry.name)}. Another model: the sidebar (» at the top left on a phone).")
text = ui.text_input_synced("Sentence", key=TEXT_KEY, default=EXAMPLES[0], placeholder="Type a review")
ui.example_buttons(EXAMPLES, TEXT_KEY)
with st.expander("Where this model fails (labelled examples)"):
    st.caption("The shipped model gets these wrong: it reads negation word by word and takes sarcasm at its "
               "word. The model card (checkpoints/sentiment/README.md) counts such mistakes on the dev set.")
    for i, example in enumerate(SENTIMENT_FAILURES):
        st.button(f"{example.text} — {example.label}, {example.kind}", key=f"{TEXT_KEY}_failure_{i}",
                  on_click=ui.set_text, args=(TEXT_KEY, example.text))


if entry is not None and ui.require_text(text, "review"):
    try:
        bundle = ui.load_model(entry)
        result = bundle.predict([ui.clip_text(text)[0]])[0]
        labels = list(result["probabilities"])
        probs = [result["probabilities"][label] for label in labels]
        st.subheader(f"Prediction: {ui.escape_markdown(result['label'])} "
                     f"({result['probabilities'][result['label']]:.0%})")
        known = labelled(text)
        if known is not None:
            verdict = "right" if known.label == result["label"] else "wrong"
            st.caption(f"A labelled example: a person reads it as {known.label}; the model is {verdict}"
                       + (f" ({known.kind})." if known.kind else "."))
        ui.plot(plots.probability_bar(labels, probs, title="Probability of each label"),
                key="sentiment_probabilities")
        trace = ui.get_trace(entry, text)
        ui.show_notes(trace)
        ui.show_tokens(trace)
        last = trace.n_layers - 1
        st.subheader("What the sentence representation looks at")
        st.caption(f"Layer {last} (the last), averaged over all query tokens: the mean-pooled vector the "
                   "classifier reads is built from these weights. Bars: mean over heads; dots: each head.")
        pooled = ui.mean_query_trace(trace, last, label="(sentence)")
        figure = plots.attention_to_token_bar(pooled, 0, 0)
        figure.update_layout(title_text=f"Layer {last}, averaged over queries: attention each token receives")
        ui.plot(figure, key="sentiment_pooled")
        ui.head_view(trace, "sentiment", entry.name, "Any head", with_mean=False)
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
