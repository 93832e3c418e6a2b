"""Hosted mode: the app served to strangers (a public demo) gets tighter limits and no server paths.

One convention: the environment variable ATTNVIZ_HOSTED=1 (also true/yes/on) switches it on; on hosts
where setting environment variables is awkward (Streamlit Community Cloud), `hosted = true` in
.streamlit/secrets.toml does the same (read by attnviz.ui, the only part that sees Streamlit).
No streamlit here: the policy is plain data, tested without a server.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ENV_VAR = "ATTNVIZ_HOSTED"
LARGE_MODELS_VAR = "ATTNVIZ_HOSTED_LARGE_MODELS"  # =1: offer prepared models (SmolLM2, ~560 MiB) when hosted
VISITOR_MARKER = ".attnviz-visitor-model"  # written into a folder the Train page made (kept across saves)
TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class HostedLimits:
    """What one visitor of a hosted demo may ask for."""

    max_text_chars: int = 2_000         # text read by a model per request (longer pastes are cut)
    max_running_jobs: int = 1           # training runs at once on the whole server
    max_train_steps: int = 300          # steps of one run (the language model's and the others' cap)
    max_train_seconds: float = 180.0    # a run is stopped (keeping what it learned) after this long
    max_train_examples: int = 5_000     # training sentences (characters for the LM: 100x this)
    max_epochs: int = 3
    user_model_ttl_s: float = 3_600.0   # models trained by visitors are deleted after this long
    index_cache_bytes: int = 300 << 20  # corpus-search indexes on disk, all models together (LRU eviction)
    max_typed_sentences: int = 200      # a typed corpus (Heads, Corpus search): lines ...
    max_typed_chars: int = 20_000       # ... and characters in all
    max_search_sentences: int = 2_000   # sentences of a shared dev set a corpus index may hold
    index_memory_bytes: int = 128 << 20  # float16 vectors of one corpus index, all layers (locally 256 MiB)


LIMITS = HostedLimits()


def hosted_from_env(environ: dict | None = None) -> bool:
    """Whether ATTNVIZ_HOSTED asks for hosted mode."""
    value = (environ if environ is not None else os.environ).get(ENV_VAR, "")
    return str(value).strip().lower() in TRUE_WORDS


def large_models_from_env(environ: dict | None = None) -> bool:
    """Whether a hosted server also offers the prepared models (SmolLM2): off by default, because that
    one model holds ~560 MiB and would take a server with every model loaded past 1.5 GB."""
    value = (environ if environ is not None else os.environ).get(LARGE_MODELS_VAR, "")
    return str(value).strip().lower() in TRUE_WORDS


def expire_user_models(root: str | Path, ttl_s: float = LIMITS.user_model_ttl_s,
                       now: float | None = None) -> list[Path]:
    """Delete the visitors' model folders under `root` last written more than `ttl_s` seconds ago; return them.

    Only real folders directly under `root` that hold the VISITOR_MARKER file (a regular file, not a
    link) are touched: a folder someone else put there, or a link, is never deleted."""
    root = Path(root)
    now = time.time() if now is None else now
    removed = []
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and _marked(p)]
    except OSError:
        return []
    for folder in folders:
        try:
            newest = max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
        except OSError:
            continue
        if now - newest > ttl_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            log.info("hosted mode: deleted the expired user model %s", folder)
    return removed


def _marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(folder / VISITOR_MARKER).st_mode)
    except OSError:
        return False
