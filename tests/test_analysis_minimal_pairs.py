"""Minimal pairs: token alignment with inserted, deleted and replaced words; per-head differences."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.analysis import align_tokens, minimal_pair


def test_alignment_with_an_inserted_word():
    pairs, edits = align_tokens(["the", "film", "was", "good"], ["the", "film", "was", "not", "good"])
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 4)]
    assert edits == [("insert", 3, 3, 3, 4)]


def test_alignment_with_a_deleted_word():
    pairs, edits = align_tokens(["it", "was", "very", "bad"], ["it", "was", "bad"])
    assert pairs == [(0, 0), (1, 1), (3, 2)]
    assert edits == [("delete", 2, 3, 2, 2)]


def test_alignment_with_a_replaced_word():
    a = ["the", "animal", "was", "too", "tired", "."]
    b = ["the", "animal", "was", "too", "wide", "."]
    pairs, edits = align_tokens(a, b)
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 3), (5, 5)]
    assert edits == [("replace", 4, 5, 4, 5)]


def test_repeated_tokens_align_in_order():
    pairs, _ = align_tokens(list("abab"), list("abcab"))
    assert [a for a, _ in pairs] == sorted(a for a, _ in pairs)
    assert [b for _, b in pairs] == sorted(b for _, b in pairs)
    assert len(pairs) == 4


@pytest.fixture(scope="module")
def sentiment():
    return attnviz.load("sentiment")


def test_a_pair_on_the_sentiment_model(sentiment):
    result = minimal_pair(sentiment, "The film was good.", "The film was not good.")
    assert result.tokens_b[len(result.tokens_b) - 3] == "good" and "not" in result.tokens_b
    assert ("insert",) == tuple(op[0] for op in result.edits)
    assert all(result.tokens_a[i] == result.tokens_b[j] for i, j in result.alignment)
    assert len(result.alignment) == len(result.tokens_a)
    assert result.head_difference.shape == (sentiment.n_layers, sentiment.n_heads)
    assert (result.head_difference >= 0).all() and (result.head_difference <= 1 + 1e-9).all()
    assert result.head_difference.max() > 0.01
    labels = ["negative", "positive"]
    for label in labels:
        expected = result.prediction_b["probabilities"][label] - result.prediction_a["probabilities"][label]
        assert result.change[label] == pytest.approx(expected)
    shifts = [abs(s) for _, _, s in result.token_shift]
    assert shifts == sorted(shifts, reverse=True) and len(shifts) == len(result.alignment) + len(result.edits)
    # the edited word is listed, with the sign of its change (it receives attention only in B)
    edited = [s for a, b, s in result.token_shift if a == "∅" and b == "not"]
    assert len(edited) == 1 and edited[0] > 0


def test_the_head_difference_is_an_independent_total_variation(sentiment):
    a, b = "The animal didn't cross the street because it was too tired.", \
        "The animal didn't cross the street because it was too wide."
    result = minimal_pair(sentiment, a, b)
    ta, tb = sentiment.trace(a), sentiment.trace(b)
    ia = [i for i, _ in result.alignment]
    ib = [j for _, j in result.alignment]
    layer, head = 3, 7
    wa = ta.weights[layer, head][np.ix_(ia, ia)].astype(np.float64)
    wb = tb.weights[layer, head][np.ix_(ib, ib)].astype(np.float64)
    rows = [0.5 * sum(abs(wa[q, k] - wb[q, k]) for k in range(len(ia))) for q in range(len(ia))]
    assert result.head_difference[layer, head] == pytest.approx(sum(rows) / len(rows))


def test_the_same_sentence_twice_changes_nothing(sentiment):
    result = minimal_pair(sentiment, "A fine film.", "A fine film.")
    assert result.edits == [] and np.all(result.head_difference == 0)
    assert all(v == 0 for v in result.change.values())


def test_tags_that_change_are_listed():
    bundle = attnviz.load("ner")
    result = minimal_pair(bundle, "John lives in Paris.", "John lives in the park.")
    for word, (tag_a, tag_b) in result.change.items():
        assert tag_a != tag_b
    assert result.head_difference.shape == (bundle.n_layers, bundle.n_heads)


def test_ner_changes_are_keyed_by_position_not_by_word():
    ner = attnviz.load("ner")
    result = minimal_pair(ner, "Paris Hilton visited Paris .", "Paris Hilton visited London .")
    assert not any("word 0" in key for key in result.change)  # the first Paris did not change
    result = minimal_pair(ner, "Paris Hilton visited Paris .", "Paris Hilton visited the .")
    assert list(result.change) == ["Paris → the (word 3)"] and result.change["Paris → the (word 3)"][1] == "O"


def test_lm_changes_read_both_probabilities_from_the_full_distribution():
    import torch
    lm = attnviz.load("lm")
    a, b = "To be or not to b", "To be or not to s"
    result = minimal_pair(lm, a, b)
    pa = torch.softmax(lm.logits(a)[-1].double(), -1)
    pb = torch.softmax(lm.logits(b)[-1].double(), -1)
    for token, value in result.change.items():
        index = lm.tokenizer.tokenizer.token_to_id(token)
        assert value == pytest.approx(float(pb[index] - pa[index]))
    assert len(result.change) > 5  # the union of both top-5 lists, none counted as probability 0
