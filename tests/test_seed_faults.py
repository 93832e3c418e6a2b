"""The seed article's faults, side by side with its own snippets.

Each test first shows the fault in a faithful transcription of the seed's code (so the check
is known to catch it), then shows attnviz does it right. Faults 2, 5 (bag of words), 6 and
the rest of 8 are pinned in test_attention, test_positional, test_models and test_generate;
7 and 9 belong to the trainer's tests, 10 to the plots'.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from attnviz.nn.attention import MultiHeadSelfAttention
from attnviz.bundles.bundle import Bundle
from attnviz.store.checkpoint import Checkpoint
from attnviz.errors import InputError
from attnviz.nn.generate import GenerationConfig, next_token_distribution
from attnviz.nn.layers import EncoderBlock
from attnviz.nn.models import ModelConfig, build_model
from attnviz.nn.positional import sinusoidal_encoding
from attnviz.text.tokenize import build_word_tokenizer


class SeedSelfAttention(nn.Module):
    """The seed's SelfAttention, verbatim apart from names: no mask, sqrt(embed_size)."""

    def __init__(self, embed_size: int, heads: int) -> None:
        super().__init__()
        self.embed_size, self.heads, self.head_dim = embed_size, heads, embed_size // heads
        self.queries = nn.Linear(embed_size, embed_size)
        self.keys = nn.Linear(embed_size, embed_size)
        self.values = nn.Linear(embed_size, embed_size)
        self.fc_out = nn.Linear(embed_size, embed_size)

    def forward(self, x):
        n, length, _ = x.shape
        q = self.queries(x).reshape(n, length, self.heads, self.head_dim)
        k = self.keys(x).reshape(n, length, self.heads, self.head_dim)
        v = self.values(x).reshape(n, length, self.heads, self.head_dim)
        energy = torch.einsum("nqhd,nkhd->nhqk", [q, k])
        attention = torch.softmax(energy / (self.embed_size ** (1 / 2)), dim=3)
        out = torch.einsum("nhql,nlhd->nqhd", [attention, v]).reshape(n, length, self.embed_size)
        return self.fc_out(out)


class SeedMultiHeadAttention(nn.Module):
    def __init__(self, embed_size: int, heads: int) -> None:
        super().__init__()
        self.attention = SeedSelfAttention(embed_size, heads)
        self.fc_out = nn.Linear(embed_size, embed_size)

    def forward(self, x):
        return self.fc_out(self.attention(x))


def seed_positional_encoding(seq_length: int, embed_size: int) -> torch.Tensor:
    pos_encoding = np.zeros((seq_length, embed_size))
    positions = np.arange(0, seq_length)[:, np.newaxis]
    div_term = np.exp(np.arange(0, embed_size, 2) * -(np.log(10000.0) / embed_size))
    pos_encoding[:, 0::2] = np.sin(positions * div_term)
    pos_encoding[:, 1::2] = np.cos(positions * div_term)
    return torch.FloatTensor(pos_encoding)


def seed_layer_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + eps)


def test_fault_1_masks_are_accepted_and_applied():
    seed = SeedSelfAttention(8, 2)
    x = torch.randn(1, 5, 8)
    with pytest.raises(TypeError):  # MaskedSelfAttention called it with a mask it cannot take
        seed(x, torch.ones(5, 5))
    later_changed = x.clone()
    later_changed[:, -1] += 5
    assert not torch.allclose(seed(x)[:, 0], seed(later_changed)[:, 0], atol=1e-4)  # sees the future

    ours = MultiHeadSelfAttention(8, 2).eval()
    assert torch.allclose(ours(x, causal=True).output[:, :-1], ours(later_changed, causal=True).output[:, :-1],
                          atol=1e-6)
    mask = torch.tensor([[True, True, True, False, False]])
    assert (ours(x, mask, need_weights=True).weights[..., 3:] == 0).all()


