"""MultiHeadSelfAttention: parity with torch.nn.MultiheadAttention and the properties of attention.

Seed faults pinned here: 1 (masks never applied), 2 (scale by sqrt(d_model) instead of
sqrt(head_dim)) and 3 (a second output projection).
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnviz.nn.attention import MultiHeadSelfAttention, allowed_keys

D_MODEL, N_HEADS, BATCH, SEQ = 16, 4, 3, 7
TOL = 1e-5


def make_pair(d_model: int = D_MODEL, n_heads: int = N_HEADS) -> tuple[MultiHeadSelfAttention, nn.MultiheadAttention]:
    """Our module and torch's, holding the same (random, non-trivial) parameters, in eval mode."""
    torch.manual_seed(1)
    reference = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    with torch.no_grad():  # torch initialises the biases to 0; make them count
        reference.in_proj_bias.normal_()
        reference.out_proj.bias.normal_()
    ours = MultiHeadSelfAttention(d_model, n_heads)
    ours.load_from_torch(reference)
    return ours.eval(), reference.eval()


def padding_mask() -> torch.Tensor:
    """(B, T) True = real token: full, 2 padded at the end, 5 padded at the end."""
    lengths = torch.tensor([SEQ, SEQ - 2, 2])
    return torch.arange(SEQ)[None, :] < lengths[:, None]


def causal_torch_mask(seq_len: int) -> torch.Tensor:
    """torch's convention: True = may NOT attend (the future)."""
    return torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)


def run_torch(reference: nn.MultiheadAttention, x: torch.Tensor, mask: torch.Tensor | None, causal: bool,
              need_weights: bool = False):
    key_padding_mask = None if mask is None else ~mask  # torch: True = ignore
    attn_mask = causal_torch_mask(x.shape[1]) if causal else None
    return reference(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                     need_weights=need_weights, average_attn_weights=False)


@pytest.mark.parametrize("use_mask", [False, True], ids=["no_padding", "padding"])
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
@pytest.mark.parametrize("need_weights", [False, True], ids=["fast", "weights"])
def test_parity_with_torch_multihead_attention(use_mask, causal, need_weights):
    ours, reference = make_pair()
    x = torch.randn(BATCH, SEQ, D_MODEL)
    mask = padding_mask() if use_mask else None
    with torch.no_grad():
        expected, _ = run_torch(reference, x, mask, causal)
        got = ours(x, attention_mask=mask, causal=causal, need_weights=need_weights).output
    real = mask if mask is not None else torch.ones(BATCH, SEQ, dtype=torch.bool)
    # torch's fast path may zero the rows of padded queries: compare real-token rows only
    assert (got[real] - expected[real]).abs().max() < TOL


@pytest.mark.parametrize("causal", [False, True])
def test_weights_equal_torch_per_head_weights(causal):
    ours, reference = make_pair()
    x = torch.randn(BATCH, SEQ, D_MODEL)
    mask = padding_mask()
    with torch.no_grad():
        _, expected = run_torch(reference, x, mask, causal, need_weights=True)  # (B, H, T, T)
        got = ours(x, attention_mask=mask, causal=causal, need_weights=True).weights
    assert got.shape == (BATCH, N_HEADS, SEQ, SEQ)
    batch_index, query_index = mask.nonzero(as_tuple=True)  # rows of real queries
    assert (got[batch_index, :, query_index] - expected[batch_index, :, query_index]).abs().max() < TOL


@pytest.mark.parametrize("causal", [False, True])
def test_fast_path_equals_weights_path(causal):
    ours, _ = make_pair()
    x = torch.randn(BATCH, SEQ, D_MODEL)
    mask = padding_mask()
    with torch.no_grad():
        for m in (None, mask):
            fast = ours(x, m, causal, need_weights=False)
            slow = ours(x, m, causal, need_weights=True)
            assert fast.weights is None
            assert slow.weights is not None
            real = m if m is not None else torch.ones(BATCH, SEQ, dtype=torch.bool)
            assert (fast.output[real] - slow.output[real]).abs().max() < TOL


def test_rows_sum_to_one_and_are_non_negative():
    ours, _ = make_pair()
    x = torch.randn(BATCH, SEQ, D_MODEL)
    for causal in (False, True):
        weights = ours(x, padding_mask(), causal, need_weights=True).weights
        assert (weights >= 0).all()
        assert torch.allclose(weights.sum(-1), torch.ones(BATCH, N_HEADS, SEQ), atol=1e-6)


def test_causal_weights_are_zero_above_the_diagonal():
    """Seed fault 1: MaskedSelfAttention's mask was never applied."""
    ours, _ = make_pair()
    x = torch.randn(BATCH, SEQ, D_MODEL)
    weights = ours(x, causal=True, need_weights=True).weights
    above = torch.triu(torch.ones(SEQ, SEQ, dtype=torch.bool), diagonal=1)
    assert (weights[..., above] == 0).all()
    assert (weights[..., ~above] > 0).all()  # and below it they are not


