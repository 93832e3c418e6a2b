"""Faithfulness: which explanation to believe, measured live by deleting the tokens each method ranks first."""
from __future__ import annotations

import streamlit as st

from attnviz import ui
from attnviz.ui import faithfulness_view

TASKS = {"sentiment": "Sentiment", "ner": "Named entities", "lm": "Language model", "all": "Any model"}

ui.ensure_app()
st.title("Which explanation to believe?")
st.caption("Each method ranks the tokens of a sentence. A faithful ranking puts first the tokens the model "
           "really uses: deleting them should make the prediction fall (comprehensiveness), and keeping only "
           "them should keep it (sufficiency). A random order is the floor. Measured live on the model you pick "
           "(ERASER, DeYoung et al. 2020).")
task = st.radio("Task", list(TASKS), format_func=TASKS.get, key="faith_task", horizontal=True)
entry = ui.model_picker(task=None if task == "all" else task, key=f"faith_model_{task}")
if entry is not None:
    try:
        bundle = ui.load_model(entry)
        texts = faithfulness_view.sample_picker(bundle.task, key="faith_sample")
        methods = faithfulness_view.method_picker("faith_methods")
        perturb = st.radio("Remove tokens by", ["delete", "mask"], horizontal=True, key="faith_perturb",
                           format_func={"delete": "deleting them", "mask": "masking them"}.get)
        if texts:
            faithfulness_view.scoreboard_view(entry, texts, methods, perturb)
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
