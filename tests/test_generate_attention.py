"""Attention recorded while generating: the row kept at step s is the last row of a fresh, full
forward over the window the model read at that step (our LM, and tiny GPT-2 and llama decoders,
whose steps run with a key/value cache until the context is cropped)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attnviz.nn.generate import GenerationConfig, generate
from test_generate import MAX_LEN, tiny_lm
from tiny_hf import tiny_gpt2, tiny_gpt2_folder, tiny_llama  # noqa: F401  (fixtures)

ATOL = 1e-3  # rows are kept as float16 (at most 2.5e-4 off for weights in [0, 1])


def check_rows(result, prompt_len: int, context_len: int, full_rows) -> None:
    """full_rows(window ids) -> (L, H, W): the last row of every head of a full forward of the window."""
    ids = result.ids
    assert len(result.steps) == len(result.new_ids) > context_len - prompt_len  # some steps ran cropped
    for s, step in enumerate(result.steps):
        end = prompt_len + s  # the context at step s: everything before the s-th new token
        assert step.window_start == max(0, end - context_len)
        window = ids[step.window_start:end]
        expected = full_rows(window)
        assert step.attention.shape == expected.shape == (*expected.shape[:2], len(window))
        np.testing.assert_allclose(step.attention.astype(np.float32), expected, atol=ATOL)
        np.testing.assert_allclose(step.attention.astype(np.float32).sum(-1), 1.0, atol=5e-3)
        assert (step.attention[..., -1] > 0).all()  # the newest token's row: an earlier row is 0 there


def test_our_lm_records_the_row_that_chose_each_token():
    model = tiny_lm()
    prompt = [1, 2, 3]
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=4, record_attention=True)
    result = generate(model, prompt, config)

    def full_rows(window: list[int]) -> np.ndarray:
        with torch.no_grad():
            output = model(torch.tensor([window]), need_weights=True)
        return np.stack([a[0, :, -1].numpy() for a in output.attentions])  # L x (1, H, T, T) -> (L, H, T)

    check_rows(result, len(prompt), MAX_LEN, full_rows)
    plain = generate(model, prompt, GenerationConfig(max_new_tokens=12, temperature=1.0, seed=4))
    assert plain.new_ids == result.new_ids  # recording changes nothing that is sampled


def test_recording_is_off_by_default_and_checked():
    result = generate(tiny_lm(), [1, 2], GenerationConfig(max_new_tokens=3, temperature=0))
    assert all(step.attention is None for step in result.steps)
    with pytest.raises(ValueError, match="record_attention"):
        GenerationConfig(record_attention="yes")


@pytest.mark.parametrize("name", ["tiny_gpt2", "tiny_llama"])
def test_hf_decoders_record_the_row_through_the_cache(name, request):
    bundle = request.getfixturevalue(name)
    config = GenerationConfig(max_new_tokens=40, temperature=1.0, seed=1, record_attention=True)
    _, result = bundle.generate("the cat sat on the mat", config)

    def full_rows(window: list[int]) -> np.ndarray:
        with torch.no_grad():
            output = bundle.model(input_ids=torch.tensor([window]), output_attentions=True, use_cache=False)
        return np.stack([a[0, :, -1].float().numpy() for a in output.attentions])  # (L, H, T)

    check_rows(result, len(result.prompt_ids), bundle.max_len, full_rows)
    assert result.steps[0].attention.shape[:2] == (bundle.n_layers, bundle.n_heads)
    _, plain = bundle.generate("the cat sat on the mat", GenerationConfig(max_new_tokens=40, temperature=1.0, seed=1))
    assert plain.new_ids == result.new_ids and plain.steps[0].attention is None
