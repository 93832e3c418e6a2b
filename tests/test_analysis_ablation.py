"""Head ablation: equal to an independent hook that removes the head's share of the output projection,
ablate=[] changes nothing, and concurrent ablations on one shared model never leak between threads."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import attnviz
from attnviz.nn.ablation import hooked_ablation, output_projections
from attnviz.errors import InputError
from tiny_hf import tiny_classifier, tiny_gpt2, tiny_gpt2_folder, tiny_llama  # noqa: F401  (fixtures)

TEXT = "the big red cat sat on the mat."


@pytest.fixture(scope="module")
def sentiment():
    return attnviz.load("sentiment")


def remove_head_share(projection: torch.nn.Module, heads: list[int], n_heads: int):
    """A forward hook (after the projection) subtracting the heads' contribution context_h @ W_h:
    the same result as zeroing their context, computed another way."""
    def hook(module, args, output):
        context = args[0]  # (B, T, H * d_head)
        head_dim = context.shape[-1] // n_heads
        weight = module.weight  # Linear: (out, in); GPT-2 Conv1D: (in, out)
        w_in_out = weight if type(module).__name__ == "Conv1D" else weight.T  # (in, out)
        for head in heads:
            part = slice(head * head_dim, (head + 1) * head_dim)
            output = output - context[..., part] @ w_in_out[part]
        return output
    return projection.register_forward_hook(hook)


def logits_with_independent_hook(bundle, text: str, layer: int, heads: list[int]) -> torch.Tensor:
    if hasattr(bundle, "checkpoint"):
        projection = bundle.model.encoder.blocks[layer].attention.out
    else:
        projection = output_projections(bundle.model, bundle.n_layers)[layer]
    handle = remove_head_share(projection, heads, bundle.n_heads)
    try:
        return bundle.logits(text)
    finally:
        handle.remove()


@pytest.mark.parametrize("name", ["sentiment", "tiny_classifier", "tiny_gpt2", "tiny_llama"])
def test_ablation_equals_an_independent_hook(name, request, sentiment):
    bundle = sentiment if name == "sentiment" else request.getfixturevalue(name)
    plain = bundle.logits(TEXT)
    for layer, heads in [(0, [1]), (bundle.n_layers - 1, [0, bundle.n_heads - 1])]:
        ablated = bundle.logits(TEXT, ablate=[(layer, h) for h in heads])
        expected = logits_with_independent_hook(bundle, TEXT, layer, heads)
        torch.testing.assert_close(ablated, expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(ablated, plain, atol=1e-6), "switching a head off changed nothing"
    assert torch.equal(bundle.logits(TEXT), plain)  # nothing was left behind on the model


@pytest.mark.parametrize("name", ["sentiment", "tiny_classifier", "tiny_gpt2"])
def test_empty_ablation_changes_nothing(name, request, sentiment):
    bundle = sentiment if name == "sentiment" else request.getfixturevalue(name)
    assert torch.equal(bundle.logits(TEXT, ablate=[]), bundle.logits(TEXT))
    assert bundle.predict([TEXT], ablate=[]) == bundle.predict([TEXT])
    np.testing.assert_array_equal(bundle.trace(TEXT, ablate=()).weights, bundle.trace(TEXT).weights)


def test_trace_with_ablation_changes_only_later_layers(sentiment):
    plain, ablated = sentiment.trace(TEXT), sentiment.trace(TEXT, ablate=[(1, 3)])
    np.testing.assert_array_equal(ablated.weights[:2], plain.weights[:2])  # layers 0 and 1 see the same input
    assert np.abs(ablated.weights[2:] - plain.weights[2:]).max() > 1e-6


def test_predict_with_ablation_moves_the_probability(sentiment):
    plain = sentiment.predict([TEXT])[0]["probabilities"]
    ablated = sentiment.predict([TEXT], ablate=[(3, 9)])[0]["probabilities"]
    assert abs(ablated["positive"] - plain["positive"]) > 1e-4
    assert sum(ablated.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [[(9, 0)], [(0, 99)], [(-1, 0)], ["x"], [(0,)]])
def test_a_head_that_does_not_exist_is_an_input_error(sentiment, tiny_classifier, bad):
    for bundle in (sentiment, tiny_classifier):
        with pytest.raises(InputError):
            bundle.predict([TEXT], ablate=bad)


def test_hooks_act_only_in_their_thread_and_are_removed(tiny_classifier):
    bundle = tiny_classifier
    plain = bundle.logits(TEXT)
    seen = []
    with hooked_ablation(bundle.model, frozenset({(0, 1), (1, 2)}), bundle.n_layers, bundle.n_heads):
        other = threading.Thread(target=lambda: seen.append(bundle.logits(TEXT)))
        other.start()
        other.join()
        inside = bundle.logits(TEXT)  # this thread: ablated by the hooks
    assert torch.equal(seen[0], plain)
    assert not torch.allclose(inside, plain, atol=1e-6)
    assert torch.allclose(inside, bundle.logits(TEXT, ablate=[(0, 1), (1, 2)]))
    assert all(not p._forward_pre_hooks for p in output_projections(bundle.model, bundle.n_layers))


@pytest.mark.parametrize("name", ["sentiment", "tiny_classifier", "tiny_llama"])
def test_two_threads_ablating_different_heads_get_their_own_results(name, request, sentiment):
    bundle = sentiment if name == "sentiment" else request.getfixturevalue(name)
    choices = {0: [(0, 0), (1, 1)], 1: [(bundle.n_layers - 1, bundle.n_heads - 1)]}
    alone = {k: bundle.logits(TEXT, ablate=heads) for k, heads in choices.items()}
    assert not torch.allclose(alone[0], alone[1], atol=1e-6)
    rounds = 15
    barrier = threading.Barrier(2)
    results: dict[int, list] = {0: [], 1: []}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(rounds):
                barrier.wait(timeout=30)
                results[k].append(bundle.logits(TEXT, ablate=choices[k]))
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in choices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for k in choices:
        assert len(results[k]) == rounds
        for result in results[k]:
            torch.testing.assert_close(result, alone[k], rtol=1e-5, atol=1e-6)


def test_a_model_of_unknown_layout_is_refused_clearly():
    with pytest.raises(InputError, match="not supported"):
        output_projections(torch.nn.Sequential(torch.nn.Linear(4, 4)), n_layers=2)
