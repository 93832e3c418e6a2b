"""Shared fixtures: where the shared data lives, one streamlit server and one Chromium for all browser
tests (one of each per pytest-xdist worker), and small helpers.

The suite runs in parallel (pytest-xdist, `-n auto --dist loadfile` in pyproject.toml): one worker per
core, at most four, each file on one worker (so a module's fixtures are built once), and each worker's
torch gets its share of the cores, so two workers never oversubscribe a 2-core machine.

Tests that need the shared data folder skip with one reason naming ATTNVIZ_DATA when it is missing;
with ATTNVIZ_REQUIRE_DATA=1 (CI, which has the data) that skip is a failure instead.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_WORKERS = 4  # more would start more servers and browsers than the suite gains from


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker per core, at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def worker_threads() -> int:
    """Torch threads for this process: its share of the cores when several xdist workers run."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(worker_threads())


def shared_data_dir() -> Path:
    """ATTNVIZ_DATA if set, else ../shared/data beside the repository (the rule of attnviz.training.data)."""
    from attnviz.training.data import default_data_root
    return default_data_root()[0]


def missing_data_reason(path: Path) -> str:
    return (f"needs the shared data folder (sst2/, wikiann/, tinyshakespeare/), not found at {path}: "
            "set ATTNVIZ_DATA to it")


def require_data() -> Path:
    """The shared data folder; skips the test (fails it under ATTNVIZ_REQUIRE_DATA=1) when it is missing."""
    path = shared_data_dir()
    if not (path / "sst2" / "train.tsv").exists():
        reason = missing_data_reason(path)
        if os.environ.get("ATTNVIZ_REQUIRE_DATA") == "1":
            pytest.fail(reason + " (ATTNVIZ_REQUIRE_DATA=1: the data must be here)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_data()


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


# ------------------------------------------------------------------ browser: one server, one Chromium

@pytest.fixture(scope="session")
def server(tmp_path_factory) -> str:
    """The base URL of one `streamlit run app.py` shared by the browser tests of the session."""
    from browser_support import serve_app

    env = dict(os.environ)
    env.setdefault("ATTNVIZ_DATA", str(shared_data_dir()))
    env.setdefault("ATTNVIZ_USER_MODELS", str(tmp_path_factory.mktemp("user_models")))
    env["ATTNVIZ_CACHE"] = str(tmp_path_factory.mktemp("index_cache"))  # not ~/.cache/attnviz
    if os.environ.get("PYTEST_XDIST_WORKER"):
        env.setdefault("ATTNVIZ_TORCH_THREADS", str(worker_threads()))
    with serve_app(env) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from browser_support import CHROMIUM_ARGS, _require_browser
    from chromium import find_chromium
    from playwright.sync_api import sync_playwright

    _require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(find_chromium()), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    from browser_support import SETTLE_TIMEOUT_MS

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(SETTLE_TIMEOUT_MS)
    yield tab
    context.close()
