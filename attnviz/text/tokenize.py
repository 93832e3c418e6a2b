"""Tokenizers built on the HuggingFace `tokenizers` library and saved as tokenizer.json.

Three kinds: "char" (character-level, for the language model), "word" (word-level) and
"wordpiece" (sub-words, so no word is ever unknown, only rare characters). Text typed by a
person can first be normalised the way the training data is written ("ptb": SST-2 style,
lower-cased, `didn't` -> `did n't`, brackets -> `-lrb-`).
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from attnviz.errors import refuse_surrogates

TOKENIZER_KINDS = ("char", "word", "wordpiece")
NORMALIZATIONS = ("none", "ptb")
PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"

_CONTRACTION_EXCEPTIONS = {"can't": "ca n't", "won't": "wo n't", "cannot": "can not", "ain't": "ai n't",
                           "shan't": "sha n't"}
_BRACKETS = {"(": " -lrb- ", ")": " -rrb- ", "[": " -lsb- ", "]": " -rsb- ", "{": " -lcb- ", "}": " -rcb- "}


def ptb_normalize(text: str) -> str:
    """Lower-case and split text the way SST-2 (Penn Treebank style) is written.

    "I didn't like (it)!" -> "i did n't like -lrb- it -rrb- !"
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    for whole, split in _CONTRACTION_EXCEPTIONS.items():
        text = re.sub(rf"\b{re.escape(whole)}\b", split, text)
    text = re.sub(r"(\w)n't\b", r"\1 n't", text)
    text = re.sub(r"(\w)('s|'re|'ve|'ll|'d|'m)\b", r"\1 \2", text)
    text = re.sub(r'^"', "`` ", text)
    text = re.sub(r'(\s)"', r"\1`` ", text)
    text = text.replace('"', " '' ")
    for bracket, word in _BRACKETS.items():
        text = text.replace(bracket, word)
    text = re.sub(r"\.\.\.+", " ... ", text)
    text = re.sub(r"--+", " -- ", text)
    text = re.sub(r"([,;:!?])", r" \1 ", text)
    text = re.sub(r"(^|\s)([^\s.]+)\.(?=\s|$)", r"\1\2 .", text)  # sentence-final period, not "..." or "u.s."
    return " ".join(text.split())


def letter_case(text: str) -> int:
    """0: no letters (or a special token), 1: lower, 2: Capitalised, 3: UPPER (2+ letters), 4: mIxed."""
    letters = [c for c in text if c.isalpha()]
    if not letters or not any(c.isupper() or c.islower() for c in letters):
        return 0
    if all(c.islower() for c in letters):
        return 1
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 2
    if all(c.isupper() for c in letters):
        return 3 if len(letters) > 1 else 2
    return 4


@dataclass
class Encoded:
    """ids and tokens as the model sees them; word_ids maps each token to its input word (or None);
    case_ids is the letter case of each token's characters in the original text (see letter_case)."""

    ids: list[int]
    tokens: list[str]
    word_ids: list[int | None]
    truncated: bool = False
    case_ids: list[int] | None = None


class TextTokenizer:
    """A `tokenizers.Tokenizer` plus the facts attnviz needs: kind, normalisation, pad and unknown ids."""

    def __init__(self, tokenizer: Tokenizer, kind: str, normalization: str = "none") -> None:
        if kind not in TOKENIZER_KINDS:
            raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {TOKENIZER_KINDS}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}; choose one of {NORMALIZATIONS}")
        self.tokenizer = tokenizer
        self.kind = kind
        self.normalization = normalization
        unk = "<unk>" if kind == "char" else UNK
        self.unk_id = tokenizer.token_to_id(unk)
        pad_id = tokenizer.token_to_id("<pad>" if kind == "char" else PAD)
        self.pad_id = 0 if pad_id is None else pad_id

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def normalize(self, text: str) -> str:
        return ptb_normalize(text) if self.normalization == "ptb" else text

    def encode(self, text: str, max_len: int | None = None) -> Encoded:
        """Text -> tokens (normalised first); cut to max_len tokens if longer (truncated=True)."""
        normalized = self.normalize(refuse_surrogates(text))
        encoding = self.tokenizer.encode(normalized)
        cases = [letter_case(normalized[a:b]) if w is not None else 0
                 for (a, b), w in zip(encoding.offsets, encoding.word_ids)]
        return _cut(Encoded(encoding.ids, encoding.tokens, list(encoding.word_ids), False, cases), max_len)

    def encode_words(self, words: list[str], max_len: int | None = None) -> Encoded:
        """Pre-split words (as in CoNLL files) -> tokens; word_ids says which word each came from."""
        words = [refuse_surrogates(w) for w in words]
        words = [self.normalize(w) or w for w in words] if self.normalization == "ptb" else list(words)
        encoding = self.tokenizer.encode(words, is_pretokenized=True)
        cases = [letter_case(words[w][a:b]) if w is not None else 0
                 for (a, b), w in zip(encoding.offsets, encoding.word_ids)]
        return _cut(Encoded(encoding.ids, encoding.tokens, list(encoding.word_ids), False, cases), max_len)

    def decode(self, ids: list[int]) -> str:
        """ids -> text. Characters are joined as they are; words and pieces with spaces."""
        if self.kind == "char":
            return "".join(self.tokenizer.id_to_token(i) or "" for i in ids)
        return self.tokenizer.decode(ids)

    def id_to_token(self, token_id: int) -> str:
        return self.tokenizer.id_to_token(token_id) or ""

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @classmethod
    def load(cls, path: str | Path, kind: str, normalization: str = "none") -> "TextTokenizer":
        return cls(Tokenizer.from_file(str(path)), kind, normalization)


