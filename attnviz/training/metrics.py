"""Evaluation metrics: accuracy, and entity-level P/R/F1 as conlleval computes them."""
from __future__ import annotations

from attnviz.nn.tagging import entity_spans


def accuracy(gold: list[int], pred: list[int]) -> float:
    """Share of positions where pred equals gold (0.0 for empty input)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


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
