"""Text generation: a small causal language model continues a prompt under temperature, top-k, top-p."""
from __future__ import annotations

from functools import partial

import streamlit as st

from attnviz import plots, ui
from attnviz.nn.generate import GenerationConfig
from attnviz.ui import branches
from attnviz.ui.decoder_views import surprisal_view
from attnviz.ui.generation_view import kept_rows, sampling_caption, settings_from_url, timeline_view
from attnviz.ui.url_state import url_set

PROMPT_KEY = "generation_prompt"
REQUEST_KEY = "generation_requested"
DEFAULT_PROMPT = "ROMEO:\nBut soft, what light"
WINDOW = 20  # steps per candidates chart
CANDIDATES_KEY = "generation_candidates"

ui.ensure_app()
st.title("Text generation")
st.caption("The model reads the text so far and gives a probability to every possible next token; "
           "one is drawn, appended, and the loop goes on. Temperature 0 always takes the most likely one.")

entry = ui.model_picker(task="lm", key="generation_model")


def token_namer(bundle):
    """token id -> token text, for our tokenizers and HuggingFace ones. A HuggingFace token is decoded
    ("Ġworld" -> " world", "Ċ" -> a new line), so the charts show ␣ and ⏎ instead of byte-level markers."""
    tokenizer = bundle.tokenizer
    if hasattr(tokenizer, "id_to_token"):
        return lambda i: str(tokenizer.id_to_token(int(i)))
    return lambda i: str(tokenizer.decode([int(i)]))


def run_generation(bundle, prompt: str, config: GenerationConfig) -> dict:
    new_text, result = bundle.generate(prompt, config)
    name = token_namer(bundle)

    def steps(attribute: str) -> list[dict]:
        return [{"chosen": name(step.token_id), "ids": [i for i, _ in getattr(step, attribute)],
                 "candidates": [(name(i), p) for i, p in getattr(step, attribute)]} for step in result.steps]

    rows, averaged = kept_rows([step.attention for step in result.steps])
    return {"model": entry.name, "prompt": prompt, "new_text": new_text, "sampled": steps("candidates"),
            "ids": list(result.ids), "n_prompt": len(result.prompt_ids), "forced": dict(config.forced),
            "forced_names": {s: name(t) for s, t in config.forced.items()},
            "probabilities": [step.model_probability for step in result.steps],
            "entropies": [step.entropy for step in result.steps], "max_new": config.max_new_tokens,
            "model_steps": steps("model_candidates"), "stopped_by": result.stopped_by,
            "tokens": [name(i) for i in result.ids], "windows": [step.window_start for step in result.steps],
            "attention": rows, "heads_averaged": averaged,  # each (L, H, W) or (L, 1, W), float16
            "temperature": config.temperature, "seed": config.seed, "top_k": config.top_k, "top_p": config.top_p}


def config_of(run: dict, forced: dict[int, int]) -> GenerationConfig:
    """A run's settings (and seed) with other forced choices: a branch of it."""
    return GenerationConfig(max_new_tokens=run["max_new"], temperature=run["temperature"], top_k=run["top_k"],
                            top_p=run["top_p"], seed=run["seed"], record_attention=True, forced=forced)


def share_run(run: dict) -> None:
    """The URL: the prompt (synced by its box), the settings and the forced choices of the run shown."""
    for param, value in (("t", run["temperature"]), ("top_k", run["top_k"]), ("top_p", run["top_p"]),
                         ("max_new", run["max_new"]), ("seed", run["seed"])):
        url_set(param, str(value))
    url_set("forced", branches.forced_param(run["forced"]))


def request_generation() -> None:
    """The submit button's callback: a flag in session state survives any rerun before the page runs."""
    st.session_state[REQUEST_KEY] = True


def compare_branches(entry, runs: list[dict]) -> None:
    """Two branches side by side, each with its text coloured by surprisal."""
    st.subheader("Two branches side by side")
    columns = st.columns(2)
    for side, (column, default) in enumerate(zip(columns, (0, len(runs) - 1))):
        with column:
            index = st.selectbox("Branch", list(range(len(runs))), index=default, key=f"generation_side_{side}",
                                 format_func=lambda i: branches.branch_label(runs, i))
            run = runs[index]
            surprisal_view(entry, run["prompt"] + run["new_text"], f"generation_side_surprisal_{side}",
                           title=branches.branch_label(runs, index))


