"""Minimal pairs: two sentences that differ in a word or two, and what changes inside the model."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MinimalPair:
    """Two texts through one model.

    alignment: (index in a, index in b) of every token the two tokenisations share (difflib);
    edits: difflib opcodes (tag, a_start, a_end, b_start, b_end) for "replace", "delete", "insert";
    prediction_a/_b: bundle.predict results; change: probability of b minus probability of a, per label
    (sentiment) or next token (LM), or per word for tags that changed (NER);
    head_difference: (layers, heads) mean over aligned queries of the total variation
    0.5 * sum over aligned keys |A_a - A_b| (0 = same pattern, 1 = disjoint);
    token_shift: (token_a, token_b, shift) for aligned tokens, largest shift first, where shift is the
    mean over layers, heads and aligned queries of |attention received in a - in b|.
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


def prediction_change(a: dict, b: dict) -> dict:
    """b minus a per label / next token; for tags, {word: (tag in a, tag in b)} where they differ."""
    if "tags" in a and "tags" in b:
        tags_a = dict(zip(a.get("words", []), a["tags"]))
        tags_b = dict(zip(b.get("words", []), b["tags"]))
        return {w: (tags_a.get(w, "-"), tags_b.get(w, "-")) for w in dict.fromkeys([*tags_a, *tags_b])
                if tags_a.get(w) != tags_b.get(w)}
    scores_a, scores_b = _scores(a), _scores(b)
    return {key: scores_b.get(key, 0.0) - scores_a.get(key, 0.0) for key in dict.fromkeys([*scores_a, *scores_b])}


def minimal_pair(bundle, text_a: str, text_b: str) -> MinimalPair:
    """Trace and predict both texts, align their tokens and compare every head over the aligned tokens."""
    trace_a, trace_b = bundle.trace(text_a), bundle.trace(text_b)
    pairs, edits = align_tokens(trace_a.tokens, trace_b.tokens)
    prediction_a, prediction_b = bundle.predict([text_a, text_b])
    n_layers, n_heads = trace_a.n_layers, trace_a.n_heads
    if not pairs:
        return MinimalPair(trace_a.tokens, trace_b.tokens, [], edits, prediction_a, prediction_b,
                           prediction_change(prediction_a, prediction_b), np.zeros((n_layers, n_heads)), [])
    ia = np.array([i for i, _ in pairs])
    ib = np.array([j for _, j in pairs])
    wa = trace_a.weights[:, :, ia][:, :, :, ia].astype(np.float64)  # (L, H, n, n) aligned queries x keys
    wb = trace_b.weights[:, :, ib][:, :, :, ib].astype(np.float64)
    gap = np.abs(wa - wb)
    head_difference = 0.5 * gap.sum(axis=-1).mean(axis=-1)  # (L, H)
    received = np.abs(wa.mean(axis=2) - wb.mean(axis=2)).mean(axis=(0, 1))  # (n,)
    order = np.argsort(-received, kind="stable")
    shift = [(trace_a.tokens[ia[k]], trace_b.tokens[ib[k]], float(received[k])) for k in order]
    return MinimalPair(trace_a.tokens, trace_b.tokens, pairs, edits, prediction_a, prediction_b,
                       prediction_change(prediction_a, prediction_b), head_difference, shift)
