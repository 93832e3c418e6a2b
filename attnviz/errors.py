"""Errors a user can cause, with messages meant to be shown as they are."""
from __future__ import annotations


class InputError(ValueError):
    """Text or options the model cannot work with (empty text, a wrong option...)."""


def require_text(text: str) -> str:
    """The text, or an InputError if there is nothing but white space in it."""
    if not isinstance(text, str):
        raise InputError(f"expected text, got {type(text).__name__}")
    if not text.strip():
        raise InputError("The text is empty: type a sentence first.")
    return text
