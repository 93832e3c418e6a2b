"""Sentence samples for corpus-level analysis: the shared dev sets by name, or sentences typed in."""
from __future__ import annotations

from pathlib import Path

from attnviz.training.data import DataError, load_task
from attnviz.errors import InputError

CORPORA = {"SST-2 dev": "sentiment", "WikiANN dev": "ner", "Tiny Shakespeare (dev lines)": "lm"}
MAX_SENTENCES = 2000
MAX_SENTENCE_CHARS = 2000


def load_corpus(name: str, root: str | Path | None = None) -> list[str]:
    """The sentences of a shared dev set: SST-2 sentences, WikiANN sentences (words joined by spaces)
    or the non-empty lines of the Tiny Shakespeare dev tail. DataError when the data is missing."""
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    task = CORPORA[name]
    data = load_task(task, "dev", root)
    if task == "sentiment":
        return [text for text, _ in data]
    if task == "ner":
        return [" ".join(words) for words, _ in data]
    return [line.strip() for line in data.splitlines() if line.strip()]


def typed_sentences(text: str, limit: int = MAX_SENTENCES) -> list[str]:
    """One sentence per non-empty line, each cut to MAX_SENTENCE_CHARS; InputError if none or too many."""
    lines = [line.strip()[:MAX_SENTENCE_CHARS] for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("Type at least one sentence (one per line).")
    if len(lines) > limit:
        raise InputError(f"{len(lines):,} sentences is too many; the limit is {limit:,}.")
    return lines
