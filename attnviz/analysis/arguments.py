"""Checks for the analysis API's arguments: a wrong type or size ends in an InputError naming the
argument and the allowed range, never a bare TypeError/IndexError or a run out of memory."""
from __future__ import annotations

from collections.abc import Sequence

from attnviz.errors import InputError

MAX_STEPS = 1024      # integrated-gradient steps
MAX_TEXTS = 10_000    # texts in one call (head importance, faithfulness)
MAX_K = 10_000        # top-k style counts


def check_int(name: str, value, low: int, high: int) -> int:
    """value as an int in [low, high]; booleans and non-integers are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np
            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise InputError(f"{name} must be a whole number from {low} to {high}, got {value!r}") from None
    if not low <= value <= high:
        raise InputError(f"{name} must be from {low} to {high}, got {value}")
    return int(value)


def check_optional_int(name: str, value, low: int, high: int) -> int | None:
    return None if value is None else check_int(name, value, low, high)


def check_text(name: str, value) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be a text (str), got {type(value).__name__}")
    return value


def check_texts(name: str, value, high: int = MAX_TEXTS) -> list[str]:
    """One text or a list of texts -> a list of 1..high texts."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise InputError(f"{name} must be a text or a list of texts, got {type(value).__name__}")
    texts = [check_text(f"{name}[{i}]", text) for i, text in enumerate(value)]
    if not texts:
        raise InputError(f"{name}: needs at least one text (from 1 to {high})")
    if len(texts) > high:
        raise InputError(f"{name} must hold from 1 to {high} texts, got {len(texts)}")
    return texts


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_fractions(name: str, value) -> tuple[float, ...]:
    """A non-empty sequence of numbers in (0, 1]."""
    if not isinstance(value, Sequence) or isinstance(value, str) or not value or len(value) > 100:
        raise InputError(f"{name} must be a list of 1 to 100 fractions in (0, 1], got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 1:
            raise InputError(f"{name} must hold fractions in (0, 1], got {v!r}")
        out.append(float(v))
    return tuple(out)
