"""Run a corpus through a bundle in padded batches of similar lengths, with a progress callback."""
from __future__ import annotations

from typing import Callable, Iterator

from attnviz.bundles.batched import BatchOutput
from attnviz.errors import InputError

Progress = Callable[[int, int], None]  # (texts done, texts in all)
CELL_BUDGET = 1 << 19  # at most this many (text x query x key) cells per batch, per head
TOKEN_BUDGET = 1 << 13  # at most this many (text x token) positions per batch (padding included)


def corpus_batches(bundle, texts: list[str], *, attentions: bool = True, hidden: bool = False,
                   batch_size: int = 32, progress: Progress | None = None, max_positions: int = TOKEN_BUDGET
                   ) -> Iterator[tuple[list[int], BatchOutput]]:
    """Yield (indices into texts, BatchOutput) for every batch; texts of similar length share a batch.

    Empty texts are refused with InputError. A batch holds at most batch_size texts and, when
    attentions are asked for, at most CELL_BUDGET query-key cells per head, and always at most
    TOKEN_BUDGET (or max_positions, if smaller) padded positions (long texts go in small batches, so
    memory stays bounded).
    """
    texts = [str(t) for t in texts]
    if not texts:
        raise InputError("No sentences were given.")
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:
        raise InputError(f"Sentence {blank[0] + 1} is empty.")
    lengths = []  # tokens (tokenising twice is cheap next to the model)
    for number, text in enumerate(texts, 1):
        try:
            lengths.append(len(bundle.encode(text).ids))
        except InputError as error:
            raise InputError(f"Sentence {number}: {error}") from None
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    done, start = 0, 0
    while start < len(order):
        size = 1
        while size < batch_size and start + size < len(order):
            longest = lengths[order[start + size]]
            if attentions and (size + 1) * longest * longest > CELL_BUDGET:
                break
            if (size + 1) * longest > max(1, min(max_positions, TOKEN_BUDGET)):
                break
            size += 1
        chunk = order[start:start + size]
        yield chunk, bundle.forward_batch([texts[i] for i in chunk], attentions=attentions, hidden=hidden)
        start += size
        done += len(chunk)
        if progress is not None:
            progress(done, len(texts))


FUNCTION_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this "
    "that these those he she they we you i me him her them us my your his their our not no so than then "
    "there here do does did has have had will would can could shall should may might must".split())


def default_query_token(tokens: list[str], special: list[bool], skip_first: bool = False) -> int:
    """The position a corpus search should start from: the first content word (letters, at least three,
    not a function word, not a word piece), else the first letter-bearing token, else the first allowed one.
    skip_first: position 0 is not allowed (decoders; see attnviz.analysis.context_index)."""
    allowed = [i for i, s in enumerate(special) if not s and not (skip_first and i == 0)]
    if not allowed:
        return 1 if skip_first and len(tokens) > 1 else 0

    def word(i: int) -> str:
        return tokens[i].lstrip("Ġ▁").strip()

    for i in allowed:
        piece = word(i)
        if not tokens[i].startswith("##") and len(piece) >= 3 and piece.isalpha() \
                and piece.lower() not in FUNCTION_WORDS:
            return i
    return next((i for i in allowed if any(c.isalpha() for c in word(i))), allowed[0])
