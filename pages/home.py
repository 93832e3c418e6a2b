"""Home: what attnviz shows, a link to every page, the models at hand and the device."""
from __future__ import annotations

import streamlit as st

from attnviz import ui

from attnviz.bundles import registry
from attnviz.bundles.model_facts import model_facts
from attnviz.bundles.reference import REFERENCES

ui.ensure_app()
st.title("attnviz: see what self-attention does")
st.markdown(
    "Type a sentence and look inside a transformer: every head of every layer, the positional "
    "encoding that tells it where each word is, what a sentiment classifier and an entity tagger "
    "predict (and what they attend to), how a small language model picks its next character, and "
    "how two models read the same sentence. Every view works for the models shipped here, for "
    "models you train yourself and for the pretrained all-MiniLM-L6-v2 encoder.")

st.subheader("Pages")
LINKS = [
    ("pages/explorer.py", "Attention explorer", ":material/grid_view:",
     "all heads of all layers at once, one head in detail, tokens as the model sees them, downloads"),
    ("pages/positional.py", "Positional encoding", ":material/waves:",
     "the sinusoidal encoding, its wavelengths, and why relative offsets are easy to read from it"),
    ("pages/sentiment.py", "Sentiment", ":material/sentiment_satisfied:",
     "positive or negative, with the attention behind the prediction"),
    ("pages/ner.py", "Named entities", ":material/label:",
     "people, organisations and places tagged in your sentence, with confidences"),
    ("pages/generation.py", "Text generation", ":material/edit_note:",
     "a character language model (or SmolLM2) under temperature, top-k and top-p, step by step, "
     "with what each new token looked at"),
    ("pages/compare.py", "Compare models", ":material/compare:",
     "the same sentence through two models side by side, and where they differ"),
    ("pages/why.py", "Why this prediction?", ":material/psychology_alt:",
     "attribution (integrated gradients, gradient × input, rollout, occlusion) beside attention; switch "
     "heads or layers off and watch the prediction move"),
    ("pages/faithfulness.py", "Faithfulness", ":material/fact_check:",
     "which explanation to believe: each method's top tokens deleted, scored live with intervals"),
    ("pages/minimal_pairs.py", "Minimal pairs", ":material/difference:",
     "two sentences that differ in a word: both predictions, which heads changed, and activation patching "
     "(which layer and position carry the decision)"),
    ("pages/heads.py", "Heads", ":material/hub:",
     "what each head does over many sentences: statistics and roles (previous token, [SEP] sink, ...)"),
    ("pages/search.py", "Corpus search", ":material/search:",
     "the tokens in a dev set whose context a model reads most like the one you pick"),
    ("pages/train.py", "Train", ":material/model_training:",
     "train your own small model on the shared data or your own file (on a GPU when there is one), "
     "and replay how its attention formed"),
    ("pages/verify.py", "Verify", ":material/verified:",
     "the identities the app relies on, checked live with their numbers"),
]
for path, title, icon, what in LINKS:
    left, right = st.columns([1, 3])
    with left:
        st.page_link(path, label=title, icon=icon)
    right.caption(what)

st.subheader("How to use it")
st.markdown(
    "- Pick a model in the sidebar; type a sentence or click an example.\n"
    "- Darker cells mean more attention: row = the token that looks (query), column = the token it "
    "looks at (key). Each row sums to 1.\n"
    "- Hover a cell for the exact weight; the camera icon of a chart saves a PNG, and the download "
    "buttons give the exact numbers (CSV, JSON) and an interactive HTML file.\n"
    "- The address bar keeps the model and the text: copy it to share what you see.")

st.subheader("Models")
entries = ui.listed_models()
ui.show_skipped_models()
if not entries:
    st.warning(f"No model found: put checkpoint folders into {registry.checkpoints_dir()} or train one on "
               "the Train page.")
rows = []
for entry in entries:  # from each model's files alone: no model is loaded to fill this table
    try:
        facts = model_facts(entry)
    except (*ui.USER_ERRORS, KeyError, TypeError) as exc:
        rows.append([entry.name, entry.task, entry.kind, "", "", f"cannot read: {exc}"])
        continue
    shown = {k: v for k, v in (facts.get("metrics") or {}).items() if isinstance(v, float)}
    rows.append([entry.name, entry.task, entry.kind, f"{facts['layers']} × {facts['heads']}",
                 f"{facts['parameters']:,}" if facts["parameters"] is not None else "",
                 ", ".join(f"{k} {v:.3f}" for k, v in shown.items()) or "—"])
for reference in REFERENCES:  # a pretrained decoder beside our char model: the same dev text, per character
    metric = f"loss {reference.nats_per_char:.3f} nats/char on the char LM's dev split ({reference.measured})"
    listed = next((row for row in rows if row[0] == reference.name), None)
    if listed is not None:
        listed[5] = metric if listed[5] == "—" else f"{listed[5]}; {metric}"
    else:
        why = ("not offered on this hosted server: it needs ~560 MiB" if ui.is_hosted() and
               any(e.name == reference.name for e in registry.available_models("lm"))
               else "not prepared here")
        rows.append([f"{reference.name} (reference, {why})", "lm", "pretrained",
                     f"{reference.layers} × {reference.heads}", f"{reference.parameters:,}", metric])
if rows:  # a markdown table, not st.dataframe: Home then needs no pandas (about 65 MB per server)
    header = ["model", "task", "kind", "layers × heads", "parameters", "dev metric"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(ui.escape_markdown(cell) for cell in row) + " |" for row in rows]
    st.markdown("\n".join(lines))

st.subheader("Device")
st.write(f"Models run on: **{ui.escape_markdown(ui.device_label())}**.")
