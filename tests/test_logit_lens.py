"""Logit lens and surprisal: the last row is the model's own distribution; totals equal `evaluate_lm`."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import attnviz
from attnviz.analysis.logit_lens import logit_lens
from attnviz.analysis.surprisal import surprisal
from attnviz.bundles import prepare
from attnviz.errors import InputError
from attnviz.training.evaluate import evaluate_lm
from tiny_hf import tiny_gpt2, tiny_gpt2_folder, tiny_llama, tiny_tagger  # noqa: F401  (fixtures)

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"


@pytest.fixture(scope="module")
def lm():
    return attnviz.load("lm")


def _check_last_row(bundle, text: str) -> None:
    lens = logit_lens(bundle, text, top_k=3)
    own = torch.log_softmax(bundle.logits(text).float(), -1)  # (T, vocab)
    rows, positions = len(lens.layers), len(lens.tokens)
    assert lens.layers[0] == "embeddings" and rows == bundle.n_layers + 1
    assert lens.top_probs.shape == lens.top_ids.shape == lens.top_tokens.shape == (rows, positions, 3)
    assert lens.final_prob.shape == lens.final_rank.shape == (rows, positions)
    best = own.topk(3, -1)
    np.testing.assert_array_equal(lens.top_ids[-1], best.indices.numpy())
    assert np.abs(np.log(lens.top_probs[-1]) - best.values.numpy()).max() <= 1e-4
    assert np.abs(np.log(lens.final_prob[-1]) - own.max(-1).values.numpy()).max() <= 1e-4
    assert (lens.final_rank[-1] == 1).all()
    # an earlier row's rank agrees with its own top-k: rank 1 exactly where its top-1 is the prediction
    np.testing.assert_array_equal(lens.final_rank[0] == 1, lens.top_ids[0, :, 0] == lens.final_ids)
    assert ((lens.top_probs[:, :, :-1] >= lens.top_probs[:, :, 1:] - 1e-7)).all()


def test_last_row_is_our_lm(lm):
    _check_last_row(lm, TEXT)


def test_last_row_is_tiny_llama(tiny_llama):
    _check_last_row(tiny_llama, "the cat sat on the mat")


def test_last_row_is_tiny_gpt2(tiny_gpt2):
    _check_last_row(tiny_gpt2, "the cat sat on the mat")


@pytest.mark.skipif(not prepare.is_prepared(), reason="SmolLM2 is not prepared here")
def test_last_row_is_smollm2():
    _check_last_row(attnviz.load(str(prepare.prepared_folder())), "The capital of France is Paris.")


def test_an_encoder_says_not_available(tiny_tagger):
    with pytest.raises(InputError, match="not available"):
        logit_lens(tiny_tagger, "the cat")
    with pytest.raises(InputError, match="not available"):
        surprisal(tiny_tagger, "the cat")


def test_surprisal_total_equals_evaluate(lm):
    result = surprisal(lm, TEXT)
    assert math.isnan(result.nats[0]) and math.isnan(result.entropy[0])
    expected = evaluate_lm(lm.model, lm.tokenizer, TEXT)["loss"]
    assert result.nats_per_char == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(result.bits[1:], result.nats[1:] / math.log(2))
    # entropy is at most ln(vocab) and the alternatives are the distribution's top tokens
    assert (result.entropy[1:] <= math.log(lm.tokenizer.vocab_size) + 1e-6).all()
    top, prob = result.alternatives[1][0]
    assert prob >= result.alternatives[1][1][1]


def test_surprisal_by_hand_on_gpt2(tiny_gpt2):
    text = "the cat sat"
    result = surprisal(tiny_gpt2, text)
    ids = tiny_gpt2.encode(text).ids
    with torch.no_grad():
        logits = tiny_gpt2.model(torch.tensor([ids])).logits[0].float()
    by_hand = -torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), ids[1:]]
    np.testing.assert_allclose(result.nats[1:], by_hand.numpy(), rtol=1e-5)
    assert result.chars.sum() == len(text)
    assert result.nats_per_char == pytest.approx(float(by_hand.sum()) / (len(text) - result.chars[0]))


def test_a_forced_branch_of_a_huggingface_decoder(tiny_llama):
    from attnviz.nn.generate import GenerationConfig

    base = dict(max_new_tokens=5, temperature=1.0, seed=1)
    _, original = tiny_llama.generate("the cat", GenerationConfig(**base))
    other = next(i for i in range(5, 50) if i != original.new_ids[2])
    _, branch = tiny_llama.generate("the cat", GenerationConfig(**base, forced={2: other}))
    assert branch.new_ids[:2] == original.new_ids[:2] and branch.new_ids[2] == other


def test_long_text_scoring_matches_one_pass_and_counts_every_token_once(tiny_gpt2):
    from attnviz.analysis.surprisal import characters_since, long_text_nats_per_char

    text = "the cat sat on the mat"
    one_pass = surprisal(tiny_gpt2, text)
    long = long_text_nats_per_char(tiny_gpt2, text, window=64)
    assert long["nats_per_char"] == pytest.approx(one_pass.nats_per_char, rel=1e-5)
    windowed = long_text_nats_per_char(tiny_gpt2, text, window=4)  # many windows, each token scored once
    assert windowed["tokens"] == len(one_pass.tokens)
    assert windowed["scored"] == long["scored"] == len(one_pass.tokens) - 1
    assert list(characters_since([(0, 0), (0, 3), (4, 7), (7, 8)])) == [0, 3, 4, 1]
