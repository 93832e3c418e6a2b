"""Head importance: exact ablation scores, zero for a head that contributes nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.analysis import head_importance
from attnviz.errors import InputError
from tiny_hf import tiny_classifier, tiny_encoder, tiny_gpt2, tiny_gpt2_folder, tiny_llama  # noqa: F401  (fixtures)

TEXTS = ["The film was not good at all.", "A gripping, beautifully acted film."]


@pytest.fixture(scope="module")
def muted_sentiment():
    """A private copy of the sentiment model whose head (2, 5) writes nothing: its output-projection
    columns are zero, so switching it off cannot change anything."""
    bundle = attnviz.load("sentiment")
    attention = bundle.model.encoder.blocks[2].attention
    with torch.no_grad():
        attention.out.weight[:, 5 * attention.head_dim:6 * attention.head_dim] = 0.0
    return bundle


def test_a_head_that_writes_nothing_has_zero_importance(muted_sentiment):
    scores = head_importance(muted_sentiment, TEXTS)
    assert scores.shape == (muted_sentiment.n_layers, muted_sentiment.n_heads)
    assert scores[2, 5] == 0.0
    assert np.abs(scores).max() > 1e-4


def test_importance_is_the_mean_drop_in_the_predictions_log_probability(tiny_classifier):
    scores = head_importance(tiny_classifier, TEXTS)
    expected = np.zeros_like(scores)
    for text in TEXTS:
        base = torch.log_softmax(tiny_classifier.logits(text).double(), -1)
        label = int(base.argmax())
        for layer in range(2):
            for head in range(4):
                ablated = torch.log_softmax(tiny_classifier.logits(text, ablate=[(layer, head)]).double(), -1)
                expected[layer, head] += float(base[label] - ablated[label]) / len(TEXTS)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-8)  # batched vs one-by-one float32


@pytest.mark.parametrize("model", ["tiny_gpt2", "tiny_llama"])
def test_decoders_batched_ablation_equals_one_head_at_a_time(model, request):
    """The pass that widens at the ablated layer (the layers below run once) gives what switching each
    head off alone gives, for HuggingFace decoders too (their hooks see a batch that grows mid-pass)."""
    bundle = request.getfixturevalue(model)
    text = "the cat sat on the mat"
    scores = head_importance(bundle, text)
    base = torch.log_softmax(bundle.logits(text)[-1].double(), -1)
    token = int(base.argmax())
    for layer, head in [(0, 0), (bundle.n_layers - 1, bundle.n_heads - 1)]:
        ablated = torch.log_softmax(bundle.logits(text, ablate=[(layer, head)])[-1].double(), -1)
        assert scores[layer, head] == pytest.approx(float(base[token] - ablated[token]), rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("name", ["ner", "lm"])
def test_tagger_and_language_model(name):
    bundle = attnviz.load(name)
    scores = head_importance(bundle, "Angela Merkel met Macron in Paris.")
    assert scores.shape == (bundle.n_layers, bundle.n_heads) and np.isfinite(scores).all()
    assert np.abs(scores).max() > 0


def test_no_text_and_no_head(tiny_classifier, tiny_encoder):
    with pytest.raises(InputError, match="at least one text"):
        head_importance(tiny_classifier, [])
    with pytest.raises(InputError, match="no prediction to explain"):
        head_importance(tiny_encoder, TEXTS)
