"""Training replay files inside a checkpoint folder: replay.safetensors and replay.json.

replay.safetensors holds one float16 array per probe sentence, [snapshots, layers, heads, T, T];
replay.json the texts, tokens per text, snapshot steps and the loss history. Never pickle.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from attnviz.store import safe_write

REPLAY_WEIGHTS = "replay.safetensors"
REPLAY_JSON = "replay.json"


def has_replay(folder: str | Path) -> bool:
    """Whether a folder holds replay files (cheap: no reading)."""
    return (Path(folder) / REPLAY_JSON).is_file() and (Path(folder) / REPLAY_WEIGHTS).is_file()


def write_replay(folder: str | Path, arrays: dict[str, np.ndarray], document: dict) -> None:
    """Write both files into an (already saved) checkpoint folder."""
    folder = Path(folder)
    safe_write.write_bytes(folder / REPLAY_WEIGHTS, save(arrays))
    safe_write.write_text(folder / REPLAY_JSON, json.dumps(document, ensure_ascii=False))


def read_replay(folder: str | Path) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(document, arrays) from a folder; None when there are no replay files or they cannot be read."""
    folder = Path(folder)
    try:
        document = json.loads((folder / REPLAY_JSON).read_text(encoding="utf-8"))
        arrays = load_file(str(folder / REPLAY_WEIGHTS))
    except (OSError, ValueError, SafetensorError):
        return None
    return document, arrays
