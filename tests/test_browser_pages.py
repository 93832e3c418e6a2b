"""Every page opens without errors in a real browser, at 1400 px and at a phone's 390 px; the
screenshots go to test-artifacts/page-<name>.png and page-<name>-390.png for people to look at;
no chart title is cut off or drawn under its legend at either width, no two x-axis labels
overlap and no table is cut off at the phone's edge.
(A file of its own so that parallel workers can take it beside test_browser.py.)"""
from __future__ import annotations

import pytest

from browser_support import (PAGES, cut_tables, cut_titles, open_page, overlapping_ticks, problems, settle, shoot,
                             titles_under_legends)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_without_errors(page, server, name):
    open_page(page, server, "" if name == "home" else name)  # the default page lives at the root URL
    shoot(page, f"page-{name}")
    assert problems(page) == []
    assert cut_titles(page) == [] and titles_under_legends(page) == []
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the same page re-laid out
    settle(page, quiet_s=0.5)
    shoot(page, f"page-{name}-390")
    assert problems(page) == []
    assert cut_titles(page) == [], "chart titles cut off at 390 px"
    assert titles_under_legends(page) == [], "a legend drawn over a chart title at 390 px"
    assert overlapping_ticks(page) == [], "x-axis labels drawn over each other at 390 px"
    assert cut_tables(page) == [], "a table cut off at the phone's edge"
