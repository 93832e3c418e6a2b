"""A prepared llama-architecture decoder with GQA in a real browser (a tiny offline stand-in for
SmolLM2 in $ATTNVIZ_MODELS): the explorer shows every query head, the generation page generates."""
from __future__ import annotations

import os

import pytest

from attnviz.bundles import prepare
from browser_support import _require_browser, open_page, problems, serve_app, settle, shoot, tick_texts
from test_smollm2 import build_tiny_llama

pytestmark = pytest.mark.browser
NAME = prepare.SMOLLM2.name


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    """The app with a tiny prepared llama decoder standing in for SmolLM2 in $ATTNVIZ_MODELS."""
    _require_browser()
    models = tmp_path_factory.mktemp("prepared")
    build_tiny_llama(models / prepare.SMOLLM2.folder_name)
    env = dict(os.environ, ATTNVIZ_MODELS=str(models))
    env.setdefault("ATTNVIZ_USER_MODELS", str(tmp_path_factory.mktemp("user_models")))
    with serve_app(env, "streamlit-smollm2.log") as url:
        yield url


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
    page.locator(".js-plotly-plot").nth(1).wait_for()
    assert page.locator(".js-plotly-plot").count() >= 2  # the candidates and the causal attention
