"""Line two models' attention up word by word, whatever their tokenizers: tokens are placed in the text by
their character offsets, words are spans of the text (bundle.WORD_PATTERN), and each trace becomes one
row and column per word the two share."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from attnviz.bundles.bundle import WORD_PATTERN
from attnviz.text.display import clean_token, is_special, keep_positions, merge_word_pieces
from attnviz.trace import AttentionTrace

Span = tuple[int, int]


def token_spans(bundle, text: str) -> list[Span]:
    """(start, end) in `text` of each token the bundle reads; (0, 0)-like empty spans for special tokens.

    HuggingFace tokenizers give offsets; for ours each token's text is searched for from where the last
    one ended (case-insensitive), which holds for character, word-piece and word tokenizers."""
    encoded = bundle.encode(text)
    offsets = getattr(encoded, "offsets", None)
    if offsets is not None:
        return [(int(a), int(b)) for a, b in offsets]
    lowered, cursor, spans = text.lower(), 0, []
    for token in encoded.tokens:
        piece = "" if is_special(token) else clean_token(token).lower().replace("␣", " ").replace("⏎", "\n")
        found = lowered.find(piece, cursor) if piece else -1
        if found < 0:
            spans.append((cursor, cursor))
            continue
        spans.append((found, found + len(piece)))
        cursor = found + len(piece)
    return spans


def word_ids(spans: list[Span], text: str) -> list[int | None]:
    """For each token span, the index of the first word (WORD_PATTERN match) it overlaps, else None
    (special tokens, white space)."""
    words = [m.span() for m in WORD_PATTERN.finditer(text)]
    found: list[int | None] = []
    for start, end in spans:
        found.append(next((i for i, (a, b) in enumerate(words) if end > start and start < b and end > a), None))
    return found


def words_of(text: str) -> list[str]:
    return WORD_PATTERN.findall(text)


@dataclass(frozen=True)
class WordAlignment:
    """Both traces with one row and column per shared word (labels: the words as written); words: those
    words; dropped_a/_b: tokens that belong to no shared word (special tokens, white space, words only
    one tokenizer covers), whose attention was taken out and each row renormalised."""

    trace_a: AttentionTrace
    trace_b: AttentionTrace
    words: list[str]
    dropped_a: list[str]
    dropped_b: list[str]


def _to_words(trace: AttentionTrace, ids: list[int | None], shared: list[int], words: list[str]) -> AttentionTrace:
    keep = [i for i, w in enumerate(ids) if w in set(shared)]
    kept, _, _ = keep_positions(trace, keep, keep)
    merged = merge_word_pieces(kept, [ids[i] for i in keep])
    labels = [words[w] for w in shared]
    note = ("Lined up by words (character offsets): tokens outside the shared words were dropped and each row "
            "renormalised; a word receives the sum over its tokens and gives the mean over them.")
    return dataclasses.replace(merged, tokens=labels, query_tokens=labels, notes=list(trace.notes) + [note])


def align_words(trace_a: AttentionTrace, spans_a: list[Span], trace_b: AttentionTrace, spans_b: list[Span],
                text: str) -> WordAlignment:
    """Both traces of `text` (self-attention, one span per token) as word-by-word traces over the words
    both tokenizations reach; ValueError when they share no word."""
    if len(spans_a) != len(trace_a.tokens) or len(spans_b) != len(trace_b.tokens):
        raise ValueError("every token needs its span")
    words = words_of(text)
    ids_a, ids_b = word_ids(spans_a, text), word_ids(spans_b, text)
    shared = sorted({w for w in ids_a if w is not None} & {w for w in ids_b if w is not None})
    if not shared:
        raise ValueError("the two tokenizations share no word of the text")
    keep = set(shared)
    return WordAlignment(_to_words(trace_a, ids_a, shared, words), _to_words(trace_b, ids_b, shared, words),
                         [words[w] for w in shared],
                         [t for t, w in zip(trace_a.tokens, ids_a) if w not in keep],
                         [t for t, w in zip(trace_b.tokens, ids_b) if w not in keep])
