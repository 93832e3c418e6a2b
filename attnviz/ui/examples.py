"""Labelled example sentences of the Sentiment page: ones the shipped model gets right, and a set
showing where it fails (negation read word by word, sarcasm, an implicit comparison). The tests check
both against the model, so neither list can silently become wrong when the model is retrained."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    text: str
    label: str       # the right answer (a person's reading)
    kind: str = ""   # for a failure: what makes it hard


SENTIMENT_EXAMPLES = (
    Example("A gripping, beautifully acted film.", "positive"),
    Example("The plot was dull and the jokes fell flat.", "negative"),
    Example("Not bad at all.", "positive"),
    Example("I wanted to love it, but it was boring.", "negative"),
)

SENTIMENT_FAILURES = (
    Example("Not bad at all, I expected much worse.", "positive", "negation with a comparison"),
    Example("I expected much worse.", "positive", "an implicit comparison"),
    Example("Oh great, another three hours of my life I will never get back.", "negative", "sarcasm"),
    Example("Brilliant, if you enjoy watching paint dry.", "negative", "sarcasm"),
    Example("Yeah, a real thrill ride: I checked my watch twice a minute.", "negative", "sarcasm"),
)


def labelled(text: str) -> Example | None:
    """The labelled example with this text (either list), or None."""
    return next((e for e in SENTIMENT_EXAMPLES + SENTIMENT_FAILURES if e.text == text.strip()), None)
