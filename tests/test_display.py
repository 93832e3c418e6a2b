"""Display transforms on hand-made traces: hiding special tokens, merging word pieces, clean tokens."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz.text.display import (MERGE_NOTE, clean_token, display_tokens, hide_special_tokens, is_special,
                             merge_word_pieces, word_groups)
from attnviz.errors import InputError
from attnviz.trace import AttentionTrace


def random_trace(tokens, layers=2, heads=3, causal=False, seed=0, notes=None):
    rng = np.random.default_rng(seed)
    n = len(tokens)
    scores = rng.normal(size=(layers, heads, n, n))
    if causal:
        scores = np.where(np.tril(np.ones((n, n))) > 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return AttentionTrace(weights.astype(np.float32), tokens, causal=causal, model_name="hand-made",
                          notes=list(notes or []))


def rows_sum_to_one(trace):
    np.testing.assert_allclose(trace.weights.sum(axis=-1), 1.0, atol=1e-5)


BERT_TOKENS = ["[CLS]", "the", "un", "##believ", "##able", "cat", "[SEP]"]
GPT_TOKENS = ["<|endoftext|>", "The", "Ġunbel", "iev", "able", "Ġcat", "."]


# ----------------------------------------------------------------------------------- clean_token

@pytest.mark.parametrize("token, expected", [
    ("##ing", "ing"), ("play", "play"), ("Ġworld", "world"), ("ĠcafÃ©", "café"), ("Ã©", "é"),
    ("▁world", "world"), ("▁", "␣"), ("Ġ", "␣"), ("Ċ", "⏎"), ("<0x0A>", "⏎"),
    ("[CLS]", "[CLS]"), ("[SEP]", "[SEP]"), ("<s>", "<s>"), ("</s>", "</s>"), ("<|endoftext|>", "<|endoftext|>"),
    ("[UNK]", "[UNK]"), ("<unk>", "<unk>"), ("é", "é"), ("中", "中"), ("##", "##"), (",", ","),
])
def test_clean_token(token, expected):
    assert clean_token(token) == expected


@pytest.mark.parametrize("token", ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "<s>", "</s>", "<pad>", "<mask>",
                                   "<|endoftext|>", "<|im_start|>"])
def test_special_tokens(token):
    assert is_special(token)


@pytest.mark.parametrize("token", ["[UNK]", "<unk>", "the", "##ing", "Ġthe", "▁the", "<0x0A>", "[", "<", "[x]"])
def test_not_special(token):
    assert not is_special(token)


def test_display_tokens():
    trace = random_trace(GPT_TOKENS)
    assert display_tokens(trace) == ["<|endoftext|>", "The", "unbel", "iev", "able", "cat", "."]
    assert display_tokens(random_trace(BERT_TOKENS)) == ["[CLS]", "the", "un", "believ", "able", "cat", "[SEP]"]


# ---------------------------------------------------------------------------- hide_special_tokens

def test_hide_special_tokens_drops_and_renormalises():
    trace = random_trace(BERT_TOKENS, notes=["earlier note"])
    hidden = hide_special_tokens(trace)
    assert hidden.tokens == hidden.query_tokens == ["the", "un", "##believ", "##able", "cat"]
    assert hidden.weights.shape == (2, 3, 5, 5)
    rows_sum_to_one(hidden)
    kept = trace.weights[:, :, 1:6, 1:6].astype(np.float64)
    np.testing.assert_allclose(hidden.weights, kept / kept.sum(axis=-1, keepdims=True), atol=1e-6)
    assert hidden.notes[0] == "earlier note"
    assert any("renormalised" in note and "[CLS]" in note and "[SEP]" in note for note in hidden.notes)
    assert trace.weights.shape == (2, 3, 7, 7)  # the input is untouched


def test_hide_special_tokens_uniform_when_nothing_is_left():
    tokens = ["[CLS]", "a", "b", "c", "[SEP]"]
    weights = np.full((1, 1, 5, 5), 0.2, dtype=np.float32)
    weights[0, 0, 2] = [0.5, 0.0, 0.0, 0.0, 0.5]  # "b" looks only at the special tokens
    hidden = hide_special_tokens(AttentionTrace(weights, tokens))
    np.testing.assert_allclose(hidden.weights[0, 0, 1], [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
    np.testing.assert_allclose(hidden.weights[0, 0, 0], [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
    assert any("uniform" in note for note in hidden.notes)


def test_hide_special_tokens_stays_causal():
    trace = random_trace(["<s>", "a", "b", "c"], causal=True)
    weights = trace.weights.copy()
    weights[0, 0, 1] = [1.0, 0.0, 0.0, 0.0]  # "a" gives everything to <s>
    trace = AttentionTrace(weights, trace.tokens, causal=True)
    hidden = hide_special_tokens(trace)
    assert hidden.causal
    rows_sum_to_one(hidden)
    np.testing.assert_allclose(hidden.weights[0, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)  # uniform over what it sees
    assert np.all(np.triu(hidden.weights[0, 0], k=1) == 0)


def test_hide_special_tokens_explicit_set_and_noop():
    trace = random_trace(["<s>", "a", "b", "</s>"])
    only_end = hide_special_tokens(trace, specials={"</s>"})
    assert only_end.tokens == ["<s>", "a", "b"]
    plain = random_trace(["a", "[UNK]", "b"])
    assert hide_special_tokens(plain) is plain  # [UNK] is a word, never hidden
    with pytest.raises(InputError):
        hide_special_tokens(random_trace(["[CLS]", "[SEP]"]))


# ------------------------------------------------------------------------------ merge_word_pieces

def test_word_groups():
    assert word_groups(BERT_TOKENS) == [[0], [1], [2, 3, 4], [5], [6]]
    assert word_groups(GPT_TOKENS) == [[0], [1], [2, 3, 4], [5, 6]]
    assert word_groups(["<s>", "▁Hel", "lo", "▁world", "</s>"]) == [[0], [1, 2], [3], [4]]
    assert word_groups(["Hello", "Ċ", "world", "Ġagain"]) == [[0], [1], [2], [3]]  # a new line is its own word
    assert word_groups(["[CLS]", "##x", "a"]) == [[0], [1], [2]]  # a piece never continues a special token


def test_merge_rule_sum_received_mean_given():
    trace = random_trace(BERT_TOKENS, notes=["earlier note"])
    merged = merge_word_pieces(trace)
    assert merged.tokens == merged.query_tokens == ["[CLS]", "the", "unbelievable", "cat", "[SEP]"]
    assert display_tokens(merged) == ["[CLS]", "the", "unbelievable", "cat", "[SEP]"]
    rows_sum_to_one(merged)
    w = trace.weights.astype(np.float64)
    # received: a single-piece query row, the word's column = the sum of its pieces' columns
    np.testing.assert_allclose(merged.weights[:, :, 1, 2], w[:, :, 1, 2:5].sum(axis=-1), atol=1e-6)
    np.testing.assert_allclose(merged.weights[:, :, 0, 0], w[:, :, 0, 0], atol=1e-6)
    # given: the word's row = the mean of its pieces' rows (over single-piece key columns)
    np.testing.assert_allclose(merged.weights[:, :, 2, 3], w[:, :, 2:5, 5].mean(axis=-1), atol=1e-6)
    np.testing.assert_allclose(merged.weights[:, :, 2, 0], w[:, :, 2:5, 0].mean(axis=-1), atol=1e-6)
    # both at once: the word's self-attention = mean over its rows of the sum over its columns
    np.testing.assert_allclose(merged.weights[:, :, 2, 2], w[:, :, 2:5, 2:5].sum(axis=-1).mean(axis=-1), atol=1e-6)
    assert merged.notes[0] == "earlier note" and MERGE_NOTE in merged.notes
    assert "sum" in MERGE_NOTE and "mean" in MERGE_NOTE
    assert merge_word_pieces.__doc__ and "SUM" in merge_word_pieces.__doc__ and "MEAN" in merge_word_pieces.__doc__


def test_merge_byte_level_keeps_specials_and_causality():
    trace = random_trace(GPT_TOKENS, causal=True)
    merged = merge_word_pieces(trace)
    assert merged.tokens == ["<|endoftext|>", "The", "Ġunbelievable", "Ġcat."]
    assert display_tokens(merged) == ["<|endoftext|>", "The", "unbelievable", "cat."]
    assert merged.causal
    rows_sum_to_one(merged)
    assert np.all(np.triu(merged.weights, k=1) == 0)
    np.testing.assert_allclose(merged.weights[:, :, 3, 0], trace.weights[:, :, 5:7, 0].mean(axis=-1), atol=1e-6)


def test_merge_with_explicit_word_ids():
    tokens = ["[CLS]", "new", "york", "is", "big", "[SEP]"]
    trace = random_trace(tokens)
    merged = merge_word_pieces(trace, word_ids=[None, 0, 0, 1, 2, None])
    assert merged.tokens == ["[CLS]", "newyork", "is", "big", "[SEP]"]
    rows_sum_to_one(merged)
    np.testing.assert_allclose(merged.weights[:, :, 0, 1], trace.weights[:, :, 0, 1:3].sum(axis=-1), atol=1e-6)
    with pytest.raises(ValueError):
        merge_word_pieces(trace, word_ids=[None, 0, None])


def test_merge_then_hide_and_noop():
    trace = random_trace(BERT_TOKENS)
    both = hide_special_tokens(merge_word_pieces(trace))
    assert both.tokens == ["the", "unbelievable", "cat"]
    rows_sum_to_one(both)
    assert len(both.notes) == 2
    whole_words = random_trace(["[CLS]", "a", "b", "[SEP]"])
    assert merge_word_pieces(whole_words) is whole_words


def test_readable_token_decodes_byte_level_with_visible_spaces():
    from attnviz.text.display import readable_token

    assert [readable_token(t) for t in ["Ġthe", "Ċ", "ĊĊ", "ĠĠ", "Ã©", "the"]] == ["␣the", "⏎", "⏎⏎", "␣␣", "é", "the"]
    assert [readable_token(t) for t in [" ", "\n", "##ing", "[CLS]", "<0x0A>"]] == ["␣", "⏎", "##ing", "[CLS]", "⏎"]
