"""Streamlit helpers of the Faithfulness page: the cached scoreboard with a progress bar and a Stop button."""
from __future__ import annotations

import streamlit as st

from attnviz.analysis.attribution import METHOD_NAMES, METHODS
from attnviz.analysis.corpora import CORPORA, load_corpus
from attnviz.analysis.faithfulness import FaithfulnessReport, faithfulness
from attnviz.bundles.registry import ModelEntry
from attnviz.plots import explain as plots_explain
from attnviz.ui.core import _config_mtime, _load_cached, app_device, escape_markdown
from attnviz.ui.hosting import is_hosted
from attnviz.ui.views import plot

CORPUS_OF_TASK = {task: name for name, task in CORPORA.items()}
REQUEST_KEY = "faith_request"


@st.cache_data(show_spinner=False, max_entries=16)
def _scoreboard(source: str, mtime: int, device: str, texts: tuple[str, ...], methods: tuple[str, ...],
                perturb: str, _progress=None) -> FaithfulnessReport:
    bundle = _load_cached(source, mtime, device)
    return faithfulness(bundle, list(texts), methods=list(methods), perturb=perturb, progress=_progress)


def sample_picker(task: str, key: str) -> list[str] | None:
    """The first N sentences of the shared dev set of the model's task (None, with a message, without data)."""
    name = CORPUS_OF_TASK.get("sentiment" if task == "classification" else task)
    if name is None:
        st.info("This model has no shared dev set to score on.")
        return None
    try:
        sentences = load_corpus(name)
    except ValueError as error:
        st.warning(f"The shared data cannot be read: {escape_markdown(error)}. Set ATTNVIZ_DATA to the data folder.")
        return None
    upper = min(50 if is_hosted() else 200, len(sentences))
    size = st.slider(f"Sentences of {name} (the first N)", 5, upper, min(10, upper), key=f"{key}_size")
    return sentences[:size]


def stop_run() -> None:
    st.session_state.pop(REQUEST_KEY, None)
    st.session_state["faith_stopped"] = True


def start_run(request: tuple) -> None:
    st.session_state[REQUEST_KEY] = request
    st.session_state.pop("faith_stopped", None)


def scoreboard_view(entry: ModelEntry, texts: list[str], methods: list[str], perturb: str) -> None:
    """The button, the progress bar and Stop, then the verdict, the bars, the curves and the table."""
    request = (entry.source, tuple(texts), tuple(methods), perturb)
    st.button("Score the explanations", type="primary", key="faith_go", on_click=start_run, args=(request,))
    if st.session_state.get("faith_stopped"):
        st.info("Stopped. Nothing was kept; press the button to start again.")
    if st.session_state.get(REQUEST_KEY) != request:
        return
    bar = st.progress(0.0, text="Scoring…")
    st.button("Stop", key="faith_stop", on_click=stop_run)
    report = _scoreboard(entry.source, _config_mtime(entry.source), str(app_device()), tuple(texts), tuple(methods),
                         perturb, _progress=lambda done, message: bar.progress(done, text=message))
    bar.empty()
    st.success(escape_markdown(report.verdict()))
    names = {m: METHOD_NAMES.get(m, m) for m in report.curves}
    left, right = st.columns(2)
    with left:
        table = report.table.assign(method=report.table.method.map(names))
        plot(plots_explain.scoreboard(table), key="faith_bars")
    with right:
        plot(plots_explain.deletion_curves({names[m]: c for m, c in report.curves.items()},
                                           title="Mean probability of the prediction as top tokens are deleted"),
             key="faith_curves")
    st.caption("Comprehensiveness: p(x) − p(x without the method's top k % tokens), higher is better. Sufficiency: "
               "p(x) − p(only those tokens), lower is better. AOPC: the mean over k = 1, 5, 10, 20, 50 %. "
               f"{len(texts) - len(report.skipped)} sentences; 95 % bootstrap intervals (2,000 resamples).")
    st.dataframe(table.round(4), hide_index=True, key="faith_table")
    st.caption("Seconds per sentence: " + ", ".join(f"{names[m]} {s:.2f}" for m, s in report.seconds.items()))
    st.subheader("Compare two methods")
    options = list(report.curves)
    a, b = st.columns(2)
    first = a.selectbox("Method", options, key="faith_a", format_func=names.get)
    second = b.selectbox("against", options, index=len(options) - 1, key="faith_b", format_func=names.get)
    if first != second:
        st.dataframe(report.compare(first, second).round(4), hide_index=True, key="faith_compare")


def method_picker(key: str) -> list[str]:
    chosen = st.multiselect("Methods", list(METHODS), default=list(METHODS), key=key, format_func=METHOD_NAMES.get)
    return chosen or list(METHODS)
