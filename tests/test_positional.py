"""Positional encodings: the formula, its identities, and that the models really add it.

Seed fault 5: the encoding was never added in the classifier or the tagger (bags of words),
and it broke for an odd embedding size.
"""
from __future__ import annotations

import math

import pytest
import torch

from attnviz.nn.models import ModelConfig, build_model
from attnviz.nn.positional import LearnedPositions, SinusoidalPositions, sinusoidal_encoding, wavelengths


def formula(seq_len: int, d_model: int) -> torch.Tensor:
    """The paper's definition, written element by element."""
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    for p in range(seq_len):
        for dim in range(d_model):
            i2 = dim - dim % 2  # 2i
            angle = p / 10000 ** (i2 / d_model)
            pe[p, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return pe.float()


@pytest.mark.parametrize("d_model", [8, 7, 1, 2, 33])
def test_values_match_the_formula_for_even_and_odd_sizes(d_model):
    pe = sinusoidal_encoding(20, d_model)
    assert pe.shape == (20, d_model)
    assert pe.dtype == torch.float32
    assert torch.allclose(pe, formula(20, d_model), atol=1e-6)


def test_odd_size_ends_in_a_sine():
    pe = sinusoidal_encoding(10, 5)
    angle = torch.arange(10, dtype=torch.float64) / 10000 ** (4 / 5)
    assert torch.allclose(pe[:, 4], torch.sin(angle).float(), atol=1e-6)


def test_position_zero_is_alternating_zero_one():
    for d_model in (6, 7):
        expected = torch.tensor([float(dim % 2) for dim in range(d_model)])
        assert torch.equal(sinusoidal_encoding(3, d_model)[0], expected)


def test_every_row_has_norm_sqrt_half_d():
    pe = sinusoidal_encoding(50, 16)  # sin^2 + cos^2 = 1 per pair
    assert torch.allclose(pe.norm(dim=1), torch.full((50,), math.sqrt(8)), atol=1e-5)


def test_dot_products_depend_only_on_the_offset():
    """PE[p] . PE[q] = sum_i cos((p - q) w_i): the similarity matrix is Toeplitz."""
    pe = sinusoidal_encoding(40, 32).double()
    similarity = pe @ pe.T  # (L, L)
    # every row is the previous one shifted right by one
    assert torch.allclose(similarity[1:, 1:], similarity[:-1, :-1], atol=1e-4)
    assert torch.allclose(similarity, similarity.T, atol=1e-6)
    # and it falls off from the diagonal: the nearest neighbour is more alike than a far one
    assert similarity[10, 11] > similarity[10, 30]


def test_wavelengths_match_the_encoding():
    d_model = 16
    lengths = wavelengths(d_model)
    assert lengths.shape == (d_model,)
    assert lengths[0] == pytest.approx(2 * math.pi)
    assert lengths[1] == pytest.approx(2 * math.pi)
    assert lengths[-1] == pytest.approx(2 * math.pi * 10000 ** (14 / 16), rel=1e-5)
    assert (lengths[2::2] > lengths[:-2:2]).all()  # grow geometrically from 2 pi to 10000 * 2 pi
    positions = torch.arange(30, dtype=torch.float64)[:, None]
    pe = sinusoidal_encoding(30, d_model).double()
    assert torch.allclose(pe[:, 0::2], torch.sin(2 * math.pi * positions / lengths[0::2].double()), atol=1e-5)


def test_modules_add_the_table_and_refuse_long_sequences():
    x = torch.randn(2, 6, 8)
    sinusoid = SinusoidalPositions(10, 8)
    assert torch.allclose(sinusoid(x), x + sinusoidal_encoding(6, 8))
    assert "table" not in sinusoid.state_dict()  # fixed: never saved
    learned = LearnedPositions(10, 8)
    assert torch.allclose(learned(x), x + learned.table.weight[:6])
    for module in (sinusoid, learned):
        module(torch.randn(1, 10, 8))  # exactly max_len is fine
        with pytest.raises(ValueError, match="longer"):
            module(torch.randn(1, 11, 8))


def tiny(kind: str, positional: str) -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(kind=kind, vocab_size=20, n_labels=3, d_model=16, n_heads=2, n_layers=1,
                         d_ff=32, max_len=12, dropout=0.0, positional=positional)
    return build_model(config).eval()


def switch_off_positions(model: torch.nn.Module) -> None:
    positions = model.encoder.positions
    with torch.no_grad():
        if isinstance(positions, SinusoidalPositions):
            positions.table.zero_()
        else:
            positions.table.weight.zero_()


IDS = torch.tensor([[4, 9, 13, 5, 7, 11]])
PERMUTATION = torch.tensor([3, 0, 5, 1, 4, 2])


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_classifier_is_not_a_bag_of_words(positional):
    model = tiny("classifier", positional)
    with torch.no_grad():
        original = model(IDS).logits
        shuffled = model(IDS[:, PERMUTATION]).logits
        assert not torch.allclose(original, shuffled, atol=1e-5)
        switch_off_positions(model)  # the check has teeth: without positions order is invisible
        assert torch.allclose(model(IDS).logits, model(IDS[:, PERMUTATION]).logits, atol=1e-5)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_tagger_sees_word_order(positional):
    model = tiny("tagger", positional)
    with torch.no_grad():
        original = model(IDS).logits[:, PERMUTATION]  # (1, T, tags), reordered like the input
        shuffled = model(IDS[:, PERMUTATION]).logits
        assert not torch.allclose(original, shuffled, atol=1e-5)
        switch_off_positions(model)
        assert torch.allclose(model(IDS).logits[:, PERMUTATION], model(IDS[:, PERMUTATION]).logits, atol=1e-5)


def test_same_token_at_two_positions_is_tagged_differently():
    model = tiny("tagger", "sinusoidal")
    with torch.no_grad():
        logits = model(torch.tensor([[6, 6, 6, 6]])).logits[0]
    assert not torch.allclose(logits[0], logits[3], atol=1e-5)


@pytest.mark.parametrize("kind", ["classifier", "tagger", "causal_lm"])
@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_model_refuses_sequences_longer_than_max_len(kind, positional):
    model = tiny(kind, positional)
    model(torch.zeros(1, 12, dtype=torch.long))
    with pytest.raises(ValueError, match="longer"):
        model(torch.zeros(1, 13, dtype=torch.long))