@st.fragment
def candidates_view(result: dict) -> None:
    st.subheader("Step by step: the candidates")
    greedy = result["temperature"] == 0
    source = st.radio("Candidates from", ["the distribution sampled from", "the model's own distribution"],
                      index=1 if greedy else 0, horizontal=True, key="generation_candidates_source",
                      help="Sampled: after temperature, top-k and top-p (what the dice were rolled on). "
                           "Model's own: temperature 1, no filter.")
    steps = result["sampled"] if source.startswith("the distribution") else result["model_steps"]
    if greedy and source.startswith("the distribution"):
        st.caption("At temperature 0 the sampled distribution puts all its mass on the best token.")
    start = 0
    if len(steps) > WINDOW:
        start = st.slider("First step shown", 0, len(steps) - WINDOW, 0, key="generation_window")
    st.caption("**Click a candidate to branch**: the generation continues from that step with that token "
               "taken instead (same settings and seed); the outlined cells are the tokens taken.")
    ui.plot(plots.candidates_figure(steps[start:start + WINDOW], first_step=start), key=CANDIDATES_KEY,
            on_select=partial(branches.branch_on_click, CANDIDATES_KEY))
    if start:
        st.caption(f"Steps {start}–{start + min(WINDOW, len(steps)) - 1} of {len(steps)}.")
    if st.session_state.get(branches.REQUEST_KEY) is not None:  # clicked: only this fragment reran
        st.rerun()  # the whole page, which makes the branch


if entry is not None:
    try:
        bundle = ui.load_model(entry)
        linked_forced = settings_from_url()
        with st.form("generation_form"):
            prompt = ui.text_input_synced("Prompt", key=PROMPT_KEY, default=DEFAULT_PROMPT, param="prompt",
                                          area=True, share=False)
            left, middle, right = st.columns(3)
            temperature = left.slider("Temperature (0 = greedy)", 0.0, 2.0, 0.8, 0.05, key="generation_temperature")
            top_p = left.slider("Top-p (1 = off)", 0.05, 1.0, 1.0, 0.05, key="generation_top_p")
            top_k = middle.number_input("Top-k (0 = off)", 0, 10_000, 0, key="generation_top_k")
            max_new = middle.number_input("Max new tokens", 1, 500, 200, key="generation_max_new")
            seed = right.number_input("Seed", 0, 2**31 - 1, 0, key="generation_seed",
                                      help="The same seed and settings give the same text.")
            st.form_submit_button("Generate", type="primary", on_click=request_generation)
        linked = linked_forced is not None and branches.current_run() is None  # a shared branch, opened
        if st.session_state.pop(REQUEST_KEY, False) or linked:
            prompt, note = ui.clip_text(prompt)
            if note:
                st.info(note)
            config = GenerationConfig(max_new_tokens=int(max_new), temperature=float(temperature),
                                      top_k=int(top_k), top_p=float(top_p), seed=int(seed), record_attention=True,
                                      forced=(linked_forced or {}) if linked else {})
            with st.spinner("Generating…"):
                branches.start_tree(run_generation(bundle, prompt, config))
        request = st.session_state.pop(branches.REQUEST_KEY, None)
        runs = st.session_state.get(branches.BRANCHES_KEY) or []
        if request is not None and 0 <= request[0] < len(runs):
            parent = runs[request[0]]
            with st.spinner("Generating the branch…"):
                branches.add_branch(run_generation(bundle, parent["prompt"], config_of(
                    parent, branches.branch_forced(parent, request[1], request[2]))))
        result = branches.current_run()
        if result is None or result["model"] != entry.name:
            st.info("Set the prompt and the knobs, then press Generate.")
        else:
            share_run(result)
            runs = st.session_state[branches.BRANCHES_KEY]
            if len(runs) > 1:
                st.selectbox("Branch shown", list(range(len(runs))), key=branches.CURRENT_KEY,
                             format_func=lambda i: branches.branch_label(runs, i))
            st.subheader("Generated text")
            st.caption(f"The prompt, then {len(result['sampled'])} new tokens "
                       f"({'stopped at a stop token' if result['stopped_by'] == 'stop_token' else 'the maximum'}; "
                       f"{ui.escape_markdown(sampling_caption(result))}).")
            st.code(result["prompt"] + result["new_text"], language=None, wrap_lines=True)
            full_text = result["prompt"] + result["new_text"]
            if full_text.strip():
                surprisal_view(entry, full_text, "generation_surprisal",
                               title="Prompt and generated text, coloured by surprisal")
            candidates_view(result)
            timeline_view(result, entry)
            if len(runs) > 1:
                compare_branches(entry, runs)
            if full_text.strip():
                trace = ui.get_trace(entry, full_text)
                ui.show_notes(trace)
                ui.head_view(trace, "generation", entry.name, "Causal attention over prompt + generated text",
                             with_mean=False, caption="Each token sees only itself and the tokens before it: "
                                                      "everything above the diagonal is 0.")
    except ui.USER_ERRORS as exc:
        ui.show_error(exc)
