"""Accuracy and conlleval-style entity scores on hand-worked examples."""
from __future__ import annotations

import pytest

from attnviz.training.metrics import accuracy, entity_scores, entity_spans


def test_accuracy():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        accuracy([1, 0], [1])


@pytest.mark.parametrize(
    "tags, spans",
    [
        (["O", "O"], []),
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),  # B always starts
        # conlleval: an I-X that does not continue an X entity starts a new one
        (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),
        (["O", "I-ORG"], [("ORG", 1, 2)]),
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
        (["B-LOC", "O", "I-LOC"], [("LOC", 0, 1), ("LOC", 2, 3)]),
    ],
)
def test_entity_spans(tags, spans):
    assert entity_spans(tags) == spans


def test_entity_spans_rejects_non_bio():
    with pytest.raises(ValueError):
        entity_spans(["PER"])


def test_perfect_prediction():
    gold = [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]
    scores = entity_scores(gold, gold)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 1.0, 1.0)
    assert (scores["n_gold"], scores["n_pred"], scores["n_correct"]) == (2, 2, 2)


def test_wrong_type_and_partial_span_are_misses():
    wrong_type = entity_scores([["B-PER", "I-PER"]], [["B-ORG", "I-ORG"]])
    partial = entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])
    for s in (wrong_type, partial):
        assert (s["n_gold"], s["n_pred"], s["n_correct"], s["f1"]) == (1, 1, 0, 0.0)


def test_i_start_matches_b_start():
    # conlleval reads gold "I-PER I-PER" as one PER entity, same as "B-PER I-PER".
    s = entity_scores([["I-PER", "I-PER"]], [["B-PER", "I-PER"]])
    assert s["f1"] == 1.0


def test_undefined_scores_are_zero():
    s = entity_scores([["O", "O"]], [["O", "O"]])
    assert (s["precision"], s["recall"], s["f1"], s["n_gold"], s["n_pred"]) == (0.0, 0.0, 0.0, 0, 0)


def test_hand_computed_micro_scores():
    gold = [
        ["B-PER", "I-PER", "O", "B-LOC"],  # PER 0-2, LOC 3-4
        ["B-ORG", "I-ORG", "I-ORG", "O", "B-PER"],  # ORG 0-3, PER 4-5
        ["O", "O", "B-LOC"],  # LOC 2-3
    ]
    pred = [
        ["B-PER", "I-PER", "O", "B-ORG"],  # PER right, ORG 3-4 wrong type
        ["B-ORG", "I-ORG", "O", "O", "B-PER"],  # ORG 0-2 too short, PER right
        ["I-MISC", "O", "B-LOC"],  # spurious MISC 0-1 (I without B), LOC right
    ]
    s = entity_scores(gold, pred)
    assert (s["n_gold"], s["n_pred"], s["n_correct"]) == (5, 6, 3)
    assert s["precision"] == pytest.approx(3 / 6)
    assert s["recall"] == pytest.approx(3 / 5)
    assert s["f1"] == pytest.approx(2 * 0.5 * 0.6 / (0.5 + 0.6))  # 0.5454...


def test_length_mismatch():
    with pytest.raises(ValueError):
        entity_scores([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError):
        entity_scores([["O", "O"]], [["O"]])
