"""The app in a real browser (helpers in browser_support.py, the shared server and Chromium in
conftest.py). Every page at two widths: test_browser_pages.py."""
from __future__ import annotations

import os
import re

import pytest

from browser_support import (SENTENCE, open_page, problems, serve_app, settle, shoot, tick_texts,
                             wait_ms)

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_server(tmp_path_factory):
    """A server of its own that has served nothing yet (the shared one may have served other test
    files by now: they run in any order, on parallel workers)."""
    env = dict(os.environ, ATTNVIZ_USER_MODELS=str(tmp_path_factory.mktemp("user_models_first")))
    with serve_app(env, "streamlit-first-link.log") as url:
        yield url


def test_a_link_opened_first_on_a_fresh_server_runs_the_whole_app(page, fresh_server):
    """Streamlit runs a file in a folder named pages/ on its own (without app.py) until app.py has once
    called st.navigation: a link to a page opened first on a new server must still run the whole app."""
    open_page(page, fresh_server, "train")
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Device:").count() == 1


def test_typed_sentence_shows_up_in_the_heatmap(page, server):
    open_page(page, server, "explorer")
    box = page.locator('[data-testid="stMain"] textarea, [data-testid="stMain"] input[type="text"]').first
    box.fill(SENTENCE)
    box.press("Control+Enter" if box.evaluate("e => e.tagName") == "TEXTAREA" else "Enter")
    page.wait_for_function("""words => [...document.querySelectorAll('.js-plotly-plot')].some(plot =>
        words.every(w => [...plot.querySelectorAll('g.xtick text')].some(t => t.textContent.trim() == w)))""",
                           arg=["film", "actors", "funny"])
    settle(page)
    shoot(page, "explorer-typed")
    assert problems(page) == []
    heads = [plot for plot in page.locator(".js-plotly-plot").all()
             if {"film", "funny"} <= set(tick_texts(plot))]
    assert heads, "no heatmap has the typed words on its x axis"
    labels = tick_texts(heads[0])
    assert [w for w in labels if w in SENTENCE.split()] == [w for w in SENTENCE.split() if w in labels]


def test_minilm_has_six_layers_of_twelve_heads(page, server):
    open_page(page, server, "explorer?model=all-MiniLM-L6-v2")
    page.wait_for_selector(".js-plotly-plot g.xtick text")
    settle(page)
    shoot(page, "explorer-minilm")
    assert problems(page) == []
    grid = next(plot for plot in page.locator(".js-plotly-plot").all() if "H11" in tick_texts(plot))
    assert tick_texts(grid, "x") == [f"H{h}" for h in range(12)]
    assert tick_texts(grid, "y") == [f"L{layer}" for layer in range(6)]
    assert re.search(r"6 layers × 12 heads", page.locator('[data-testid="stMain"]').inner_text())


def test_a_model_trained_in_the_browser_is_offered_at_once(page, server, shared_data):
    open_page(page, server, "train")
    for label, value in (("Use only the first N training sentences", "100"), ("Epochs", "1")):
        box = page.get_by_label(label, exact=True).and_(page.locator("input"))
        box.fill(value)
        box.press("Enter")
        settle(page, quiet_s=0.5)
    name = page.get_by_role("textbox", name="Name of the new model (optional)")
    name.fill("browser-run")
    name.press("Enter")
    settle(page, quiet_s=0.5)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector('[data-testid="stProgress"], [data-testid="stAlertContentSuccess"]')
    shoot(page, "train-running")
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=wait_ms(120))
    settle(page)
    shoot(page, "train-finished")
    assert problems(page) == []
    page.get_by_text("See its attention in the explorer").click()
    page.wait_for_url(re.compile(r"/explorer\?.*model=browser-run"))
    settle(page)
    page.wait_for_selector(".js-plotly-plot g.xtick text")
    shoot(page, "explorer-trained")
    assert problems(page) == []
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    assert "browser-run" in picker.inner_text() + " ".join(picker.locator("input").evaluate_all(
        "inputs => inputs.map(i => i.value)"))
