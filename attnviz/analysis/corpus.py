"""Run a corpus through a bundle in padded batches of similar lengths, with a progress callback."""
from __future__ import annotations

from typing import Callable, Iterator

from attnviz.bundles.batched import BatchOutput
from attnviz.errors import InputError

Progress = Callable[[int, int], None]  # (texts done, texts in all)
CELL_BUDGET = 1 << 19  # at most this many (text x query x key) cells per batch, per head


def corpus_batches(bundle, texts: list[str], *, attentions: bool = True, hidden: bool = False,
                   batch_size: int = 32, progress: Progress | None = None
                   ) -> Iterator[tuple[list[int], BatchOutput]]:
    """Yield (indices into texts, BatchOutput) for every batch; texts of similar length share a batch.

    Empty texts are refused with InputError. A batch holds at most batch_size texts and, when
    attentions are asked for, at most CELL_BUDGET query-key cells per head (long texts go in small
    batches, so memory stays bounded).
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
            size += 1
        chunk = order[start:start + size]
        yield chunk, bundle.forward_batch([texts[i] for i in chunk], attentions=attentions, hidden=hidden)
        start += size
        done += len(chunk)
        if progress is not None:
            progress(done, len(texts))