def test_causal_output_does_not_see_the_future():
    ours, _ = make_pair()
    x = torch.randn(1, SEQ, D_MODEL)
    changed = x.clone()
    changed[:, -1] += 10.0
    for need_weights in (False, True):
        a = ours(x, causal=True, need_weights=need_weights).output
        b = ours(changed, causal=True, need_weights=need_weights).output
        assert torch.allclose(a[:, :-1], b[:, :-1], atol=TOL)
        assert not torch.allclose(a[:, -1], b[:, -1], atol=1e-3)


def test_padded_keys_get_zero_weight():
    ours, _ = make_pair()
    x = torch.randn(BATCH, SEQ, D_MODEL)
    mask = padding_mask()
    weights = ours(x, mask, need_weights=True).weights  # (B, H, T, T)
    padded_keys = ~mask[:, None, None, :].expand_as(weights)
    assert (weights[padded_keys] == 0).all()
    assert (weights[~padded_keys] > 0).all()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_appending_padding_does_not_change_real_tokens(causal, need_weights):
    ours, _ = make_pair()
    real_len, pad = 5, 4
    x = torch.randn(1, real_len, D_MODEL)
    padded = torch.cat([x, 100 * torch.randn(1, pad, D_MODEL)], dim=1)  # garbage in the padding
    mask = torch.tensor([[True] * real_len + [False] * pad])
    alone = ours(x, causal=causal, need_weights=need_weights)
    with_padding = ours(padded, mask, causal=causal, need_weights=need_weights)
    assert (alone.output - with_padding.output[:, :real_len]).abs().max() < TOL
    if need_weights:
        assert torch.allclose(alone.weights, with_padding.weights[:, :, :real_len, :real_len], atol=1e-6)


def test_unmasked_padding_would_change_outputs():
    """The test above has teeth: without the mask the garbage padding changes everything."""
    ours, _ = make_pair()
    x = torch.randn(1, 5, D_MODEL)
    padded = torch.cat([x, 100 * torch.randn(1, 4, D_MODEL)], dim=1)
    assert (ours(x).output - ours(padded).output[:, :5]).abs().max() > 1e-3


def test_scale_is_sqrt_head_dim_not_sqrt_d_model():
    """Seed fault 2: the scores must be divided by sqrt(head_dim)."""
    d_model, n_heads = 16, 4
    head_dim = d_model // n_heads
    attention = MultiHeadSelfAttention(d_model, n_heads).eval()
    x = torch.randn(2, 5, d_model)
    q, k, v = attention.qkv(x).split(d_model, dim=-1)
    q, k, v = (t.view(2, 5, n_heads, head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim), dim=-1)
    wrong = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_model), dim=-1)
    got = attention(x, need_weights=True)
    assert torch.allclose(got.weights, expected, atol=1e-6)
    assert not torch.allclose(got.weights, wrong, atol=1e-3)
    context = (expected @ v).transpose(1, 2).reshape(2, 5, d_model)
    assert torch.allclose(got.output, attention.out(context), atol=1e-5)
    assert torch.allclose(attention(x).output, attention.out(context), atol=1e-5)  # fast path too


def test_exactly_one_output_projection():
    """Seed fault 3: one Q/K/V projection and one output projection: 4 d^2 + 4 d parameters."""
    d = 32
    attention = MultiHeadSelfAttention(d, 4)
    assert sum(p.numel() for p in attention.parameters()) == 4 * d * d + 4 * d
    linears = [m for m in attention.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(3 * d, d), (d, d)]


def test_dropout_only_in_training():
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(D_MODEL, N_HEADS, dropout=0.5)
    x = torch.randn(2, SEQ, D_MODEL)
    attention.eval()
    for need_weights in (False, True):
        first = attention(x, need_weights=need_weights).output
        second = attention(x, need_weights=need_weights).output
        assert torch.equal(first, second)
    attention.train()
    for need_weights in (False, True):
        first = attention(x, need_weights=need_weights).output
        second = attention(x, need_weights=need_weights).output
        assert not torch.allclose(first, second)
    # the returned pattern is the softmax before dropout: still a distribution
    weights = attention(x, need_weights=True).weights
    assert torch.allclose(weights.sum(-1), torch.ones_like(weights.sum(-1)), atol=1e-6)


def test_d_model_not_divisible_by_heads_raises():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(10, 4)


def test_allowed_keys_convention():
    """True = may attend; padding masks keys, causal masks the future."""
    mask = torch.tensor([[True, True, False]])
    assert allowed_keys(None, False, 3, torch.device("cpu")) is None
    allowed = allowed_keys(mask, True, 3, torch.device("cpu"))
    expected = torch.tensor([[True, False, False], [True, True, False], [True, True, False]])
    assert torch.equal(allowed[0, 0], expected)


def test_nothing_is_stored_on_the_module_during_forward():
    attention = MultiHeadSelfAttention(D_MODEL, N_HEADS).eval()
    before = set(vars(attention))
    buffers = dict(attention.named_buffers())
    attention(torch.randn(1, 4, D_MODEL), need_weights=True)
    assert set(vars(attention)) == before
    assert dict(attention.named_buffers()).keys() == buffers.keys()
