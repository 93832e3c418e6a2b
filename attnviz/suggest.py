"""When a model source names nothing: say the folder does not exist, and the nearest name, before any
talk of the HuggingFace hub."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

CUTOFF = 0.75  # how alike a name must be to be suggested (difflib ratio)


def _nearest(name: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=CUTOFF)
    return found[0] if found else None


def _folders(parent: Path) -> list[str]:
    try:
        return sorted(p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def missing_folder_message(source: str, shipped: Path) -> str | None:
    """A one-line message when `source` is meant as a local folder that does not exist, else None.

    Meant as a folder: it starts with ".", "/" or "~", or its parent folder exists here
    ("checkpoints/sentimnt"), or it is one typo away from a shipped checkpoint's name ("sentimnet").
    A name like "org/model" whose "org" is not a folder here is left to the hub.
    """
    text = str(source).strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if path.exists():
        return None
    explicit = text.startswith((".", "/", "~")) or os.sep in text.rstrip(os.sep) and path.parent.is_dir()
    if explicit:
        parent = path.parent
        nearest = _nearest(path.name, _folders(parent)) if parent.is_dir() else None
        hint = f"; did you mean {parent / nearest if str(parent) != '.' else nearest}?" if nearest else ""
        where = "" if parent.is_dir() else f" (nor does its parent folder {parent})"
        return f"the folder {text} does not exist{where}{hint}"
    nearest = _nearest(text, _folders(shipped) + _folders(Path.cwd()))
    if nearest:
        return f"the folder {text} does not exist, nor is it a shipped checkpoint; did you mean {nearest}?"
    return None