def _cut(encoded: Encoded, max_len: int | None) -> Encoded:
    if max_len is None or len(encoded.ids) <= max_len:
        return encoded
    cases = encoded.case_ids[:max_len] if encoded.case_ids is not None else None
    return Encoded(encoded.ids[:max_len], encoded.tokens[:max_len], encoded.word_ids[:max_len], True, cases)


MAX_CHAR_SYMBOLS = 512  # characters a char tokenizer keeps (the most frequent); the rest become <unk>


def build_char_tokenizer(text: str, max_symbols: int = MAX_CHAR_SYMBOLS) -> TextTokenizer:
    """One token per character of `text`, the `max_symbols` most frequent ones (ties: code-point order);
    anything else becomes <unk>. The cap bounds the output layer (a text of 74,000 distinct characters
    would otherwise make a 74,000-way softmax at every position)."""
    counts = Counter(text)
    chars = sorted(sorted(counts), key=lambda c: -counts[c])[:max(1, max_symbols)]
    chars = sorted(chars)
    vocab = {"<pad>": 0, "<unk>": 1}
    vocab.update({c: i + 2 for i, c in enumerate(chars)})
    return TextTokenizer(Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>")), "char")


def _word_pipeline(tokenizer: Tokenizer, add_special: bool, split_punctuation: bool = True) -> Tokenizer:
    """Lower-case, strip accents, split on spaces (and punctuation, as BERT does); [CLS] ... [SEP]."""
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(),
                                                 normalizers.StripAccents()])
    tokenizer.pre_tokenizer = (pre_tokenizers.BertPreTokenizer() if split_punctuation
                               else pre_tokenizers.WhitespaceSplit())
    if add_special:
        cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{CLS} $A {SEP}", special_tokens=[(CLS, cls_id), (SEP, sep_id)])
    return tokenizer


def build_word_tokenizer(texts: list[str], min_count: int = 1, max_size: int = 30000,
                         normalization: str = "ptb") -> TextTokenizer:
    """Word-level vocabulary from training texts, already split into words by spaces (as SST-2 is)."""
    counts = Counter(word for text in texts for word in text.lower().split())
    words = [w for w, c in counts.most_common(max_size) if c >= min_count]
    vocab = {PAD: 0, UNK: 1, CLS: 2, SEP: 3}
    vocab.update({w: i + 4 for i, w in enumerate(w for w in words if w not in vocab)})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    pipeline = _word_pipeline(tokenizer, add_special=False, split_punctuation=False)
    return TextTokenizer(pipeline, "word", normalization)


def build_wordpiece_tokenizer(texts: list[str], vocab_size: int = 8000,
                              normalization: str = "ptb") -> TextTokenizer:
    """Train a WordPiece vocabulary on the training texts with the `tokenizers` trainer."""
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(),
                                                 normalizers.StripAccents()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK, CLS, SEP])
    tokenizer.train_from_iterator(texts, trainer)
    return TextTokenizer(_word_pipeline(tokenizer, add_special=True), "wordpiece", normalization)


def wordpiece_from_vocab(vocab: dict[str, int], normalization: str = "ptb") -> TextTokenizer:
    """A BERT-style WordPiece tokenizer over a given vocabulary (for example a pruned pretrained one)."""
    for special in (PAD, UNK, CLS, SEP):
        if special not in vocab:
            raise ValueError(f"vocabulary lacks the special token {special}")
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=100))
    return TextTokenizer(_word_pipeline(tokenizer, add_special=True), "wordpiece", normalization)
