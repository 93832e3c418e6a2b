"""Evaluation metrics: accuracy, and entity-level P/R/F1 as conlleval computes them."""
from __future__ import annotations


def accuracy(gold: list[int], pred: list[int]) -> float:
    """Share of positions where pred equals gold (0.0 for empty input)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not kind:
        raise ValueError(f"tag {tag!r} is not BIO (expected O, B-TYPE or I-TYPE)")
    return prefix, kind


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entities as (type, start, end_exclusive), with conlleval's reading of BIO2.

    B-X always starts an entity; I-X continues the entity before it only if that
    entity is of type X, otherwise it starts a new one; O ends the current one.
    """
    spans: list[tuple[str, int, int]] = []
    kind, start = "", -1  # current open entity, kind == "" when none
    for i, tag in enumerate(tags):
        prefix, tag_kind = _split_tag(tag)
        if kind and (prefix != "I" or tag_kind != kind):
            spans.append((kind, start, i))
            kind = ""
        if prefix != "O" and not kind:
            kind, start = tag_kind, i
    if kind:
        spans.append((kind, start, len(tags)))
    return spans


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Micro-averaged entity-level precision, recall, F1 (fractions, not percent).

    An entity counts as correct only if type and both boundaries match exactly.
    Returns precision, recall, f1 (0.0 when undefined), n_gold, n_pred, n_correct.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    n_gold = n_pred = n_correct = 0
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but pred has {len(p)}")
        g_spans, p_spans = set(entity_spans(g)), set(entity_spans(p))
        n_gold += len(g_spans)
        n_pred += len(p_spans)
        n_correct += len(g_spans & p_spans)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_gold": n_gold,
        "n_pred": n_pred,
        "n_correct": n_correct,
    }
