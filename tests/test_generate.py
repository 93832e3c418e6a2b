"""Sampling from the causal LM: greedy, seeds, top-k, top-p, stop tokens, context cropping.

Seed fault 8: `generate_sequence` read an undefined `end_token`, called a classifier as a
language model, never cropped to the context length and divided by a temperature of 0.
"""
from __future__ import annotations

import pytest
import torch

from attnviz.nn.generate import GenerationConfig, generate, next_token_distribution
from attnviz.nn.models import ModelConfig, build_model

VOCAB, MAX_LEN = 30, 8


def tiny_lm(dropout: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(kind="causal_lm", vocab_size=VOCAB, d_model=16, n_heads=2, n_layers=2,
                         d_ff=32, max_len=MAX_LEN, dropout=dropout)
    return build_model(config).eval()


def greedy_by_hand(model: torch.nn.Module, prompt: list[int], steps: int) -> list[int]:
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids[-MAX_LEN:]])).logits[0, -1]
            ids.append(int(logits.argmax()))
    return ids[len(prompt):]


def test_temperature_zero_is_greedy_and_never_divides_by_zero():
    model = tiny_lm()
    result = generate(model, [1, 2, 3], GenerationConfig(max_new_tokens=6, temperature=0.0))
    assert result.new_ids == greedy_by_hand(model, [1, 2, 3], 6)
    for step in result.steps:
        assert step.probability == 1.0
        assert step.candidates == [(step.token_id, 1.0)]
    logits = torch.tensor([0.5, 3.0, -1.0, 2.9])
    probs = next_token_distribution(logits, GenerationConfig(temperature=0.0))
    assert torch.isfinite(probs).all()
    assert probs.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_tiny_temperature_approaches_greedy():
    logits = torch.tensor([0.5, 3.0, -1.0, 2.9])
    probs = next_token_distribution(logits, GenerationConfig(temperature=1e-3))
    assert torch.isfinite(probs).all()
    assert probs[1] > 0.999


def test_temperature_flattens_and_sharpens():
    logits = torch.tensor([2.0, 1.0, 0.0])
    hot = next_token_distribution(logits, GenerationConfig(temperature=2.0))
    cold = next_token_distribution(logits, GenerationConfig(temperature=0.5))
    assert torch.allclose(hot, torch.softmax(logits / 2, -1))
    assert hot[0] < torch.softmax(logits, -1)[0] < cold[0]


def test_same_seed_same_text_and_different_seeds_differ():
    model = tiny_lm()
    prompt = [4, 5, 6]
    runs = {seed: generate(model, prompt, GenerationConfig(max_new_tokens=12, temperature=1.0, seed=seed)).new_ids
            for seed in (1, 2, 3)}
    again = generate(model, prompt, GenerationConfig(max_new_tokens=12, temperature=1.0, seed=1)).new_ids
    assert again == runs[1]
    assert len({tuple(ids) for ids in runs.values()}) > 1


def test_seeded_generation_does_not_depend_on_global_rng():
    model = tiny_lm()
    config = GenerationConfig(max_new_tokens=8, seed=7)
    torch.manual_seed(100)
    first = generate(model, [1], config).new_ids
    torch.manual_seed(200)
    assert generate(model, [1], config).new_ids == first


def test_top_k_one_is_greedy():
    model = tiny_lm()
    sampled = generate(model, [7, 8], GenerationConfig(max_new_tokens=6, temperature=1.5, top_k=1, seed=3))
    assert sampled.new_ids == greedy_by_hand(model, [7, 8], 6)


def test_top_k_keeps_k_tokens():
    logits = torch.tensor([1.0, 4.0, 3.0, 2.0, 0.0])
    probs = next_token_distribution(logits, GenerationConfig(top_k=2))
    assert (probs > 0).nonzero().flatten().tolist() == [1, 2]
    assert torch.allclose(probs[[1, 2]], torch.softmax(torch.tensor([4.0, 3.0]), -1))


@pytest.mark.parametrize("top_p, kept", [(0.4, [0]), (0.75, [0, 1]), (0.85, [0, 1, 2]), (0.99, [0, 1, 2, 3]),
                                         (1.0, [0, 1, 2, 3])])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
    base = torch.tensor([0.5, 0.3, 0.15, 0.05])
    order = torch.tensor([2, 0, 3, 1])  # scramble the vocabulary so sorting is exercised
    logits = torch.empty(4)
    logits[order] = base.log()
    probs = next_token_distribution(logits, GenerationConfig(top_p=top_p))
    kept_ids = sorted(order[kept].tolist())
    assert (probs > 0).nonzero().flatten().tolist() == kept_ids
    assert torch.allclose(probs[order[kept]], base[kept] / base[kept].sum(), atol=1e-6)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_stop_token_stops():
    model = tiny_lm()
    greedy = greedy_by_hand(model, [1, 2], 5)
    stop = greedy[2]
    result = generate(model, [1, 2], GenerationConfig(max_new_tokens=5, temperature=0, stop_ids=(stop,)))
    assert result.new_ids == greedy[:greedy.index(stop) + 1]
    assert result.stopped_by == "stop_token"
    everything = generate(model, [1], GenerationConfig(max_new_tokens=5, seed=0, stop_ids=tuple(range(VOCAB))))
    assert len(everything.new_ids) == 1 and everything.stopped_by == "stop_token"


