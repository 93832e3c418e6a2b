"""Browser test of the Faithfulness page and the Minimal-pairs patching heatmaps in a real Chromium
(see tests/test_browser.py for the server and the browser)."""
from __future__ import annotations

import urllib.parse

import pytest

from browser_support import open_page, problems, settle, shoot

pytestmark = pytest.mark.browser


def test_faithfulness_page_scores_the_methods(page, server):
    open_page(page, server, "faithfulness?" + urllib.parse.urlencode({"model": "sentiment"}))
    assert not problems(page), problems(page)
    page.locator(".st-key-faith_go button").click()
    page.get_by_text("Most faithful here").wait_for(timeout=240_000)
    settle(page)
    assert not problems(page), problems(page)
    for key in ("faith_bars", "faith_curves"):
        chart = page.locator(f".st-key-{key} .js-plotly-plot")
        chart.first.wait_for()  # plotly draws after the script is idle (its code loads on first use)
        assert chart.count() == 1, key
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "random" in text.lower() and "Seconds per sentence" in text
    shoot(page, "faithfulness_page")


def test_minimal_pairs_shows_both_patching_heatmaps(page, server):
    open_page(page, server, "minimal_pairs?" + urllib.parse.urlencode(
        {"task": "sentiment", "model": "sentiment", "a": "The film was good and the acting was great.",
         "b": "The film was bad and the acting was great."}))
    page.get_by_text("Where is the decision made?").wait_for()
    settle(page)
    assert not problems(page), problems(page)
    for key in ("pairs_patch_residual", "pairs_patch_heads"):
        chart = page.locator(f".st-key-{key} .js-plotly-plot")
        chart.first.wait_for()
        assert chart.count() == 1, key
        hover = chart.evaluate("el => el.data[0].text.flat().join(' ')")  # the cells' hover values
        assert "restored" in hover, hover[:200]
    page.get_by_text("Which heads changed").wait_for()
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Sentence B is run again with one site taken from sentence A" in text
    assert "A:" in text and "B:" in text  # both predictions
    page.locator(".st-key-pairs_heads .js-plotly-plot").first.wait_for()
    assert page.locator(".st-key-pairs_heads .js-plotly-plot").count() == 1
    shoot(page, "minimal_pairs_patching")
