"""Query/key vectors: softmax(q·k/√d) of the returned vectors is the head's attention pattern, for our
models (per-call return_qk) and for MiniLM (thread-local hooks, removed afterwards)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import attnviz
from attnviz.bundles import registry
from attnviz.nn.attention import MultiHeadSelfAttention
from attnviz.nn.models import ModelConfig, build_model

TEXT = "The cat sat on the mat because it was warm."


def patterns_match(bundle, layer: int, head: int, text: str = TEXT) -> None:
    qk = bundle.query_key(text, layer, head)
    trace = bundle.trace(text)
    assert qk.tokens == trace.tokens
    for query in range(len(qk.tokens)):
        np.testing.assert_allclose(qk.pattern(query), trace.weights[layer, head, query], atol=2e-5)


@pytest.mark.parametrize("task", ["sentiment", "lm"])
def test_our_models_give_the_vectors_behind_the_pattern(task):
    entries = registry.available_models(task)
    assert entries, f"no {task} model"
    bundle = attnviz.load(entries[0].source)
    patterns_match(bundle, bundle.n_layers - 1, bundle.n_heads - 1)
    patterns_match(bundle, 0, 1)


def test_pre_norm_model_reads_its_normed_input():
    config = ModelConfig(kind="classifier", vocab_size=20, d_model=16, n_heads=2, n_layers=2, d_ff=32,
                         norm_first=True, dropout=0.0)
    model = build_model(config).eval()
    ids = torch.randint(1, 20, (1, 7))
    out = model(ids, need_weights=True, return_qk=True)
    for layer, (q, k) in enumerate(out.qk):
        expected = torch.softmax(q @ k.transpose(-2, -1) / np.sqrt(8), dim=-1)
        torch.testing.assert_close(expected, out.attentions[layer], atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, MultiHeadSelfAttention) and m.__dict__.get("q") is not None
                   for m in model.modules())


def test_minilm_hooks_give_the_pattern_and_are_removed():
    bundle = attnviz.load(registry.MINILM_NAME)
    hooks_before = [dict(m._forward_hooks) for m in bundle.model.modules()]  # transformers' own ones
    patterns_match(bundle, 2, 7)
    assert [dict(m._forward_hooks) for m in bundle.model.modules()] == hooks_before


def test_minilm_hook_ignores_other_threads():
    bundle = attnviz.load(registry.MINILM_NAME)
    from attnviz.bundles import query_key
    assert query_key._projections(bundle.model, 0)[0] is not None
    seen = []
    original = bundle._forward

    def forward_with_a_neighbour(encoded, attentions):
        output = original(encoded, attentions)
        # another user's forward pass runs while the hooks are still in place: it must not be caught
        other = threading.Thread(target=lambda: seen.append(original(bundle.encode("another user's text"), True)))
        other.start()
        other.join()
        return output

    bundle._forward = forward_with_a_neighbour  # instance attribute on this test's own bundle
    try:
        qk = bundle.query_key(TEXT, 0, 3)
    finally:
        del bundle._forward
    assert seen and qk.q.shape[0] == len(bundle.encode(TEXT).tokens)
    patterns_match(bundle, 0, 3)


@pytest.mark.parametrize("source", ["sentiment", "all-MiniLM-L6-v2"])
def test_one_pass_gives_every_head_of_a_layer(source):
    """query_keys(text, layer) holds every head in order, each reproducing its pattern (one forward pass)."""
    bundle = attnviz.load(source)
    layer = 1
    every = bundle.query_keys(TEXT, layer)
    trace = bundle.trace(TEXT)
    assert [qk.head for qk in every] == list(range(bundle.n_heads))
    for qk in every:
        assert qk.layer == layer
        for query in range(len(qk.tokens)):
            np.testing.assert_allclose(qk.pattern(query), trace.weights[layer, qk.head, query], atol=2e-5)
