"""Feed-forward, LayerNorm and the encoder block: the formula and parity with torch.nn.

Seed fault 4: its LayerNorm used the unbiased std and put eps outside the square root.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from attnviz.nn.layers import EncoderBlock, FeedForward

D_MODEL, N_HEADS, D_FF = 8, 2, 32


def randomise(module: nn.Module) -> None:
    """Non-trivial values everywhere (LayerNorm weights 1 and biases 0 would hide mistakes)."""
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.5)


@pytest.mark.parametrize("eps", [1e-5, 1e-1])
def test_block_layer_norm_is_the_biased_variance_formula(eps):
    block = EncoderBlock(D_MODEL, N_HEADS, D_FF, layer_norm_eps=eps)
    randomise(block)
    x = 3 * torch.randn(4, 5, D_MODEL) + 1
    mean = x.mean(-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased: divide by d, not d - 1
    for norm in (block.attention_norm, block.feed_forward_norm):
        expected = norm.weight * (x - mean) / torch.sqrt(variance + eps) + norm.bias
        assert (norm(x) - expected).abs().max() < 1e-6 * max(1.0, expected.abs().max().item())
        # the seed's version is measurably different
        seed = norm.weight * (x - mean) / (x.std(-1, keepdim=True) + eps) + norm.bias
        assert (norm(x) - seed).abs().max() > 1e-3


def test_feed_forward_shapes_and_activation():
    ff = FeedForward(D_MODEL, D_FF)
    assert ff.up.weight.shape == (D_FF, D_MODEL)
    assert ff.down.weight.shape == (D_MODEL, D_FF)
    x = torch.randn(2, 3, D_MODEL)
    assert ff(x).shape == (2, 3, D_MODEL)
    assert torch.allclose(ff(x), ff.down(torch.relu(ff.up(x))), atol=1e-6)
    gelu = FeedForward(D_MODEL, D_FF, activation="gelu")
    assert torch.allclose(gelu(x), gelu.down(nn.functional.gelu(gelu.up(x))), atol=1e-6)
    with pytest.raises(ValueError, match="activation"):
        FeedForward(D_MODEL, D_FF, activation="swish-ish")


def test_post_norm_and_pre_norm_differ_and_both_run():
    post = EncoderBlock(D_MODEL, N_HEADS, D_FF, norm_first=False).eval()
    pre = EncoderBlock(D_MODEL, N_HEADS, D_FF, norm_first=True).eval()
    pre.load_state_dict(post.state_dict())  # same weights, different wiring
    x = torch.randn(2, 5, D_MODEL)
    out_post, weights_post = post(x, need_weights=True)
    out_pre, weights_pre = pre(x, need_weights=True)
    assert out_post.shape == out_pre.shape == x.shape
    assert weights_post.shape == weights_pre.shape == (2, N_HEADS, 5, 5)
    assert not torch.allclose(out_post, out_pre, atol=1e-3)
    # post-norm ends in a LayerNorm (weight 1, bias 0 at init): each token is standardised
    assert torch.allclose(out_post.mean(-1), torch.zeros(2, 5), atol=1e-5)
    assert not torch.allclose(out_pre.mean(-1), torch.zeros(2, 5), atol=1e-2)


def copy_from_torch(block: EncoderBlock, layer: nn.TransformerEncoderLayer) -> None:
    block.attention.load_from_torch(layer.self_attn)
    block.feed_forward.up.load_state_dict(layer.linear1.state_dict())
    block.feed_forward.down.load_state_dict(layer.linear2.state_dict())
    block.attention_norm.load_state_dict(layer.norm1.state_dict())
    block.feed_forward_norm.load_state_dict(layer.norm2.state_dict())


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_parity_with_torch(norm_first, activation):
    reference = nn.TransformerEncoderLayer(D_MODEL, N_HEADS, D_FF, dropout=0.0, activation=activation,
                                           batch_first=True, norm_first=norm_first)
    randomise(reference)
    reference.eval()
    block = EncoderBlock(D_MODEL, N_HEADS, D_FF, dropout=0.0, activation=activation,
                         norm_first=norm_first).eval()
    copy_from_torch(block, reference)
    x = torch.randn(3, 6, D_MODEL)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 4, 1])[:, None]  # True = real
    with torch.no_grad():
        expected = reference(x, src_key_padding_mask=~mask)  # torch: True = padding
        for need_weights in (False, True):
            got, _ = block(x, attention_mask=mask, need_weights=need_weights)
            assert (got[mask] - expected[mask]).abs().max() < 1e-5  # torch may zero padded rows
        got, _ = block(x)
        assert (got - reference(x)).abs().max() < 1e-5


def test_block_dropout_only_in_training():
    block = EncoderBlock(D_MODEL, N_HEADS, D_FF, dropout=0.5)
    x = torch.randn(2, 5, D_MODEL)
    block.eval()
    assert torch.equal(block(x)[0], block(x)[0])
    block.train()
    assert not torch.allclose(block(x)[0], block(x)[0])