def test_prompt_longer_than_the_context_is_cropped():
    model = tiny_lm()
    prompt = list(range(1, 3 * MAX_LEN))  # far longer than max_len: the model alone would refuse it
    with pytest.raises(ValueError):
        model(torch.tensor([prompt]))
    result = generate(model, prompt, GenerationConfig(max_new_tokens=2 * MAX_LEN, temperature=0))
    assert len(result.new_ids) == 2 * MAX_LEN
    assert result.prompt_ids == prompt
    assert result.ids == prompt + result.new_ids
    cropped = generate(model, prompt[-MAX_LEN:], GenerationConfig(max_new_tokens=2 * MAX_LEN, temperature=0))
    assert cropped.new_ids == result.new_ids  # only the last max_len tokens count


@pytest.mark.parametrize("n", [0, 1, 5])
def test_max_new_tokens_is_respected(n):
    result = generate(tiny_lm(), [3], GenerationConfig(max_new_tokens=n, seed=0))
    assert len(result.new_ids) == len(result.steps) == n
    assert result.stopped_by == "max_new_tokens"


@pytest.mark.parametrize("config", [GenerationConfig(seed=0), GenerationConfig(seed=0, top_k=3),
                                    GenerationConfig(seed=0, top_p=0.5, temperature=2.0)])
def test_step_candidates_are_sorted_probabilities(config):
    result = generate(tiny_lm(), [1, 2], GenerationConfig(**{**config.__dict__, "max_new_tokens": 6}))
    for step in result.steps:
        for candidates in (step.candidates, step.model_candidates):
            probabilities = [p for _, p in candidates]
            assert 0 < len(candidates) <= config.n_candidates
            assert probabilities == sorted(probabilities, reverse=True)
            assert sum(probabilities) <= 1.0 + 1e-6
            assert all(0 < p <= 1 for p in probabilities)
        assert step.token_id in [t for t, _ in step.candidates] or step.probability <= step.candidates[-1][1]
        if config.top_k:
            assert len(step.candidates) <= config.top_k


def test_generation_never_changes_the_model():
    # a cached model is shared by every user's thread: generate must not flip its mode or store state
    model = tiny_lm().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = GenerationConfig(max_new_tokens=6, temperature=0)
    first = generate(model, [1, 2], config).new_ids
    assert not model.training
    assert generate(model, [1, 2], config).new_ids == first
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    training = tiny_lm(dropout=0.5).train()
    generate(training, [1, 2], config)
    assert training.training


@pytest.mark.parametrize("values", [{"temperature": -0.1}, {"top_k": -1}, {"top_p": 0.0}, {"top_p": 1.5},
                                    {"max_new_tokens": -1}])
def test_invalid_configs_raise(values):
    with pytest.raises(ValueError):
        GenerationConfig(**values)


def test_empty_prompt_raises():
    with pytest.raises(ValueError, match="prompt"):
        generate(tiny_lm(), [], GenerationConfig())


def test_a_classifier_is_not_a_language_model():
    torch.manual_seed(0)
    classifier = build_model(ModelConfig(kind="classifier", vocab_size=VOCAB, d_model=16, n_heads=2,
                                         n_layers=1, d_ff=32, max_len=MAX_LEN))
    with pytest.raises(ValueError, match="language model"):
        generate(classifier, [1, 2], GenerationConfig(max_new_tokens=2))


def test_a_forced_branch_shares_its_prefix_and_takes_the_forced_token():
    model = tiny_lm()
    config = GenerationConfig(max_new_tokens=7, temperature=1.0, seed=3)
    original = generate(model, [1, 2, 3], config)
    other = next(i for i in range(VOCAB) if i != original.new_ids[3])
    branch = generate(model, [1, 2, 3], GenerationConfig(max_new_tokens=7, temperature=1.0, seed=3,
                                                         forced={3: other}))
    assert branch.new_ids[:3] == original.new_ids[:3]
    assert branch.new_ids[3] == other and branch.steps[3].token_id == other
    assert 0.0 <= branch.steps[3].probability <= 1.0
    # forcing the token that was drawn anyway changes nothing (same seed stream)
    same = generate(model, [1, 2, 3], GenerationConfig(max_new_tokens=7, temperature=1.0, seed=3,
                                                       forced={3: original.new_ids[3]}))
    assert same.new_ids == original.new_ids


@pytest.mark.parametrize("forced", [{-1: 2}, {2: -5}, [(1, 2)], {1.5: 2}])
def test_forced_choices_are_checked(forced):
    with pytest.raises(ValueError, match="forced"):
        GenerationConfig(forced=forced)


def test_each_step_records_the_models_own_probability_and_entropy():
    model = tiny_lm()
    result = generate(model, [1, 2], GenerationConfig(max_new_tokens=3, temperature=0.7, top_k=3, seed=0))
    ids = [1, 2]
    for step in result.steps:
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([ids])).logits[0, -1], -1)
        assert step.model_probability == pytest.approx(float(probs[step.token_id]), rel=1e-5)
        assert step.entropy == pytest.approx(float(-(probs * probs.log()).sum()), rel=1e-5)
        ids.append(step.token_id)
