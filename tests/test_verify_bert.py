"""Our BERT-shaped models against transformers' BertModel with the same weights (the Verify page's check)."""
from __future__ import annotations

import functools

import pytest
import torch

import attnviz
from attnviz.analysis.verify_bert import bert_parity_check, has_bert_layout
from attnviz.errors import InputError

TEXT = "Angela Merkel visited PARIS, and the film was not good."


@pytest.mark.parametrize("name", ["sentiment", "ner"])
def test_shipped_bert_shaped_models_equal_transformers(name):
    bundle = attnviz.load(name)
    assert has_bert_layout(bundle.model.config)
    result = bert_parity_check(bundle, TEXT)
    assert result.passed and result.worst_error < 1e-4, result.detail


def test_a_subtly_different_encoder_fails_the_check():
    """A private copy whose feed-forward uses tanh-approximated GELU (BERT uses the exact one) must fail."""
    bundle = attnviz.load("sentiment")  # a fresh, private copy
    for block in bundle.model.encoder.blocks:
        block.feed_forward.activation = functools.partial(torch.nn.functional.gelu, approximate="tanh")
    result = bert_parity_check(bundle, TEXT, tolerance=1e-5)
    assert not result.passed and result.worst_error > 1e-5


def test_models_of_another_shape_are_refused():
    with pytest.raises(InputError, match="not BERT-shaped"):
        bert_parity_check(attnviz.load("lm"), "To be or not")
