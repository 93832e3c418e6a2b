"""The disk cache of corpus-search indexes: written through the one safe writer, read like a stranger's file.

Layout, one folder per (model, corpus) under $ATTNVIZ_CACHE (or ~/.cache/attnviz):

    index-<model fingerprint>-<corpus hash>/
        index.json           {"format", "model", "layers", "texts", "tokens", "skip_first"}
        L<layer>.safetensors {"vectors": (N, d) float16 unit rows, "sentence_ids": (N,) int64, "token_ids": (N,) int64}

Reading uses the checkpoint rules (regular files only, bounded sizes, bounded JSON nesting) and then
checks everything a search relies on: dtypes, shapes, finite unit vectors, ids inside the texts and
their tokens. Anything wrong is a CacheProblem (the caller rebuilds and says so). Folders are evicted
least recently used first once their total passes a byte budget; only folders of this layout are
ever deleted.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save

from attnviz.store import safe_write, safefiles

FORMAT = 2
META = "index.json"
FOLDER_PATTERN = re.compile(r"^index-[0-9a-f]{16}-[0-9a-f]{16}$")
MAX_META_BYTES = 256 << 20
MAX_LAYER_BYTES = 2 << 30
DEFAULT_BUDGET_BYTES = 2 << 30  # all cached indexes together (hosted mode: HostedLimits.index_cache_bytes)


class CacheProblem(ValueError):
    """A cached index that cannot be used (damaged, foreign, poisoned): it is rebuilt."""


@dataclass(frozen=True)
class Cached:
    texts: list[str]
    tokens: list[list[str]]
    skip_first: bool
    vectors: np.ndarray  # (N, d) float16
    sentence_ids: np.ndarray  # (N,) int64
    token_ids: np.ndarray  # (N,) int64


def write_meta(folder: Path, document: dict) -> None:
    import json

    safe_write.real_dir(folder)
    safe_write.save_text(folder / META, json.dumps({"format": FORMAT, **document}, ensure_ascii=False))


def write_layer(folder: Path, layer: int, vectors: np.ndarray, sentence_ids: np.ndarray,
                token_ids: np.ndarray) -> None:
    data = save({"vectors": np.ascontiguousarray(vectors, dtype=np.float16),
                 "sentence_ids": np.ascontiguousarray(sentence_ids, dtype=np.int64),
                 "token_ids": np.ascontiguousarray(token_ids, dtype=np.int64)})
    safe_write.save_bytes(folder / f"L{int(layer)}.safetensors", data)


def read_meta(folder: Path, texts: list[str]) -> dict:
    """The folder's index.json if it is ours and for exactly these texts; else CacheProblem."""
    _real_folder(folder)
    document = safefiles.read_json(folder / META, MAX_META_BYTES, CacheProblem)
    if not isinstance(document, dict):
        raise CacheProblem("index.json is not a JSON object")
    if document.get("format") != FORMAT or type(document.get("format")) is not int:
        raise CacheProblem(f"index.json has format {document.get('format')!r}, not {FORMAT}")
    if document.get("texts") != texts:
        raise CacheProblem("index.json belongs to other sentences")
    tokens = document.get("tokens")
    if not (isinstance(tokens, list) and len(tokens) == len(texts)
            and all(isinstance(row, list) and all(isinstance(t, str) for t in row) for row in tokens)):
        raise CacheProblem("index.json has no valid token lists")
    if not isinstance(document.get("skip_first"), bool):
        raise CacheProblem("index.json lacks skip_first")
    return document


def read_layer(folder: Path, layer: int, meta: dict) -> Cached:
    """The cached vectors of one layer, checked (dtype, shape, finite unit rows, ids in range)."""
    path = folder / f"L{int(layer)}.safetensors"
    data = safefiles.read_bytes_bounded(path, MAX_LAYER_BYTES, CacheProblem)
    try:
        arrays = load(data)
    except (SafetensorError, ValueError, OSError) as error:
        raise CacheProblem(f"{path.name} is damaged: {str(error)[:120]}") from None
    vectors, sentence_ids, token_ids = (arrays.get(k) for k in ("vectors", "sentence_ids", "token_ids"))
    if vectors is None or sentence_ids is None or token_ids is None:
        raise CacheProblem(f"{path.name} lacks vectors or ids")
    if vectors.dtype != np.float16 or vectors.ndim != 2 or vectors.shape[0] == 0:
        raise CacheProblem(f"{path.name}: vectors are {vectors.dtype} {vectors.shape}, not (N, d) float16")
    n = vectors.shape[0]
    for name, ids in (("sentence_ids", sentence_ids), ("token_ids", token_ids)):
        if ids.dtype != np.int64 or ids.shape != (n,):
            raise CacheProblem(f"{path.name}: {name} are {ids.dtype} {ids.shape}, not ({n},) int64")
    if not np.isfinite(vectors).all():
        raise CacheProblem(f"{path.name}: vectors hold NaN or infinite values")
    norms = np.linalg.norm(vectors.astype(np.float32), axis=1)
    if np.abs(norms - 1.0).max() > 1e-2:
        raise CacheProblem(f"{path.name}: vectors are not of unit length")
    tokens = meta["tokens"]
    if sentence_ids.min() < 0 or sentence_ids.max() >= len(tokens):
        raise CacheProblem(f"{path.name}: sentence ids outside the corpus")
    lengths = np.asarray([len(row) for row in tokens], dtype=np.int64)
    if token_ids.min() < 0 or (token_ids >= lengths[sentence_ids]).any():
        raise CacheProblem(f"{path.name}: token ids outside their sentences")
    return Cached(meta["texts"], tokens, meta["skip_first"], vectors, sentence_ids, token_ids)


def touch(folder: Path) -> None:
    """Mark a cached index as just used (for least-recently-used eviction)."""
    try:
        os.utime(folder / META, follow_symlinks=False)
    except (OSError, NotImplementedError):
        pass


def _real_folder(folder: Path) -> None:
    try:
        info = os.lstat(folder)
    except OSError:
        raise CacheProblem("no cached index") from None
    if not stat.S_ISDIR(info.st_mode):
        raise CacheProblem(f"{folder.name} is not a real folder (a link or a file)")


def _folder_bytes(folder: Path) -> int:
    total = 0
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
    return total


def evict(root: Path, budget_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used index folders under `root` until the rest fit `budget_bytes`.

    Only real folders named like ours (index-<16 hex>-<16 hex>) are counted or deleted; `keep` never is."""
    try:
        entries = [Path(e.path) for e in os.scandir(root)
                   if FOLDER_PATTERN.match(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    sized = []
    for folder in entries:
        try:
            used = os.lstat(folder / META).st_mtime if os.path.lexists(folder / META) else 0.0
            sized.append((used, _folder_bytes(folder), folder))
        except OSError:
            continue
    total = sum(size for _, size, _ in sized)
    removed = []
    for _, size, folder in sorted(sized, key=lambda item: item[0]):
        if total <= budget_bytes:
            break
        if keep is not None and folder == keep:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
        removed.append(folder)
    return removed
