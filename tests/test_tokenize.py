"""Tokenizers: PTB-style normalisation, unknown words, odd scripts, round trips, word_ids."""
from __future__ import annotations

import json

import pytest

from attnviz.text.tokenize import (Encoded, TextTokenizer, build_char_tokenizer, build_word_tokenizer,
                              build_wordpiece_tokenizer, ptb_normalize, wordpiece_from_vocab)

STRANGE_TEXTS = ["I love it 😀🔥👍🏽", "这部电影很好看", "الفيلم رائع جدا", "Ünïcödé façade — naïve",
                 "\u200b\u200d zero width", "tab\tand\nnewline", "", "   ", "a" * 2000]


@pytest.mark.parametrize("text, expected", [
    ("I didn't like it!", "i did n't like it !"),
    ("I can't stand it", "i ca n't stand it"),
    ("You won't regret it.", "you wo n't regret it ."),
    ("It's the director's best", "it 's the director 's best"),
    ("they're, we've, I'll, I'd, I'm", "they 're , we 've , i 'll , i 'd , i 'm"),
    ("a (very) good [film] {ok}", "a -lrb- very -rrb- good -lsb- film -rsb- -lcb- ok -rcb-"),
    ('He said "wow" twice', "he said `` wow '' twice"),
    ('"Brilliant" fun', "`` brilliant '' fun"),
    ("\u201cSmart\u201d and it\u2019s fun", "`` smart '' and it 's fun"),
    ("Wait... what?", "wait ... what ?"),
    ("Good -- really good; fine: yes", "good -- really good ; fine : yes"),
    ("Made in the U.S. by E.T. fans.", "made in the u.s. by e.t. fans ."),
    ("  Too   many    spaces  ", "too many spaces"),
])
def test_ptb_normalize(text, expected):
    assert ptb_normalize(text) == expected


def test_ptb_normalize_is_idempotent():
    for text in ("I didn't like (it)!", 'He said "no".', "It's fine... really"):
        once = ptb_normalize(text)
        assert ptb_normalize(once) == once


@pytest.fixture(scope="module")
def word_tokenizer() -> TextTokenizer:
    return build_word_tokenizer(["a good movie", "a bad film", "i did n't like it !", "-lrb- it -rrb-"])


@pytest.fixture(scope="module")
def wordpiece() -> TextTokenizer:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "play": 5, "##ing": 6, "##ed": 7,
             "game": 8, "!": 9, "n": 10, "'": 11, "t": 12, "did": 13}
    return wordpiece_from_vocab(vocab)


@pytest.fixture(scope="module")
def trained_wordpiece() -> TextTokenizer:
    texts = ["the movie was good", "the film was bad", "playing games is fun", "a played game"] * 10
    return build_wordpiece_tokenizer(texts, vocab_size=120)


def test_unknown_words_become_unk(word_tokenizer):
    encoded = word_tokenizer.encode("A good zyzzyva movie")
    assert encoded.tokens == ["a", "good", "[UNK]", "movie"]
    assert encoded.ids[2] == word_tokenizer.unk_id == 1
    assert word_tokenizer.pad_id == 0


def test_word_tokenizer_applies_ptb_normalisation(word_tokenizer):
    assert word_tokenizer.encode("I didn't like (it)!").tokens == ["i", "did", "n't", "like", "-lrb-", "it",
                                                                   "-rrb-", "!"]


@pytest.mark.parametrize("text", STRANGE_TEXTS)
def test_strange_text_never_crashes(text, word_tokenizer, wordpiece, trained_wordpiece):
    char = build_char_tokenizer("abc ")
    for tokenizer in (word_tokenizer, wordpiece, trained_wordpiece, char):
        encoded = tokenizer.encode(text)
        assert len(encoded.ids) == len(encoded.tokens) == len(encoded.word_ids)
        assert all(0 <= i < tokenizer.vocab_size for i in encoded.ids)
        tokenizer.decode(encoded.ids)
        cut = tokenizer.encode(text, max_len=4)
        assert len(cut.ids) <= 4


