"""A prepared llama-architecture decoder with GQA in a real browser (a tiny offline stand-in for
SmolLM2 in $ATTNVIZ_MODELS): the explorer shows every query head, the generation page generates."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from attnviz import prepare
from conftest import REPO_ROOT
from test_browser import (ARTIFACTS, START_TIMEOUT_S, _free_port, _healthy, _require_browser, open_page, problems,
                          settle, shoot, tick_texts)
from test_smollm2 import build_tiny_llama

pytestmark = pytest.mark.browser
NAME = prepare.SMOLLM2.name


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    _require_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    models = tmp_path_factory.mktemp("prepared")
    build_tiny_llama(models / prepare.SMOLLM2.folder_name)
    env = dict(os.environ, ATTNVIZ_MODELS=str(models), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env.setdefault("ATTNVIZ_USER_MODELS", str(tmp_path_factory.mktemp("user_models")))
    port = _free_port()
    log = open(ARTIFACTS / "streamlit-smollm2.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {(ARTIFACTS / 'streamlit-smollm2.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(server):
    from chromium import find_chromium
    from test_browser import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(find_chromium()), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


def test_prepared_decoder_explorer_and_generation(page, server):
    open_page(page, server, f"explorer?model={NAME}&text=the+cat+sat+on+the+mat")
    page.wait_for_selector(".js-plotly-plot g.xtick text")
    settle(page)
    shoot(page, "explorer-smollm2-tiny")
    assert problems(page) == []
    grid = next(plot for plot in page.locator(".js-plotly-plot").all() if "H3" in tick_texts(plot))
    assert tick_texts(grid, "x") == [f"H{h}" for h in range(4)]  # 4 query heads, though 2 key/value heads
    assert tick_texts(grid, "y") == ["L0", "L1"]

    open_page(page, server, f"generation?model={NAME}")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector('[data-testid="stCode"]')
    settle(page)
    shoot(page, "generation-smollm2-tiny")
    assert problems(page) == []
    assert page.locator(".js-plotly-plot").count() >= 2  # the candidates and the causal attention
