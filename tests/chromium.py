"""Where Chromium is: $CHROMIUM if set, else the first of chromium, chromium-browser, google-chrome on PATH.

Shared by the browser tests (and mirrored by .ci/find-chromium for CI)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install Chromium (Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) "
                "or point the CHROMIUM environment variable at a Chromium/Chrome executable")


def find_chromium(environ: dict | None = None) -> Path | None:
    """The Chromium executable to drive, or None when there is none."""
    environ = os.environ if environ is None else environ
    given = environ.get("CHROMIUM", "").strip()
    if given:
        path = Path(given).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for name in NAMES:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return Path(found)
    return None


def missing_message(environ: dict | None = None) -> str:
    environ = os.environ if environ is None else environ
    given = environ.get("CHROMIUM", "").strip()
    where = f"CHROMIUM={given} is not an executable file" if given else \
        f"no Chromium found on PATH (looked for {', '.join(NAMES)})"
    return f"{where}: {INSTALL_HINT}"
