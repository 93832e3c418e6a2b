"""Minimal pairs: two sentences that differ in a word or two, and what changes inside the model."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.analysis.arguments import check_text
from attnviz.analysis.targets import _token_name


@dataclass(frozen=True)
class MinimalPair:
    """Two texts through one model.

    alignment: (index in a, index in b) of every token the two tokenisations share (difflib);
    edits: difflib opcodes (tag, a_start, a_end, b_start, b_end) for "replace", "delete", "insert";
    prediction_a/_b: bundle.predict results; change: probability of b minus probability of a, per label
    (sentiment) or next token (LM: the tokens in either side's top 5, each probability read from the full
    distribution), or for tags that changed (NER) "word (word i)" -> (tag in a, tag in b), keyed by position;
    head_difference: (layers, heads) mean over aligned queries of the total variation
    0.5 * sum over aligned keys |A_a - A_b| (0 = same pattern, 1 = disjoint);
    token_shift: (token_a, token_b, shift), largest |shift| first, where shift is the attention received in b
    minus in a (mean over layers, heads and aligned queries), signed; aligned tokens one by one, and each edit
    (the edited words) as one entry, its tokens' attention summed;
    weights_a/_b: (layers, heads, n, n) attention among the aligned tokens (queries x keys), for the A/B view.
    """

    tokens_a: list[str]
    tokens_b: list[str]
    alignment: list[tuple[int, int]]
    edits: list[tuple[str, int, int, int, int]]
    prediction_a: dict
    prediction_b: dict
    change: dict
    head_difference: np.ndarray
    token_shift: list[tuple[str, str, float]]
    weights_a: np.ndarray | None = None
    weights_b: np.ndarray | None = None


def align_tokens(tokens_a: list[str], tokens_b: list[str]) -> tuple[list[tuple[int, int]], list[tuple]]:
    """Matched token index pairs and the edits between two token lists (difflib, no junk heuristic)."""
    matcher = difflib.SequenceMatcher(None, tokens_a, tokens_b, autojunk=False)
    pairs = [(block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size)]
    edits = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    return pairs, edits


def _scores(prediction: dict) -> dict[str, float]:
    if "probabilities" in prediction:
        return dict(prediction["probabilities"])
    if "next_tokens" in prediction:
        return {token: p for token, p in prediction["next_tokens"]}
    return {}


def tag_change(a: dict, b: dict) -> dict:
    """{"word (word i)": (tag in a, tag in b)} for aligned words whose tag differs and for edited words,
    keyed by position (a repeated word is two entries)."""
    words_a, words_b = a.get("words", [])[:len(a["tags"])], b.get("words", [])[:len(b["tags"])]
    pairs, edits = align_tokens(words_a, words_b)
    change = {}
    for i, j in pairs:
        if a["tags"][i] != b["tags"][j]:
            change[f"{words_a[i]} (word {i})"] = (a["tags"][i], b["tags"][j])
    for op, a0, a1, b0, b1 in edits:
        if op == "replace" and a1 - a0 == b1 - b0:  # word for word: a change only where the tag changes
            for i, j in zip(range(a0, a1), range(b0, b1)):
                if a["tags"][i] != b["tags"][j]:
                    change[f"{words_a[i]} → {words_b[j]} (word {i})"] = (a["tags"][i], b["tags"][j])
            continue
        for i in range(a0, a1):
            change[f"{words_a[i]} (word {i} of A)"] = (a["tags"][i], "-")
        for j in range(b0, b1):
            change[f"{words_b[j]} (word {j} of B)"] = ("-", b["tags"][j])
    return change


def next_token_change(bundle, text_a: str, text_b: str, top: int = 5) -> dict[str, float]:
    """p_b - p_a of every token in either text's top `top` next tokens, read from the full distributions."""
    probs_a = torch.softmax(bundle.logits(text_a)[-1].double(), -1)
    probs_b = torch.softmax(bundle.logits(text_b)[-1].double(), -1)
    ids = dict.fromkeys([int(i) for p in (probs_a, probs_b) for i in torch.topk(p, min(top, p.numel())).indices])
    return {_token_name(bundle, i): float(probs_b[i] - probs_a[i]) for i in ids}


def prediction_change(a: dict, b: dict) -> dict:
    """b minus a per label; for tags, see `tag_change` (next tokens: see `next_token_change`)."""
    if "tags" in a and "tags" in b:
        return tag_change(a, b)
    scores_a, scores_b = _scores(a), _scores(b)
    return {key: scores_b.get(key, 0.0) - scores_a.get(key, 0.0) for key in dict.fromkeys([*scores_a, *scores_b])}


def minimal_pair(bundle, text_a: str, text_b: str) -> MinimalPair:
    """Trace and predict both texts, align their tokens and compare every head over the aligned tokens."""
    check_text("text_a", text_a)
    check_text("text_b", text_b)
    trace_a, trace_b = bundle.trace(text_a), bundle.trace(text_b)
    pairs, edits = align_tokens(trace_a.tokens, trace_b.tokens)
    prediction_a, prediction_b = bundle.predict([text_a, text_b])
    change = next_token_change(bundle, text_a, text_b) if bundle.task == "lm" else \
        prediction_change(prediction_a, prediction_b)
    n_layers, n_heads = trace_a.n_layers, trace_a.n_heads
    if not pairs:
        return MinimalPair(trace_a.tokens, trace_b.tokens, [], edits, prediction_a, prediction_b,
                           change, np.zeros((n_layers, n_heads)), [])
    ia = np.array([i for i, _ in pairs])
    ib = np.array([j for _, j in pairs])
    wa = trace_a.weights[:, :, ia][:, :, :, ia].astype(np.float64)  # (L, H, n, n) aligned queries x keys
    wb = trace_b.weights[:, :, ib][:, :, :, ib].astype(np.float64)
    gap = np.abs(wa - wb)
    head_difference = 0.5 * gap.sum(axis=-1).mean(axis=-1)  # (L, H)
    # attention each key receives from the aligned queries, mean over layers, heads and those queries
    received_a = trace_a.weights[:, :, ia].astype(np.float64).mean(axis=(0, 1, 2))  # (T_a,)
    received_b = trace_b.weights[:, :, ib].astype(np.float64).mean(axis=(0, 1, 2))  # (T_b,)
    shift = [(trace_a.tokens[i], trace_b.tokens[j], float(received_b[j] - received_a[i])) for i, j in pairs]
    for _, a0, a1, b0, b1 in edits:
        shift.append((" ".join(trace_a.tokens[a0:a1]) or "∅", " ".join(trace_b.tokens[b0:b1]) or "∅",
                      float(received_b[b0:b1].sum() - received_a[a0:a1].sum())))
    shift.sort(key=lambda item: -abs(item[2]))
    return MinimalPair(trace_a.tokens, trace_b.tokens, pairs, edits, prediction_a, prediction_b,
                       change, head_difference, shift, wa.astype(np.float32), wb.astype(np.float32))
