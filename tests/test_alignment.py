"""Two tokenizers lined up word by word through character offsets."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.analysis.alignment import align_words, token_spans, word_ids
from tiny_hf import tiny_encoder, tiny_gpt2, tiny_gpt2_folder  # noqa: F401  (fixtures)

TEXT = "The cat sat, on the mat."


@pytest.fixture(scope="module")
def lm():
    return attnviz.load("lm")


def test_spans_cover_the_text(lm, tiny_gpt2, tiny_encoder):
    for bundle in (lm, tiny_gpt2, tiny_encoder):
        spans = token_spans(bundle, TEXT)
        tokens = bundle.encode(TEXT).tokens
        assert len(spans) == len(tokens)
        pieces = "".join(TEXT[a:b] for a, b in spans)
        assert pieces.replace(" ", "").lower() == TEXT.replace(" ", "").lower()
    assert token_spans(lm, TEXT)[:4] == [(0, 1), (1, 2), (2, 3), (3, 4)]  # one character each
    assert word_ids([(0, 3), (3, 4), (4, 7), (0, 0)], TEXT) == [0, None, 1, None]


def test_char_lm_and_gpt2_line_up_word_by_word(lm, tiny_gpt2):
    a, b = lm.trace(TEXT), tiny_gpt2.trace(TEXT)
    aligned = align_words(a, token_spans(lm, TEXT), b, token_spans(tiny_gpt2, TEXT), TEXT)
    assert aligned.words == ["The", "cat", "sat", ",", "on", "the", "mat", "."]
    assert aligned.trace_a.tokens == aligned.trace_b.tokens == aligned.words
    assert aligned.trace_a.weights.shape[2:] == aligned.trace_b.weights.shape[2:] == (8, 8)
    np.testing.assert_allclose(aligned.trace_a.weights.sum(-1), 1.0, atol=1e-5)
    assert set(aligned.dropped_a) == {" "}
    # by hand for the character model: drop the spaces, renormalise rows, sum columns per word, mean rows
    spans = token_spans(lm, TEXT)
    ids = word_ids(spans, TEXT)
    keep = [i for i, w in enumerate(ids) if w is not None]
    w = a.weights[0, 0][np.ix_(keep, keep)].astype(np.float64)
    w /= w.sum(-1, keepdims=True)
    member = np.array([[ids[k] == word for k in keep] for word in range(8)], dtype=float)  # (8, kept)
    expected = (member / member.sum(1, keepdims=True)) @ w @ member.T
    np.testing.assert_allclose(aligned.trace_a.weights[0, 0], expected, atol=1e-5)
