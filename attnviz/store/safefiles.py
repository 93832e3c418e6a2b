"""Reading files a stranger may have made: regular files only, of a bounded size, parsed with bounds.

Every check happens before the file is opened for reading: `os.stat` says whether the path (after
symlinks) is a regular file, so /dev/zero, a FIFO, a socket or a folder is refused without ever
being opened (opening a FIFO blocks until a writer comes). Errors are raised as the caller's
error class (CheckpointError for checkpoints) with a one-line message.
"""
from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

MAX_CONFIG_BYTES = 1 << 20  # config.json and the like: ours are ~2 KB, HuggingFace ones ~1-50 KB
MAX_TOKENIZER_BYTES = 64 << 20  # the biggest common tokenizer.json files are ~20 MB
MAX_SAFETENSORS_HEADER_BYTES = 16 << 20  # the header JSON (names, dtypes, shapes, offsets)
MAX_WEIGHTS_BYTES = 4 << 30  # a model file of ours; bigger ones are not what attnviz is for
MAX_JSON_DEPTH = 64

ErrorClass = type[Exception]


def check_regular_file(path: str | Path, limit: int, error: ErrorClass = ValueError, what: str = "") -> int:
    """The size of `path` if it is a regular file (symlinks followed) of at most `limit` bytes, else `error`."""
    path = Path(path)
    label = what or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{label} does not exist") from None
    except OSError as exc:
        raise error(f"{label} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a socket" if stat.S_ISSOCK(info.st_mode) else "a special file")
        raise error(f"{label} is not a regular file (it is {kind}); refusing to read it")
    if info.st_size > limit:
        raise error(f"{label} is too big ({info.st_size:,} bytes; the limit is {limit:,})")
    return info.st_size


def read_bytes_bounded(path: str | Path, limit: int, error: ErrorClass = ValueError, what: str = "") -> bytes:
    """The bytes of a regular file of at most `limit` bytes (never more is read, even if it grows)."""
    check_regular_file(path, limit, error, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the stat cannot block
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{what or path} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped between stat and open
            raise error(f"{what or path} is not a regular file; refusing to read it")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what or path} is too big (more than {limit:,} bytes)")
    return data


def json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets nest at most `limit` deep (counted outside strings), without parsing."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def parse_json(text: str, error: ErrorClass = ValueError, what: str = "the JSON") -> object:
    """json.loads with a nesting limit: a deeply nested document is an `error`, never a RecursionError."""
    if not json_depth_ok(text):
        raise error(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep; refusing it")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None


def read_json(path: str | Path, limit: int = MAX_CONFIG_BYTES, error: ErrorClass = ValueError) -> object:
    """A small JSON file, read with every check above."""
    data = read_bytes_bounded(path, limit, error)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text") from None
    return parse_json(text, error, str(path))


def read_safetensors_header(path: str | Path, error: ErrorClass = ValueError,
                            limit: int = MAX_WEIGHTS_BYTES) -> dict[str, dict]:
    """{tensor name: {"dtype", "shape", "data_offsets"}} from a safetensors file's header, read alone.

    Checks that the header is bounded, that every tensor's byte range fits the file and matches its
    dtype and shape, so nothing is allocated for a file that cannot be what it claims.
    """
    size = check_regular_file(path, limit, error)
    if size < 8:
        raise error(f"{path} is not a safetensors file (shorter than its 8-byte header length)")
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > min(MAX_SAFETENSORS_HEADER_BYTES, size - 8):
            raise error(f"{path}: the safetensors header claims {length:,} bytes (file: {size:,}); it is corrupt")
        raw = handle.read(length)
    try:
        header = parse_json(raw.decode("utf-8"), error, f"{path} (safetensors header)")
    except UnicodeDecodeError:
        raise error(f"{path}: the safetensors header is not UTF-8; the file is corrupt") from None
    if not isinstance(header, dict):
        raise error(f"{path}: the safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    data_size = size - 8 - length
    for name, entry in header.items():
        try:
            shape = [int(n) for n in entry["shape"]]
            start, end = (int(n) for n in entry["data_offsets"])
            itemsize = DTYPE_BYTES[entry["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise error(f"{path}: the header entry of {name!r} is malformed or has an unknown dtype") from None
        count = 1
        for n in shape:
            if n < 0:
                raise error(f"{path}: tensor {name!r} has a negative dimension")
            count *= n
        if not 0 <= start <= end <= data_size or end - start != count * itemsize:
            raise error(f"{path}: tensor {name!r} does not fit the file (truncated or corrupt)")
    return header


DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
