"""Training replay files inside a checkpoint folder: replay.safetensors and replay.json.

replay.safetensors holds one float16 array per probe sentence, [snapshots, layers, heads, T, T];
replay.json the texts, tokens per text, snapshot steps and the loss history. Never pickle.
Both are written through the safe writer and read with the safe-file rules (regular files, bounded
sizes and nesting) and a schema check: a damaged replay is a ReplayError that names the problem.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save

from attnviz.store import safe_write, safefiles

REPLAY_WEIGHTS = "replay.safetensors"
REPLAY_JSON = "replay.json"
MAX_REPLAY_JSON_BYTES = 16 << 20
MAX_REPLAY_WEIGHTS_BYTES = 512 << 20
MAX_LOSS_POINTS = 1_000_000


class ReplayError(ValueError):
    """A replay that cannot be shown (damaged, foreign or too big)."""


def has_replay(folder: str | Path) -> bool:
    """Whether a folder holds replay files (cheap: no reading)."""
    return (Path(folder) / REPLAY_JSON).is_file() and (Path(folder) / REPLAY_WEIGHTS).is_file()


def write_replay(folder: str | Path, arrays: dict[str, np.ndarray], document: dict) -> None:
    """Write both files into an (already saved) checkpoint folder."""
    folder = Path(folder)
    safe_write.save_bytes(folder / REPLAY_WEIGHTS, save(arrays))
    safe_write.save_text(folder / REPLAY_JSON, json.dumps(document, ensure_ascii=False))


def read_replay(folder: str | Path) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(document, arrays) from a folder, checked; None when there are no replay files, ReplayError when
    they are damaged (each probe's array is (snapshots, L, H, T, T), finite, T its token count)."""
    folder = Path(folder)
    if not has_replay(folder):
        return None
    raw = safefiles.read_bytes_bounded(folder / REPLAY_JSON, MAX_REPLAY_JSON_BYTES, ReplayError, REPLAY_JSON)
    try:
        document = safefiles.parse_json(raw.decode("utf-8"), ReplayError, REPLAY_JSON)
    except UnicodeDecodeError:
        raise ReplayError(f"{REPLAY_JSON} is not UTF-8 text") from None
    _check_document(document)
    data = safefiles.read_bytes_bounded(folder / REPLAY_WEIGHTS, MAX_REPLAY_WEIGHTS_BYTES, ReplayError, REPLAY_WEIGHTS)
    try:
        arrays = load(data)
    except (SafetensorError, ValueError, OSError) as error:
        raise ReplayError(f"{REPLAY_WEIGHTS} is damaged: {str(error)[:120]}") from None
    for i, tokens in enumerate(document["tokens"]):
        weights = arrays.get(f"probe{i}")
        n = len(tokens)
        if weights is None or weights.ndim != 5 or weights.shape[0] != len(document["steps"]) \
                or weights.shape[3:] != (n, n) or weights.dtype.kind != "f":
            raise ReplayError(f"{REPLAY_WEIGHTS}: probe {i} is not (snapshots, layers, heads, {n}, {n}) floats")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ReplayError(f"{REPLAY_WEIGHTS}: probe {i} holds NaN, infinite or negative weights")
    return document, arrays


def _check_document(document) -> None:
    if not isinstance(document, dict):
        raise ReplayError(f"{REPLAY_JSON} is not a JSON object")
    texts, tokens, steps = document.get("texts"), document.get("tokens"), document.get("steps")
    if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
        raise ReplayError(f"{REPLAY_JSON} has no probe texts")
    if not (isinstance(tokens, list) and len(tokens) == len(texts) and all(
            isinstance(row, list) and row and all(isinstance(t, str) for t in row) for row in tokens)):
        raise ReplayError(f"{REPLAY_JSON} has no token list for every probe text")
    if not (isinstance(steps, list) and steps and all(_is_int(s) and s >= 0 for s in steps)):
        raise ReplayError(f"{REPLAY_JSON} has no list of snapshot steps")
    loss = document.get("loss", [])
    if not (isinstance(loss, list) and len(loss) <= MAX_LOSS_POINTS and all(
            isinstance(p, list) and len(p) == 2 and _is_int(p[0]) and isinstance(p[1], (int, float))
            and not isinstance(p[1], bool) and math.isfinite(p[1]) for p in loss)):
        raise ReplayError(f"{REPLAY_JSON}: the loss history is not a list of [step, finite loss]")
    if not isinstance(document.get("causal", False), bool):
        raise ReplayError(f"{REPLAY_JSON}: \"causal\" is not true or false")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
