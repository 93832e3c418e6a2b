"""The one way attnviz writes a file: never through a link, never half-written.

Every write goes to a fresh temporary file created with O_CREAT|O_EXCL|O_NOFOLLOW (so nothing that
already sits at that name, link or not, is opened) in a folder verified with lstat to be a real
directory (not a symlink), is fsynced, and then takes the target's name with os.replace. rename()
replaces a directory entry and never follows a link at the target name, so a symlink planted where a
cache file will go is replaced, not written through; a link or non-folder where a folder should be is
refused with UnsafePathError (an OSError, so callers that treat disk trouble as "no cache" still do).

Writers that only take a path (safetensors' save_file, tokenizers' save) get a private temporary path
from save_via: a file inside a fresh 0700 folder made by mkdtemp (also O_EXCL semantics).
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class UnsafePathError(OSError):
    """A link, or something other than a folder, sits where attnviz was about to write."""


def real_dir(folder: str | Path, *, create: bool = True) -> Path:
    """`folder` after checking (lstat) that it is a directory and not a symlink; missing parts are made.

    Only the folder itself and the parts made here are checked: parents the user named (a cache root
    that is itself a link, say) are theirs to choose; names inside them that we write are not."""
    folder = Path(folder)
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        if not create:
            raise
        if folder.parent != folder and not os.path.isdir(folder.parent):
            real_dir(folder.parent)
        try:
            os.mkdir(folder, 0o755)
        except FileExistsError:
            pass  # made by someone else meanwhile: checked below
        info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"{folder} is a symbolic link; attnviz does not write through links")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{folder} exists and is not a folder")
    return folder


def _fresh_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.w-{os.getpid()}-{os.urandom(6).hex()}")


def _refuse_folder_at(target: Path) -> None:
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{target} is a folder; refusing to replace it with a file")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write `data` to `path` atomically through a fresh O_EXCL|O_NOFOLLOW file; returns the path."""
    target = Path(path)
    real_dir(target.parent)
    _refuse_folder_at(target)
    staging = _fresh_name(target)
    fd = os.open(staging, _FLAGS, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            view = memoryview(data)
            while view:
                view = view[handle.write(view):]
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(staging, target)  # replaces a link at `target` itself, never what it points to
    except BaseException:
        _unlink_quietly(staging)
        raise
    _fsync_dir(target.parent)
    return target


def save_text(path: str | Path, text: str, mode: int = 0o644) -> Path:
    """save_bytes of the UTF-8 text."""
    return save_bytes(path, text.encode("utf-8"), mode)


def save_via(path: str | Path, writer: Callable[[str], None], mode: int = 0o644) -> Path:
    """Let `writer(temporary path)` write the file (for libraries that only take paths), then move it
    into place as save_bytes does. The temporary path lies in a fresh private folder beside `path`."""
    target = Path(path)
    real_dir(target.parent)
    _refuse_folder_at(target)
    private = Path(tempfile.mkdtemp(prefix=f".{target.name}.d-{os.getpid()}-", dir=target.parent))
    try:
        staging = private / target.name
        writer(str(staging))
        info = os.lstat(staging)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"the writer of {target} left something other than a file")
        fd = os.open(staging, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.fsync(fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(staging, target)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    _fsync_dir(target.parent)
    return target


def remove_link(path: str | Path) -> bool:
    """Remove `path` if it is a symbolic link (never what it points to); whether one was removed."""
    path = Path(path)
    if path.is_symlink():
        path.unlink()
        return True
    return False


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
