"""The generation timeline: for each generated token, the attention the model paid when it chose it
(recorded during generation: the last row of the causal pattern over the window read at that step)
beside the candidates of that step."""
from __future__ import annotations

import numpy as np
import streamlit as st

from attnviz import plots
from attnviz.plots.decoder import step_confidence_figure
from attnviz.plots.timeline import step_attention_figure
from attnviz.text.display import readable_token
from attnviz.ui import branches
from attnviz.ui.core import index_picker
from attnviz.ui.decoder_views import logit_lens_view
from attnviz.ui.views import plot

MEAN = "mean over heads"
KEPT_BYTES = 32 * 2**20  # rows a session keeps; past this, each layer keeps the mean over its heads


def kept_rows(rows: list[np.ndarray], budget: int | None = None) -> tuple[list[np.ndarray], bool]:
    """The recorded (L, H, W) rows as the page keeps them: as they are within the budget, else
    (L, 1, W) means over heads (a 30-layer, 9-head decoder at 500 steps would otherwise keep ~70 MB).
    Returns the rows and whether the heads were averaged."""
    if sum(row.nbytes for row in rows) <= (KEPT_BYTES if budget is None else budget):
        return rows, False
    return [row.astype(np.float32).mean(axis=1, keepdims=True).astype(np.float16) for row in rows], True


def sampling_caption(result: dict) -> str:
    """Every sampling setting of a run, in words."""
    top_k = result.get("top_k", 0)
    top_p = result.get("top_p", 1.0)
    return (f"temperature {result['temperature']}"
            + (" (greedy)" if result["temperature"] == 0 else "")
            + f", top-k {top_k if top_k else 'off'}, top-p {top_p if top_p < 1 else 'off'}, seed {result['seed']}")


URL_SETTINGS = (("t", "generation_temperature", float, 0.0, 2.0), ("top_p", "generation_top_p", float, 0.05, 1.0),
                ("top_k", "generation_top_k", int, 0, 10_000), ("max_new", "generation_max_new", int, 1, 500),
                ("seed", "generation_seed", int, 0, 2**31 - 1))


def settings_from_url() -> dict[int, int] | None:
    """On open, the URL's settings seed the knobs; returns the URL's forced choices (None when the
    link has none), so the page can regenerate a shared branch."""
    for param, key, kind, low, high in URL_SETTINGS:
        raw = st.query_params.get(param)
        if key in st.session_state or raw is None:
            continue
        try:
            value = kind(raw)
        except ValueError:
            continue
        if low <= value <= high:
            st.session_state[key] = value
    raw = st.query_params.get("forced")
    return branches.parse_forced(raw) if raw else None


def branch_buttons(result: dict, step: int) -> None:
    """One button per candidate of the step: continue from there with that token taken instead."""
    runs = st.session_state.get(branches.BRANCHES_KEY) or []
    parent = st.session_state.get(branches.CURRENT_KEY, 0)
    candidates = result["sampled"][step]
    ids = candidates.get("ids") or []
    if not ids or not runs:
        return
    st.caption(f"Branch at step {step} (or click a candidate in the chart above): take another token "
               "and continue, same settings and seed.")
    columns = st.columns(len(ids))
    for column, token_id, (token, probability) in zip(columns, ids, candidates["candidates"]):
        chosen = token == candidates["chosen"]
        column.button(f"{readable_token(token)} {probability:.0%}", key=f"generation_branch_{step}_{token_id}",
                      disabled=chosen, on_click=branches.request_branch, args=(parent, step, int(token_id)),
                      help="the token taken at this step" if chosen else
                      "continue the generation with this token at this step")
    if st.session_state.get(branches.REQUEST_KEY) is not None:  # clicked: only this fragment reran
        st.rerun()  # the whole page, which makes the branch


def step_row(attention: np.ndarray, layer: int, head: int | None) -> np.ndarray:
    """attention (L, H, W) -> (W,): one head's row, or the mean over heads (H is 1 once averaged)."""
    rows = attention[layer].astype(np.float32)  # (H, W)
    return rows.mean(axis=0) if head is None else rows[head]


@st.fragment
def timeline_view(result: dict, entry=None) -> None:
    """A step slider; for that step the recorded attention row and the candidates side by side.

    result: the page's run, with "tokens" (every token of prompt + new text), and per step in
    "sampled" the chosen token and candidates, in "windows" the window's first position and in
    "attention" its (L, H, W) row.
    """
    st.subheader("Timeline: what the model looked at for each new token")
    st.caption(f"Sampling: {sampling_caption(result)}.")
    steps, attention = result["sampled"], result.get("attention") or []
    if not steps or len(attention) != len(steps):
        st.info("This run has no attention recorded for its steps; press Generate again to record it.")
        return
    n_layers, n_heads = attention[0].shape[:2]
    averaged = result.get("heads_averaged", False)
    left, middle, right = st.columns(3)
    step = index_picker("Step", len(steps), "generation_timeline_step", left)
    layer = index_picker("Layer", n_layers, f"generation_timeline_layer_{n_layers}", middle)
    head = None
    if averaged:
        right.caption("Head: the mean over heads (this long run keeps only the mean, to save memory)")
    else:
        head_choice = right.selectbox("Head", [MEAN] + list(range(n_heads)), key=f"generation_timeline_head_{n_heads}")
        head = None if head_choice == MEAN else int(head_choice)
    start = result["windows"][step]
    keys = result["tokens"][start:start + attention[step].shape[-1]]
    what = f"layer {layer}, " + (MEAN if head is None else f"head {head}")
    attention_col, candidates_col = st.columns(2)
    with attention_col:
        plot(step_attention_figure(step_row(attention[step], layer, head), keys, start, step,
                                   steps[step]["chosen"], what), key="generation_timeline_attention")
    with candidates_col:
        candidates, chosen = steps[step]["candidates"], readable_token(steps[step]["chosen"])
        plot(plots.probability_bar([c for c, _ in candidates], [p for _, p in candidates],
                                   title=f"Step {step}: the candidates (chosen {chosen})"),
             key="generation_timeline_candidates")
    first, last = start, start + len(keys) - 1
    st.caption(f"Step {step} of {len(steps)} (0 is the first new token): the model read positions "
               f"{first}–{last} of the text and chose the token at position {last + 1}. "
               "Each bar is a weight of the row that chose it; the row sums to 1.")
    if entry is None:
        return
    branch_buttons(result, step)
    if result.get("probabilities"):
        plot(step_confidence_figure(result["probabilities"], [e / np.log(2) for e in result["entropies"]],
                                    [s["chosen"] for s in steps], step), key="generation_confidence")
    st.markdown(f"**Logit lens at step {step}**: the last column reads the text the model had when it chose "
                f"{readable_token(steps[step]['chosen'])!r}.")
    logit_lens_view(entry, "generation_lens", ids=result["ids"][start:result["n_prompt"] + step], last_only=True)
