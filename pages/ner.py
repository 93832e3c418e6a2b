"""Named entities: which words are people, organisations and places, and the attention behind it."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from attnviz import ui

EXAMPLES = [
    "Angela Merkel met Emmanuel Macron in Paris on Monday.",
    "Apple opened a new office in London.",
    "The Amazon flows through Brazil and Peru.",
    "Barack Obama studied at Harvard University.",
]
TEXT_KEY = "ner_text"
COLORS = {"PER": "blue", "ORG": "green", "LOC": "orange", "MISC": "violet"}
TYPE_NAMES = {"PER": "person", "ORG": "organisation", "LOC": "location", "MISC": "other"}

ui.ensure_app()
st.title("Named entities")
st.caption("A tagger gives every word a BIO tag: B-X starts an entity of type X, I-X continues it, "
           "O is outside any entity.")

entry = ui.model_picker(task="ner", key="ner_model")
if entry is not None:
    st.caption(f"Model: {ui.escape_markdown(entry.name)}. Another model: the sidebar (» at the top left on a phone).")
text = ui.text_input_synced("Sentence", key=TEXT_KEY, default=EXAMPLES[0], placeholder="Type a sentence")
ui.example_buttons(EXAMPLES, TEXT_KEY)


def highlighted(words: list[str], entities: list[dict]) -> str:
    """The words as markdown: every entity a coloured badge with its type; all text escaped."""
    starts = {e["start"]: e for e in entities}
    parts, i = [], 0
    while i < len(words):
        entity = starts.get(i)
        if entity and entity["end"] > i:
            kind = entity["type"]
            label = " ".join(words[entity["start"]:entity["end"]])
            parts.append(ui.badge(f"{label} · {kind}", COLORS.get(kind, "gray")))
            i = entity["end"]
        else:
            parts.append(ui.escape_markdown(words[i]))
            i += 1
    return " ".join(parts)


if entry is not None and ui.require_text(text):
    try:
        bundle = ui.load_model(entry)
        result = bundle.predict([ui.clip_text(text)[0]])[0]
        words, tags, entities = result["words"], result["tags"], result["entities"]
        if result.get("truncated"):
            st.info(f"The sentence is longer than the model's context ({bundle.max_len} tokens): only the "
                    f"first {len(tags)} words were tagged.")
        st.subheader("Entities")
        st.markdown(highlighted(words[:len(tags)], entities))
        found = sorted({e["type"] for e in entities})
        legend = " ".join(ui.badge(TYPE_NAMES.get(k, k), COLORS.get(k, "gray")) for k in found)
        st.caption(f"Found {len(entities)} entit{'y' if len(entities) == 1 else 'ies'}. {legend}")
        table = pd.DataFrame({"word": words[:len(tags)], "tag": tags,
                              "confidence": [round(c, 4) for c in result["confidences"]]})
        st.dataframe(table, hide_index=True, key="ner_table",
                     column_config={"confidence": st.column_config.ProgressColumn(
                         "confidence", min_value=0.0, max_value=1.0, format="%.2f")})
        trace = ui.get_trace(entry, text)
        ui.show_notes(trace)
        ui.show_tokens(trace)
        ui.head_view(trace, "ner", entry.name, "The attention behind the tags")
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
