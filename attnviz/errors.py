"""Errors a user can cause, with messages meant to be shown as they are."""
from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


class InputError(ValueError):
    """Text or options the model cannot work with (empty text, a wrong option...)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says which file and why."""


class ModelLoadError(CheckpointError):
    """A HuggingFace model that cannot be loaded or used; the message is one line meant for the user."""


def require_text(text: str) -> str:
    """The text, or an InputError if there is nothing but white space in it."""
    if not isinstance(text, str):
        raise InputError(f"expected text, got {type(text).__name__}")
    refuse_surrogates(text)
    if not text.strip():
        raise InputError("The text is empty: type a sentence first.")
    return text


def refuse_surrogates(text: str) -> str:
    """The text, or an InputError if it holds a lone UTF-16 surrogate (a broken character that
    no tokenizer can encode; it comes from text cut in the middle of an emoji, for example)."""
    found = _SURROGATE.search(text)
    if found:
        raise InputError(f"The text holds a broken character (a lone surrogate U+{ord(found.group()):04X} at "
                         f"position {found.start()}); retype or paste it again.")
    return text
