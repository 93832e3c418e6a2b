"""The three models: shapes, attentions on request, padding, causality, the config.

Seed fault 6: the classifier mean-pooled over padding tokens.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from attnviz.nn.models import MODEL_KINDS, ModelConfig, build_model, masked_mean

VOCAB, LABELS, D_MODEL, HEADS, LAYERS, MAX_LEN = 30, 5, 16, 4, 3, 16


def tiny_config(kind: str, **changes) -> ModelConfig:
    values = dict(kind=kind, vocab_size=VOCAB, n_labels=LABELS, d_model=D_MODEL, n_heads=HEADS,
                  n_layers=LAYERS, d_ff=32, max_len=MAX_LEN, dropout=0.1)
    values.update(changes)
    return ModelConfig(**values)


def tiny(kind: str, **changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(tiny_config(kind, **changes)).eval()


def expected_logits_shape(kind: str, batch: int, seq: int) -> tuple[int, ...]:
    return {"classifier": (batch, LABELS), "tagger": (batch, seq, LABELS),
            "causal_lm": (batch, seq, VOCAB)}[kind]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_shapes_and_attentions_only_on_request(kind):
    model = tiny(kind)
    ids = torch.randint(1, VOCAB, (2, 7))
    plain = model(ids)
    assert plain.logits.shape == expected_logits_shape(kind, 2, 7)
    assert plain.attentions is None
    traced = model(ids, need_weights=True)
    assert torch.allclose(traced.logits, plain.logits, atol=1e-5)
    assert isinstance(traced.attentions, list) and len(traced.attentions) == LAYERS
    for weights in traced.attentions:
        assert weights.shape == (2, HEADS, 7, 7)
        assert torch.allclose(weights.sum(-1), torch.ones(2, HEADS, 7), atol=1e-5)
    if kind == "causal_lm":
        above = torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1)
        assert all((w[..., above] == 0).all() for w in traced.attentions)


def pad_batch(sequences: list[list[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), pad_id)
    mask = torch.zeros(len(sequences), width, dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(sequence)
        mask[row, :len(sequence)] = True
    return ids, mask


SEQUENCES = [[5, 6, 7, 8, 9, 10, 11, 12, 13], [14, 15, 16], [17]]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_classifier_padded_batch_equals_each_sentence_alone(norm_first, need_weights):
    model = tiny("classifier", norm_first=norm_first)
    ids, mask = pad_batch(SEQUENCES)
    with torch.no_grad():
        batched = model(ids, mask, need_weights=need_weights).logits
        for row, sequence in enumerate(SEQUENCES):
            alone = model(torch.tensor([sequence]), need_weights=need_weights).logits[0]
            assert (batched[row] - alone).abs().max() < 1e-5
        # not a coincidence of the pad id: other tokens in the padding change nothing either
        noisy = ids.masked_fill(~mask, 29)
        assert (model(noisy, mask).logits - batched).abs().max() < 1e-5
        # and without the mask the padding would change the answer (the seed's mistake)
        assert (model(ids).logits[1] - batched[1]).abs().max() > 1e-4


def test_masked_mean_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert torch.allclose(masked_mean(hidden, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.allclose(masked_mean(hidden, None), hidden.mean(1))


@pytest.mark.parametrize("kind", ["tagger", "causal_lm"])
def test_token_outputs_of_real_tokens_ignore_padding(kind):
    model = tiny(kind)
    ids, mask = pad_batch(SEQUENCES)
    with torch.no_grad():
        batched = model(ids, mask).logits
        for row, sequence in enumerate(SEQUENCES):
            alone = model(torch.tensor([sequence])).logits[0]
            assert (batched[row, :len(sequence)] - alone).abs().max() < 1e-4


@pytest.mark.parametrize("need_weights", [False, True])
def test_causal_lm_later_tokens_do_not_change_earlier_logits(need_weights):
    model = tiny("causal_lm")
    ids = torch.tensor([[3, 4, 5, 6, 7, 8, 9, 10]])
    changed = ids.clone()
    changed[0, 5] = 20
    with torch.no_grad():
        a = model(ids, need_weights=need_weights).logits
        b = model(changed, need_weights=need_weights).logits
    assert (a[:, :5] - b[:, :5]).abs().max() < 1e-5
    assert (a[:, 5:] - b[:, 5:]).abs().max() > 1e-3


def test_encoders_do_see_later_tokens():
    model = tiny("tagger")
    ids = torch.tensor([[3, 4, 5, 6]])
    changed = torch.tensor([[3, 4, 5, 20]])
    with torch.no_grad():
        assert (model(ids).logits[:, 0] - model(changed).logits[:, 0]).abs().max() > 1e-4


def test_dropout_is_off_in_eval_mode():
    model = tiny("classifier", dropout=0.5)
    ids = torch.randint(1, VOCAB, (2, 6))
    assert torch.equal(model(ids).logits, model(ids).logits)
    model.train()
    assert not torch.equal(model(ids).logits, model(ids).logits)


def test_config_is_frozen():
    config = tiny_config("classifier")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.d_model = 32  # type: ignore[misc]
    assert hash(config) == hash(tiny_config("classifier"))


@pytest.mark.parametrize("changes, message", [
    ({"kind": "seq2seq"}, "kind"),
    ({"positional": "rotary"}, "positional"),
    ({"d_model": 18, "n_heads": 4}, "divisible"),
    ({"n_layers": 0}, "n_layers"),
    ({"vocab_size": 0}, "vocab_size"),
    ({"max_len": 0}, "max_len"),
])
def test_config_is_validated(changes, message):
    values = {**tiny_config("classifier").to_dict(), **changes}
    with pytest.raises(ValueError, match=message):
        ModelConfig(**values)


def test_config_dict_round_trip_and_unknown_keys():
    config = tiny_config("tagger", norm_first=True, positional="learned")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="embed_size"):
        ModelConfig.from_dict({**config.to_dict(), "embed_size": 16})


def test_build_model_gives_the_right_class_and_causal_flag():
    assert not tiny_config("classifier").causal
    assert tiny_config("causal_lm").causal
    for kind in MODEL_KINDS:
        assert tiny(kind).config.kind == kind
