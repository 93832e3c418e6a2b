"""Replace a folder by a freshly written one so that a kill at any moment loses nothing.

Names beside the target `<parent>/<name>` (all hidden, all carrying the writer's process id):

    .<name>.tmp-<pid>-<random>   being written (incomplete until renamed)
    .<name>.new-<pid>            complete, about to take the place of <name>
    .<name>.old-<pid>            the previous <name>, moved aside for a moment

The writer renames tmp -> new (complete), then <name> -> old, then new -> <name>, then deletes
old. `recover(target)` finishes or rolls back what a dead writer left: a complete `new` takes the
place (it is the latest save asked for), else an `old` goes back; stale `tmp` folders are deleted.
Folders of a writer that is still alive are left alone.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from attnviz.store import safe_write

LEGACY_STALE_S = 3600  # staging folders from before names carried a pid: stale after an hour


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _siblings(target: Path) -> list[tuple[Path, str, int | None]]:
    """(path, state, pid) of the tmp/new/old folders of `target` (pid None: a legacy staging name)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|new|old)-(.+)$")
    found = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        state, suffix = match.groups()
        pid_text = suffix.split("-", 1)[0] if state == "tmp" and "-" in suffix else suffix
        if state != "tmp" and not pid_text.isdigit():
            continue
        found.append((entry, state, int(pid_text) if pid_text.isdigit() and (state != "tmp" or "-" in suffix)
                      else None))
    return found


def _stale(path: Path, pid: int | None) -> bool:
    if pid is not None:
        return not _alive(pid)
    try:
        return time.time() - path.stat().st_mtime > LEGACY_STALE_S
    except OSError:
        return False


def recover(target: str | Path) -> None:
    """Finish or roll back an interrupted replace of `target`, and delete stale staging folders."""
    target = Path(target)
    siblings = [(p, state, pid) for p, state, pid in _siblings(target) if _stale(p, pid)]
    for path, state, _ in siblings:
        if state == "new":
            if target.exists():
                aside = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.replace(target, aside)
                os.replace(path, target)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.replace(path, target)
    for path, state, _ in siblings:
        if state == "old" and path.exists():
            if target.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.replace(path, target)
        elif state == "tmp":
            shutil.rmtree(path, ignore_errors=True)


def staging_folder(target: str | Path) -> Path:
    """A new empty folder beside `target` to write into (stale ones are cleaned up first)."""
    target = Path(target)
    safe_write.real_dir(target.parent)
    recover(target)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))


def commit(staging: Path, target: str | Path) -> None:
    """Put the complete `staging` folder in the place of `target` (see the module notes)."""
    target = Path(target)
    complete = target.with_name(f".{target.name}.new-{os.getpid()}")
    if complete.exists():
        shutil.rmtree(complete)
    os.replace(staging, complete)
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{os.getpid()}")
        if retired.exists():
            shutil.rmtree(retired)
        os.replace(target, retired)
        os.replace(complete, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(complete, target)
