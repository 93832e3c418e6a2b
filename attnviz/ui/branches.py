"""Branching generation: a tree of runs kept in the session, each a run of the same prompt, settings and
seed with some steps' tokens forced; the URL holds the prompt, the settings and the forced choices."""
from __future__ import annotations

import streamlit as st

from attnviz.errors import InputError
from attnviz.nn.generate import MAX_NEW_TOKENS_CAP
from attnviz.plots.candidates import choice_of
from attnviz.text.display import readable_token

BRANCHES_KEY = "generation_branches"  # the runs of this prompt and settings: the first is the trunk
CURRENT_KEY = "generation_current"    # index of the run shown
REQUEST_KEY = "generation_branch_request"  # (parent index, step, token id), set by a click or a button
MAX_BRANCHES = 24
MAX_FORCED = 64


def forced_param(forced: dict[int, int]) -> str | None:
    """{3: 42, 7: 10} -> "3:42,7:10" (None when nothing is forced)."""
    return ",".join(f"{s}:{t}" for s, t in sorted(forced.items())) or None


def parse_forced(raw: str | None) -> dict[int, int]:
    """"3:42,7:10" -> {3: 42, 7: 10}; an InputError for anything else."""
    if not raw:
        return {}
    forced: dict[int, int] = {}
    for part in str(raw).split(",")[:MAX_FORCED + 1]:
        step, _, token = part.partition(":")
        if not (step.strip().isdigit() and token.strip().isdigit()):
            raise InputError("The link's forced choices must read step:token id, e.g. 3:42,7:10.")
        if int(step) >= MAX_NEW_TOKENS_CAP:
            raise InputError(f"A forced step must be below {MAX_NEW_TOKENS_CAP:,}.")
        forced[int(step)] = int(token)
    if len(forced) > MAX_FORCED:
        raise InputError(f"A link may force at most {MAX_FORCED} choices.")
    return forced


def branch_label(runs: list[dict], index: int) -> str:
    """"trunk", or the forced choices that make the branch, e.g. "step 3 → ␣the"."""
    run = runs[index]
    if not run.get("forced"):
        return f"{index}: trunk"
    names = run.get("forced_names", {})
    return f"{index}: " + ", ".join(f"step {s} → {names.get(s, readable_token(str(t)))}"
                                    for s, t in sorted(run["forced"].items()))


def start_tree(run: dict) -> None:
    st.session_state[BRANCHES_KEY] = [run]
    st.session_state[CURRENT_KEY] = 0


def add_branch(run: dict) -> int:
    """Keep a new run in the tree (the oldest branch goes past MAX_BRANCHES, the trunk stays)."""
    runs = st.session_state.setdefault(BRANCHES_KEY, [])
    for index, other in enumerate(runs):
        if other["forced"] == run["forced"]:
            st.session_state[CURRENT_KEY] = index
            return index
    runs.append(run)
    if len(runs) > MAX_BRANCHES:
        del runs[1]
    st.session_state[CURRENT_KEY] = len(runs) - 1
    return len(runs) - 1


def current_run() -> dict | None:
    runs = st.session_state.get(BRANCHES_KEY) or []
    index = st.session_state.get(CURRENT_KEY, 0)
    return runs[index] if 0 <= index < len(runs) else None


def request_branch(parent: int, step: int, token_id: int) -> None:
    """A candidate's button: branch the run `parent` at `step` with `token_id` taken there."""
    st.session_state[REQUEST_KEY] = (parent, step, token_id)


def branch_forced(parent: dict, step: int, token_id: int) -> dict[int, int]:
    """The parent's forced choices before `step`, and the new one (later choices no longer apply)."""
    return {**{s: t for s, t in parent["forced"].items() if s < step}, step: int(token_id)}


def taken(run: dict, step: int, token_id: int) -> bool:
    """Whether `token_id` is the token the run took at `step` (a branch there would repeat the run)."""
    position = run["n_prompt"] + step
    return 0 <= position < len(run["ids"]) and int(run["ids"][position]) == int(token_id)


def clicked_choice(state: object) -> tuple[int, int] | None:
    """The (step, token id) of the candidate cell selected in a chart's state (st.session_state[key] of
    a plotly chart with on_select), or None when no candidate cell is selected."""
    try:
        points = state["selection"]["points"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return choice_of(points[0]) if points else None


def branch_on_click(key: str) -> None:
    """The candidates chart's on_select callback: a clicked cell becomes a branch request of the run
    shown. A callback runs only when the selection changes, so the reruns that follow (the selection
    stays in the chart's state) never make the same branch again."""
    choice = clicked_choice(st.session_state.get(key))
    run = current_run()
    if choice is None or run is None or taken(run, *choice):
        return
    request_branch(st.session_state.get(CURRENT_KEY, 0), *choice)
