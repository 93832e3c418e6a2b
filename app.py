"""attnviz: `streamlit run app.py`. Page config, the shared sidebar and the page registry."""
from __future__ import annotations

import streamlit as st

from attnviz import ui
from attnviz.ui.icon import page_icon

st.set_page_config(page_title="attnviz", page_icon=page_icon(), layout="wide")
st.html(ui.PHONE_STYLE)  # only a <style>: it takes no room on the page
ui.configure_threads()

# Pages in sections: what a model attends to, why it decides, and how it is made and checked.
PAGES = {
    "Look": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/explorer.py", title="Attention explorer", icon=":material/grid_view:", url_path="explorer"),
        st.Page("pages/positional.py", title="Positional encoding", icon=":material/waves:", url_path="positional"),
        st.Page("pages/sentiment.py", title="Sentiment", icon=":material/sentiment_satisfied:", url_path="sentiment"),
        st.Page("pages/ner.py", title="Named entities", icon=":material/label:", url_path="ner"),
        st.Page("pages/generation.py", title="Text generation", icon=":material/edit_note:", url_path="generation"),
        st.Page("pages/compare.py", title="Compare models", icon=":material/compare:", url_path="compare"),
    ],
    "Explain": [
        st.Page("pages/why.py", title="Why this prediction?", icon=":material/psychology_alt:", url_path="why"),
        st.Page("pages/faithfulness.py", title="Faithfulness", icon=":material/fact_check:", url_path="faithfulness"),
        st.Page("pages/minimal_pairs.py", title="Minimal pairs", icon=":material/difference:", url_path="minimal_pairs"),
        st.Page("pages/heads.py", title="Heads", icon=":material/hub:", url_path="heads"),
        st.Page("pages/search.py", title="Corpus search", icon=":material/search:", url_path="search"),
    ],
    "Build and check": [
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("pages/verify.py", title="Verify", icon=":material/verified:", url_path="verify"),
    ],
}

page = st.navigation(PAGES, expanded=True)
st.sidebar.title("attnviz")
ui.device_badge()
if ui.is_hosted():
    st.set_option("client.showErrorDetails", "none")  # no tracebacks, paths or source lines for strangers
    ui.expire_user_models_now()  # visitors' models past their hour go on any page load, not only on Train
with ui.error_boundary():  # every page body: a short message, the details only in the server log
    page.run()
