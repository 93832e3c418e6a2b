"""Give freed heap memory back to the operating system after a model load (glibc only).

Loading builds a model, then replaces its freshly initialised weights with the file's: the freed
blocks stay in the allocator's heap and count in the process's resident size until trimmed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """malloc_trim(0): return the heap's free pages to the OS. True when glibc did it."""
    trim = _malloc_trim()
    return bool(trim is not None and trim(0))
