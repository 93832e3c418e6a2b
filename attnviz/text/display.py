"""Display transforms of an AttentionTrace (ours or a HuggingFace model's): pure functions, new traces.

- clean_token / display_tokens: tokens as a reader would write them (no "##", "Ġ", "▁").
- readable_token: the one display form of a token ("Ġthe" -> "␣the", "Ċ" -> "⏎").
- hide_special_tokens: drop [CLS], [SEP], <s>... and renormalise each row to sum to 1.
- hide_sinks: drop the first token and special tokens (attention sinks) and renormalise the rest.
- merge_word_pieces: one row and column per word. Attention RECEIVED by a word is the SUM over its
  pieces (columns are summed); attention GIVEN by a word is the MEAN over its pieces (rows are
  averaged), so every row still sums to 1.
Each transform that changes the numbers says how in the returned trace's `notes`.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

import numpy as np

from attnviz.errors import InputError
from attnviz.trace import AttentionTrace

WORDPIECE_PREFIX = "##"
BYTE_LEVEL_SPACE = "Ġ"
SENTENCEPIECE_SPACE = "▁"
SPACE_SYMBOL, NEWLINE_SYMBOL, TAB_SYMBOL = "␣", "⏎", "⇥"
UNKNOWN_TOKENS = frozenset({"[UNK]", "<unk>", "<UNK>", "<|unk|>"})
_SPECIAL_PATTERNS = (
    re.compile(r"^\[[A-Z][A-Z0-9_]*\]$"),                 # [CLS] [SEP] [PAD] [MASK] [BOS]
    re.compile(r"^<\|[^|<>\s]+\|>$"),                     # <|endoftext|> <|im_start|>
    re.compile(r"^</?[A-Za-z_][A-Za-z0-9_.-]*>$"),        # <s> </s> <pad> <mask> <eos> <start_of_turn>
)
_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")   # sentencepiece byte fallback, e.g. <0x0A>
MERGE_NOTE = ("Word pieces were merged into words: the attention a word receives is the sum over its "
              "pieces (columns summed); the attention a word gives is the mean over its pieces (rows "
              "averaged), so each row still sums to 1.")


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: printable character -> byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + shift)
            shift += 1
    return {chr(c): b for b, c in zip(printable, chars)}


BYTE_DECODER = _byte_decoder()


def is_special(token: str) -> bool:
    """[CLS], [SEP], [PAD], [MASK], <s>, </s>, <pad>, <|endoftext|>...; never the unknown token
    ([UNK], <unk>): an unknown word must stay visible."""
    if token in UNKNOWN_TOKENS:
        return False
    return any(pattern.match(token) for pattern in _SPECIAL_PATTERNS)


def _visible(text: str) -> str:
    """New lines and tabs as symbols; a text of spaces only as one visible space."""
    text = text.replace("\r\n", "\n").replace("\n", NEWLINE_SYMBOL).replace("\t", TAB_SYMBOL)
    return text if text.strip() else SPACE_SYMBOL


def clean_token(token: str) -> str:
    """A token as a reader would write it.

    "##ing" -> "ing" (WordPiece); "Ġworld" -> "world" and "Ã©" -> "é" (byte-level BPE, the leading
    space trimmed); "▁world" -> "world" (sentencepiece); "<0x0A>" -> "⏎". Special tokens are kept as
    they are; a token that is only white space becomes a visible "␣" ("⏎" for a newline).
    """
    token = str(token)
    if not token or is_special(token):
        return token
    if token.startswith(WORDPIECE_PREFIX) and len(token) > len(WORDPIECE_PREFIX):
        return token[len(WORDPIECE_PREFIX):]
    fallback = _BYTE_FALLBACK.match(token)
    if fallback:
        byte = int(fallback.group(1), 16)
        return _visible(chr(byte)) if byte < 128 else token
    if SENTENCEPIECE_SPACE in token:
        text = token.replace(SENTENCEPIECE_SPACE, " ")
        return _visible(text.lstrip(" ") or text)
    if any(ord(c) >= 128 for c in token) and all(c in BYTE_DECODER for c in token):
        try:
            text = bytes(BYTE_DECODER[c] for c in token).decode("utf-8")
        except UnicodeDecodeError:  # part of a character split over tokens, or not byte-level at all
            text = token.replace(BYTE_LEVEL_SPACE, " ")
        return _visible(text.lstrip(" ") or text)
    return token


def _spaces_visible(text: str) -> str:
    """Every space as ␣, new lines as ⏎, tabs as ⇥ (a byte-level piece keeps its leading space)."""
    text = text.replace("\r\n", "\n").replace("\n", NEWLINE_SYMBOL).replace("\t", TAB_SYMBOL)
    return text.replace(" ", SPACE_SYMBOL)


def is_byte_level(token: str) -> bool:
    """A byte-level BPE piece with a marker to decode ("Ġthe", "Ċ", "Ã©")."""
    return any(ord(c) >= 128 for c in token) and all(c in BYTE_DECODER for c in token)


def readable_token(token: object) -> str:
    """The display form of a token that every view uses (axes, lists, tables, contexts, downloads).

    Byte-level BPE (GPT-2, SmolLM2): the decoded piece with visible spaces, "Ġthe" -> "␣the",
    "Ċ" -> "⏎", "Ã©" -> "é"; sentencepiece byte fallback "<0x0A>" -> "⏎". Any other token keeps its
    form (WordPiece "##ing" stays, so word pieces remain visible) with spaces, new lines and tabs
    made visible (a character model's " " -> "␣"). Special tokens stay as they are.
    """
    token = str(token)
    if not token or is_special(token):
        return token
    if is_byte_level(token):
        try:
            return _spaces_visible(bytes(BYTE_DECODER[c] for c in token).decode("utf-8"))
        except UnicodeDecodeError:  # part of a character split over tokens, or not byte-level at all
            pass
    if _BYTE_FALLBACK.match(token):
        return clean_token(token)
    return _spaces_visible(token)


def display_tokens(trace: AttentionTrace, queries: bool = False) -> list[str]:
    """The trace's key tokens (query tokens when queries=True), cleaned for display."""
    return [clean_token(t) for t in (trace.query_tokens if queries else trace.tokens)]


def _special_test(specials: Iterable[str] | None):
    if specials is None:
        return is_special
    chosen = frozenset(specials)
    return lambda token: token in chosen


def _with(trace: AttentionTrace, weights: np.ndarray, tokens: list[str], query_tokens: list[str],
          notes: list[str]) -> AttentionTrace:
    return dataclasses.replace(trace, weights=weights.astype(np.float32), tokens=tokens,
                               query_tokens=query_tokens, notes=list(trace.notes) + notes)


def keep_positions(trace: AttentionTrace, keys: list[int], queries: list[int]) -> tuple[AttentionTrace, np.ndarray, int]:
    """Keep only the given key and query positions and divide each row by the mass left on its keys.

    A row left with no attention at all becomes uniform over the keys it may see (keys up to itself
    when the trace is causal). Returns the new trace (no notes added), the dropped mass per row
    (L, H, Q') and how many rows were made uniform."""
    if not keys or not queries:
        raise InputError("Every token would be hidden: there is nothing left to show.")
    weights = trace.weights.astype(np.float64)[:, :, queries][:, :, :, keys]  # (L, H, Q', K')
    mass = weights.sum(axis=-1, keepdims=True)
    empty = mass[..., 0] <= 1e-12
    weights = weights / np.where(mass > 1e-12, mass, 1.0)
    if empty.any():
        allowed = np.ones((len(queries), len(keys)))
        if trace.causal:
            allowed = (np.asarray(keys)[None, :] <= np.asarray(queries)[:, None]).astype(np.float64)
            allowed[allowed.sum(axis=1) == 0] = 1.0
        uniform = allowed / allowed.sum(axis=1, keepdims=True)
        weights = np.where(empty[..., None], uniform[None, None], weights)
    kept = _with(trace, weights, [trace.tokens[i] for i in keys], [trace.query_tokens[i] for i in queries], [])
    return kept, 1.0 - mass[..., 0], int(empty.sum())


def hide_special_tokens(trace: AttentionTrace, specials: Iterable[str] | None = None) -> AttentionTrace:
    """Drop the rows and columns of special tokens and renormalise each remaining row to sum to 1.

    specials: the exact tokens to hide (e.g. HFBundle.special_tokens); by default `is_special`.
    A row left with no attention at all becomes uniform over the keys it may see (keys up to itself
    when the trace is causal). Returns the trace unchanged when it has no special tokens.
    """
    special = _special_test(specials)
    keys = [i for i, t in enumerate(trace.tokens) if not special(t)]
    queries = [i for i, t in enumerate(trace.query_tokens) if not special(t)]
    if len(keys) == len(trace.tokens) and len(queries) == len(trace.query_tokens):
        return trace
    if not keys or not queries:
        raise InputError("Every token is a special token: there is nothing left to show.")
    kept, hidden_share, empty = keep_positions(trace, keys, queries)
    hidden = sorted({t for t in trace.tokens if special(t)} | {t for t in trace.query_tokens if special(t)})
    notes = [f"Special tokens ({', '.join(hidden)}) are hidden and each row was renormalised to sum to 1: "
             f"on average {hidden_share.mean():.0%} of a row's attention went to them (up to "
             f"{hidden_share.max():.0%}), and the rest is scaled up to make up for it."]
    if empty:
        notes.append(f"{empty} row(s) gave all their attention to special tokens; they are shown "
                     "as uniform over the remaining tokens.")
    return dataclasses.replace(kept, notes=list(trace.notes) + notes)


def hide_sinks(trace: AttentionTrace, specials: Iterable[str] | None = None) -> AttentionTrace:
    """Attention without its sinks (Xiao et al. 2023): the first token's column and special tokens'
    columns are dropped and each row is divided by the mass left, so the rest of the pattern shows.

    The first query row (it may see only the first token in a decoder) and special query rows are
    dropped too. The note says how much of a row went to the sinks."""
    special = _special_test(specials)
    if len(trace.tokens) < 2 or list(trace.query_tokens) != list(trace.tokens):
        raise InputError("Sinks can be hidden only from a self-attention trace of two tokens or more.")
    keep = [i for i, t in enumerate(trace.tokens) if i > 0 and not special(t)]
    kept, sink_share, empty = keep_positions(trace, keep, keep)
    notes = [f"Sinks hidden (the first token{' and special tokens' if len(keep) < len(trace.tokens) - 1 else ''}): "
             f"each row is divided by the attention left after the sinks; on average {sink_share.mean():.0%} "
             f"of a row went to them (up to {sink_share.max():.0%})."]
    if empty:
        notes.append(f"{empty} row(s) gave all their attention to the sinks; they are shown as uniform.")
    return dataclasses.replace(kept, notes=list(trace.notes) + notes)


def _is_space(token: str) -> bool:
    """A token that is only white space (a space, a new line, a tab), once cleaned."""
    if is_special(token):
        return False
    text = clean_token(token)
    for symbol in (SPACE_SYMBOL, NEWLINE_SYMBOL, TAB_SYMBOL):
        text = text.replace(symbol, "")
    return not text.strip()


def word_groups(tokens: Sequence[str]) -> list[list[int]]:
    """Token positions grouped into words, in order.

    A piece starting with "##" continues the word before it (WordPiece). When the tokens mark word
    starts with "Ġ" or "▁" (byte-level BPE, sentencepiece), a piece WITHOUT the marker continues the
    word before it. Special tokens and white-space tokens are always words of their own.
    """
    marks_starts = any(not is_special(t) and t.startswith((BYTE_LEVEL_SPACE, SENTENCEPIECE_SPACE)) for t in tokens)
    groups: list[list[int]] = []
    open_word = False  # whether the last group may take more pieces
    for i, token in enumerate(tokens):
        if is_special(token) or _is_space(token):
            groups.append([i])
            open_word = False
            continue
        continues = (token.startswith(WORDPIECE_PREFIX) and len(token) > len(WORDPIECE_PREFIX)) or \
            (marks_starts and not token.startswith((BYTE_LEVEL_SPACE, SENTENCEPIECE_SPACE)))
        if continues and open_word:
            groups[-1].append(i)
        else:
            groups.append([i])
        open_word = True
    return groups


def _groups_from_ids(word_ids: Sequence[int | None]) -> list[list[int]]:
    """Runs of equal word ids form a word; None (special tokens) is always a word of its own."""
    groups: list[list[int]] = []
    previous: object = object()
    for i, word_id in enumerate(word_ids):
        if word_id is not None and word_id == previous:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous = word_id
    return groups


def _join(tokens: Sequence[str], group: list[int]) -> str:
    pieces = [tokens[i] for i in group]
    return pieces[0] + "".join(p[len(WORDPIECE_PREFIX):] if p.startswith(WORDPIECE_PREFIX) and
                               len(p) > len(WORDPIECE_PREFIX) else p for p in pieces[1:])


def _membership(groups: list[list[int]], n: int) -> np.ndarray:
    matrix = np.zeros((len(groups), n))
    for word, group in enumerate(groups):
        matrix[word, group] = 1.0
    return matrix


def merge_word_pieces(trace: AttentionTrace, word_ids: Sequence[int | None] | None = None) -> AttentionTrace:
    """One row and one column per word instead of per piece.

    Rule: the attention RECEIVED by a word is the SUM over its pieces (its columns are added up);
    the attention GIVEN by a word is the MEAN over its pieces (its rows are averaged). Every row
    therefore still sums to 1, and a causal trace stays causal.

    Words come from `word_ids` when given (one per token, None for special tokens; equal neighbours
    form a word, e.g. HFBundle.encode(text).word_ids), else from the pieces' markers (`word_groups`).
    Special tokens stay words of their own. The merged tokens are the pieces joined ("un", "##able"
    -> "unable"; "Ġwor", "ld" -> "Ġworld"), so display_tokens still cleans them.
    Returns the trace unchanged when no word has more than one piece.
    """
    same = list(trace.query_tokens) == list(trace.tokens)
    if word_ids is not None:
        if not same:
            raise ValueError("word_ids can only be given for a self-attention trace (queries == keys)")
        if len(word_ids) != len(trace.tokens):
            raise ValueError(f"got {len(word_ids)} word ids for {len(trace.tokens)} tokens")
        key_groups = _groups_from_ids([None if is_special(t) else w for t, w in zip(trace.tokens, word_ids)])
    else:
        key_groups = word_groups(trace.tokens)
    query_groups = key_groups if same else word_groups(trace.query_tokens)
    if len(key_groups) == len(trace.tokens) and len(query_groups) == len(trace.query_tokens):
        return trace
    received = _membership(key_groups, len(trace.tokens))        # (K', K): sums columns
    given = _membership(query_groups, len(trace.query_tokens))   # (Q', Q)
    given /= given.sum(axis=1, keepdims=True)                    # averages rows
    weights = given @ trace.weights.astype(np.float64) @ received.T  # (L, H, Q', K')
    return _with(trace, weights, [_join(trace.tokens, g) for g in key_groups],
                 [_join(trace.query_tokens, g) for g in query_groups], [MERGE_NOTE])
