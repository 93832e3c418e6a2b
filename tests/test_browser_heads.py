"""The Heads, Corpus search and Verify pages in a real browser (the shared server from conftest.py).

One test visits the three pages in turn (one server start, one browser: the machine is small).
"""
from __future__ import annotations

import pytest

from browser_support import open_page, problems, settle, shoot, wait_ms

pytestmark = pytest.mark.browser


def test_heads_search_and_verify_pages(page, server, shared_data):
    open_page(page, server, "heads?model=sentiment")
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=wait_ms(240))  # statistics take a while
    settle(page)
    assert problems(page) == []
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2  # roles and every head
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2  # the statistic's heatmap and the sinks
    shoot(page, "page-heads")
    link = page.locator('a[href*="explorer"]', has_text="in the explorer")
    assert "layer=0" in link.get_attribute("href") and "head=0" in link.get_attribute("href")
    link.click()
    settle(page)
    assert "/explorer" in page.url and "model=sentiment" in page.url
    assert problems(page) == []

    # corpus search on typed sentences
    open_page(page, server, "search?model=sentiment&text=a+dull+story")
    page.get_by_text("sentences I type").click()
    settle(page)
    assert problems(page) == []
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert "tokens of 2 sentences" in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()[-1]
    shoot(page, "page-search")

    # a big index can be stopped while it builds, and built later on request
    open_page(page, server, "search?model=all-MiniLM-L6-v2&text=Paris+is+lovely")
    page.get_by_text("WikiANN dev").click()
    # the main area's Stop: while a script runs, Streamlit's own header shows a "Stop" button too
    stop = page.locator('[data-testid="stMain"]').get_by_role("button", name="Stop")
    stop.wait_for(timeout=wait_ms(60))
    page.locator('[data-testid="stProgress"]').wait_for(timeout=wait_ms(60))
    stop.click()
    page.get_by_text("Stopped: the index of").wait_for(timeout=wait_ms(60))
    settle(page)
    assert problems(page) == []
    assert page.get_by_role("button", name="Build the index").count() == 1
    assert page.locator('[data-testid="stDataFrame"]').count() == 0  # nothing was searched
    shoot(page, "search-stopped")

    # verify: every identity holds
    open_page(page, server, "verify")
    assert problems(page) == []
    assert "checks pass" in page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    shoot(page, "page-verify")