def test_unknown_scripts_map_to_unk(word_tokenizer, trained_wordpiece):
    assert set(word_tokenizer.encode("这部电影 الفيلم 😀").ids) == {word_tokenizer.unk_id}
    pieces = trained_wordpiece.encode("😀")
    assert pieces.tokens == ["[CLS]", "[UNK]", "[SEP]"]


def test_char_tokenizer_round_trip():
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    tokenizer = build_char_tokenizer(text)
    encoded = tokenizer.encode(text)
    assert len(encoded.ids) == len(text)
    assert tokenizer.decode(encoded.ids) == text
    assert tokenizer.vocab_size == len(set(text)) + 2  # + <pad>, <unk>
    assert tokenizer.pad_id == 0
    unknown = tokenizer.encode("F~")
    assert unknown.ids[1] == tokenizer.unk_id == 1


def test_truncation_is_reported(word_tokenizer):
    encoded = word_tokenizer.encode("a good movie a bad film", max_len=3)
    assert encoded.truncated and encoded.tokens == ["a", "good", "movie"]
    assert not word_tokenizer.encode("a good movie", max_len=3).truncated


def test_wordpiece_word_ids(wordpiece):
    encoded = wordpiece.encode("The playing game played!")
    assert encoded.tokens == ["[CLS]", "the", "play", "##ing", "game", "play", "##ed", "!", "[SEP]"]
    assert encoded.word_ids == [None, 0, 1, 1, 2, 3, 3, 4, None]


def test_wordpiece_encode_words_maps_pieces_to_given_words(wordpiece):
    encoded = wordpiece.encode_words(["The", "playing", "xyz", "!"])
    assert encoded.tokens == ["[CLS]", "the", "play", "##ing", "[UNK]", "!", "[SEP]"]
    assert encoded.word_ids == [None, 0, 1, 1, 2, 3, None]


def test_encode_words_keeps_one_word_per_input_word_under_ptb(wordpiece):
    # ptb turns "didn't" into two words; encode_words must still map the pieces to input word 0
    encoded = wordpiece.encode_words(["didn't", "play"])
    assert max(w for w in encoded.word_ids if w is not None) == 1
    assert encoded.word_ids[-2] == 1


def test_trained_wordpiece_splits_unseen_words_into_known_pieces(trained_wordpiece):
    encoded = trained_wordpiece.encode("filmed")
    assert "[UNK]" not in encoded.tokens
    assert encoded.tokens[0] == "[CLS]" and encoded.tokens[-1] == "[SEP]"
    assert len(encoded.tokens) > 3  # split into pieces


@pytest.mark.parametrize("which", ["word", "wordpiece", "char"])
def test_save_load_round_trip(tmp_path, which, word_tokenizer, trained_wordpiece):
    tokenizer = {"word": word_tokenizer, "wordpiece": trained_wordpiece,
                 "char": build_char_tokenizer("hello, world")}[which]
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = TextTokenizer.load(path, tokenizer.kind, tokenizer.normalization)
    assert loaded.tokenizer.get_vocab() == tokenizer.tokenizer.get_vocab()
    assert (loaded.unk_id, loaded.pad_id, loaded.kind, loaded.normalization) == (
        tokenizer.unk_id, tokenizer.pad_id, tokenizer.kind, tokenizer.normalization)
    for text in ("hello, world", "I didn't like the playing (movie)!", "😀 中文"):
        assert loaded.encode(text) == tokenizer.encode(text)
    again = tmp_path / "again.json"
    loaded.save(again)
    assert json.loads(again.read_text()) == json.loads(path.read_text())


def test_unknown_kind_or_normalisation_is_refused(word_tokenizer):
    with pytest.raises(ValueError, match="kind"):
        TextTokenizer(word_tokenizer.tokenizer, "bpe")
    with pytest.raises(ValueError, match="normalization"):
        TextTokenizer(word_tokenizer.tokenizer, "word", "nfkc")


def test_encoded_is_plain_data():
    assert Encoded([1], ["a"], [0]) == Encoded([1], ["a"], [0], False)