def test_fault_2_scale_uses_head_dim():
    d, heads = 16, 4
    seed = SeedSelfAttention(d, heads)
    ours = MultiHeadSelfAttention(d, heads).eval()
    with torch.no_grad():  # give the seed our projections
        for name, part in zip(("queries", "keys", "values"), ours.qkv.weight.split(d)):
            getattr(seed, name).weight.copy_(part)
        for name, part in zip(("queries", "keys", "values"), ours.qkv.bias.split(d)):
            getattr(seed, name).bias.copy_(part)
        seed.fc_out.load_state_dict(ours.out.state_dict())
    x = 3 * torch.randn(2, 6, d)
    assert (seed(x) - ours(x).output).abs().max() > 1e-3
    with torch.no_grad():  # the seed's arithmetic with sqrt(head_dim) instead agrees with ours
        n, length = x.shape[:2]
        q = seed.queries(x).reshape(n, length, heads, d // heads)
        k = seed.keys(x).reshape(n, length, heads, d // heads)
        v = seed.values(x).reshape(n, length, heads, d // heads)
        pattern = torch.softmax(torch.einsum("nqhd,nkhd->nhqk", [q, k]) / math.sqrt(d // heads), dim=3)
        expected = seed.fc_out(torch.einsum("nhql,nlhd->nqhd", [pattern, v]).reshape(n, length, d))
    assert (expected - ours(x).output).abs().max() < 1e-5


def test_fault_3_one_output_projection():
    d = 16
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(SeedMultiHeadAttention(d, 4)) == 5 * d * d + 5 * d
    assert count(MultiHeadSelfAttention(d, 4)) == 4 * d * d + 4 * d
    assert count(nn.MultiheadAttention(d, 4)) == count(MultiHeadSelfAttention(d, 4))


def test_fault_4_layer_norm_matches_torch():
    x = 2 * torch.randn(3, 8) + 1
    reference = nn.functional.layer_norm(x, (8,), eps=1e-5)
    assert (seed_layer_norm(x) - reference).abs().max() > 1e-2
    block = EncoderBlock(8, 2, 16)
    assert (block.attention_norm(x) - reference).abs().max() < 1e-6


def test_fault_5_odd_embedding_size():
    with pytest.raises(ValueError):  # numpy cannot broadcast 4 sines into 3 cosine columns
        seed_positional_encoding(10, 7)
    pe = sinusoidal_encoding(10, 7)
    assert pe.shape == (10, 7) and torch.isfinite(pe).all()
    assert torch.allclose(sinusoidal_encoding(10, 8), seed_positional_encoding(10, 8), atol=1e-6)  # even: same


class SeedClassifier(nn.Module):
    """The seed's SentimentClassifier: embedding -> encoder layer -> mean over all positions -> linear."""

    def __init__(self, vocab_size: int, d: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d)
        self.encoder_layer = EncoderBlock(d, 2, 4 * d)
        self.fc = nn.Linear(d, 2)

    def forward(self, ids):
        return self.fc(self.encoder_layer(self.embedding(ids))[0].mean(dim=1))


def test_fault_5_and_6_classifier_sees_order_and_ignores_padding():
    torch.manual_seed(0)
    ids = torch.tensor([[3, 4, 5, 6]])
    shuffled = ids[:, [3, 1, 0, 2]]
    padded = torch.tensor([[3, 4, 5, 6, 0, 0]])
    mask = padded != 0
    seed = SeedClassifier(20, 16).eval()
    with torch.no_grad():
        assert torch.allclose(seed(ids), seed(shuffled), atol=1e-5)  # a bag of words
        assert not torch.allclose(seed(ids), seed(padded), atol=1e-4)  # padding changes the answer
    config = ModelConfig(kind="classifier", vocab_size=20, d_model=16, n_heads=2, n_layers=1, d_ff=32,
                         max_len=16, dropout=0.0)
    ours = build_model(config).eval()
    with torch.no_grad():
        assert not torch.allclose(ours(ids).logits, ours(shuffled).logits, atol=1e-5)
        assert torch.allclose(ours(ids).logits, ours(padded, mask).logits, atol=1e-5)


def test_fault_8_temperature_zero_and_wrong_model_kind():
    logits = torch.tensor([1.0, 5.0, 2.0])
    with torch.no_grad():
        seed_probs = torch.softmax(logits / 0.0, dim=-1)  # the seed's arithmetic
    assert torch.isnan(seed_probs).any()
    assert next_token_distribution(logits, GenerationConfig(temperature=0)).tolist() == [0.0, 1.0, 0.0]

    tokenizer = build_word_tokenizer(["a good movie"])
    torch.manual_seed(0)
    config = ModelConfig(kind="classifier", vocab_size=tokenizer.vocab_size, d_model=8, n_heads=2,
                         n_layers=1, d_ff=16, max_len=8)
    classifier = build_model(config).eval()
    bundle = Bundle(Checkpoint(classifier, tokenizer, config, "sentiment", ["neg", "pos"]), "clf", "memory")
    with pytest.raises(InputError, match="language model"):
        bundle.generate("a good", GenerationConfig(max_new_tokens=3))
