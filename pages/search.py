"""Corpus search: the tokens of a corpus whose contexts are nearest to a chosen token (exBERT's idea)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from attnviz.text.display import readable_token
from attnviz import ui
from attnviz.analysis.context_index import DEFAULT_MAX_SENTENCES
from attnviz.analysis.corpus import default_query_token
from attnviz.hosted import LIMITS
from attnviz.ui import analysis_views as av
from attnviz.ui.search_view import corpus_indexes

md = ui.escape_markdown

ui.ensure_app()
st.title("Corpus search")
st.markdown("Every token of a corpus is embedded at every layer (the hidden state after each block) in one "
            "pass. Pick a token of your sentence: the nearest contexts by cosine similarity come first, the "
            "matched token in **[brackets]**. Early layers match the word itself, later ones its role in the sentence.")

entry = ui.model_picker(key="search_model", label="Model", default="sentiment")  # word-level, not the char LM
text = ui.text_input_synced("Sentence", key="search_text", default="The film is a charming, funny surprise.")
picked = av.corpus_picker("search", full=True)
if entry is not None and picked is not None and ui.require_text(text):
    described, corpus = picked
    if described != "typed":
        most = min(len(corpus), LIMITS.max_search_sentences if ui.is_hosted() else len(corpus))
        cap = int(st.number_input("Sentences to index (the first N; more take longer)", 1, most,
                                  min(DEFAULT_MAX_SENTENCES, most), step=500,
                                  key=f"search_cap_{described}"))  # per corpus: a smaller one's cap is not kept
        corpus = corpus[:cap]
        described = f"{described}, first {cap:,}"
    text, clipped = ui.clip_text(text)
    if clipped:
        st.info(clipped)
    try:
        bundle = ui.load_model(entry)
        batch = bundle.forward_batch([text], attentions=False)
        tokens, special = batch.tokens[0], batch.special[0]
        left, middle, right = st.columns(3)
        skip_first = bool(bundle.causal)
        choices = [i for i in range(len(tokens)) if not (skip_first and i == 0 and len(tokens) > 1)]
        default = default_query_token(tokens, special, skip_first)
        token_index = left.selectbox("Token", choices, index=choices.index(default) if default in choices else 0,
                                     key=f"search_token_{len(tokens)}", format_func=lambda i: f"{i}: {readable_token(tokens[i])}")
        layer = middle.slider("Layer", 0, bundle.n_layers - 1, bundle.n_layers - 1,
                              key=f"search_layer_{bundle.n_layers}") if bundle.n_layers > 1 else 0
        k = right.slider("Results", 1, 50, 10, key="search_k")
        indexes = corpus_indexes(entry, corpus, disk=described != "typed")
        if indexes is None:
            st.stop()
        index = indexes[layer]
        hits = index.search(text, token_index, k)
    except ui.USER_ERRORS as error:
        ui.show_error(error, "The search did not work")
        st.stop()
    if index.cache_note:
        st.caption(md(index.cache_note))
    first = " Position 0 is left out: a decoder's first token sees only itself, so its state is the same " \
            "for every text." if index.skip_first else ""
    st.caption(f"{index.size:,} tokens of {len(index.texts):,} sentences ({md(described)}) at layer {layer}.{first}")
    rows = []
    for hit in hits:  # the context: up to 6 tokens each side of the match, "…" where the sentence goes on
        start, end = max(0, hit.token_index - 6), min(len(hit.tokens), hit.token_index + 7)
        before = " ".join(readable_token(t) for t in hit.tokens[start:hit.token_index])
        after = " ".join(readable_token(t) for t in hit.tokens[hit.token_index + 1:end])
        context = f"{'… ' if start > 0 else ''}{before} [{readable_token(hit.token)}] {after}{' …' if end < len(hit.tokens) else ''}"
        rows.append({"similarity": round(hit.similarity, 4), "context": " ".join(context.split()),
                     "token": readable_token(hit.token), "sentence #": hit.sentence_index, "raw token": hit.token,
                     "sentence": hit.sentence})
    # on screen the columns that fit (whole sentences were cut off); the download has every column
    st.dataframe(rows, hide_index=True, key="search_results", column_order=["similarity", "context", "token", "sentence #"],
                 column_config={"similarity": st.column_config.NumberColumn(format="%.4f"),
                                "context": st.column_config.TextColumn("context", width="large")})
    st.download_button("Download the hits (CSV, with whole sentences)", pd.DataFrame(rows).to_csv(index=False),
                       file_name=f"search_layer{layer}.csv", mime="text/csv", key="search_download")
