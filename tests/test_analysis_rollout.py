"""Attention rollout against a direct computation (random row-stochastic matrices and real traces)."""
from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

import attnviz
from attnviz.analysis import rollout
from attnviz.trace import AttentionTrace


def random_trace(rng, layers=3, heads=4, tokens=6, causal=False) -> AttentionTrace:
    weights = rng.random((layers, heads, tokens, tokens))
    if causal:
        weights *= np.tril(np.ones((tokens, tokens)))
    weights /= weights.sum(-1, keepdims=True)
    return AttentionTrace(weights.astype(np.float32), [f"t{i}" for i in range(tokens)], causal=causal)


def direct(weights: np.ndarray, residual: float) -> list[np.ndarray]:
    """R_l = A'_l A'_(l-1) ... A'_1 written out as one product per layer."""
    w = weights.astype(np.float64)
    primes = []
    for layer in range(w.shape[0]):
        a = residual * np.eye(w.shape[-1]) + (1 - residual) * sum(w[layer, h] for h in range(w.shape[1])) / w.shape[1]
        primes.append(a / a.sum(axis=1, keepdims=True))
    return [reduce(lambda acc, m: m @ acc, primes[:layer + 1]) for layer in range(len(primes))]


@pytest.mark.parametrize("residual", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("causal", [False, True])
def test_rollout_equals_a_direct_product(residual, causal):
    trace = random_trace(np.random.default_rng(1), causal=causal)
    out = rollout(trace, residual=residual)
    assert out.shape == (3, 6, 6)
    for layer, expected in enumerate(direct(trace.weights, residual)):
        np.testing.assert_allclose(out[layer], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-9)
    if causal:
        assert np.all(np.triu(out, k=1) == 0.0)


def test_one_head_no_residual_is_the_plain_matrix_product():
    trace = random_trace(np.random.default_rng(2), layers=2, heads=1, tokens=5)
    w = trace.weights.astype(np.float64)[:, 0]
    np.testing.assert_allclose(rollout(trace, residual=0.0)[1], w[1] @ w[0], rtol=1e-6)


def test_residual_one_is_the_identity():
    trace = random_trace(np.random.default_rng(3))
    np.testing.assert_allclose(rollout(trace, residual=1.0), np.broadcast_to(np.eye(6), (3, 6, 6)))


@pytest.mark.parametrize("name, text", [("sentiment", "The film was not good at all."),
                                        ("lm", "To be, or not to be")])
def test_rollout_of_a_real_trace(name, text):
    trace = attnviz.load(name).trace(text)
    out = rollout(trace)
    for layer, expected in enumerate(direct(trace.weights, 0.5)):
        np.testing.assert_allclose(out[layer], expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)
    assert trace.causal == (name == "lm")
    if trace.causal:
        assert np.all(np.triu(out, k=1) == 0.0)


def test_bad_residual_is_refused():
    with pytest.raises(ValueError, match="residual"):
        rollout(random_trace(np.random.default_rng(4)), residual=1.5)
