"""Hosted mode in a real browser: `ATTNVIZ_HOSTED=1 streamlit run app.py`, driven by Chromium (see
test_browser.py). The toolbar has no developer "Deploy" button (in every mode, from .streamlit/config.toml)
and the Train page has no box for server paths."""
from __future__ import annotations

import pytest

from test_browser import browser, open_page, page, server  # noqa: F401  (fixtures, started for this module)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def hosted_environment():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATTNVIZ_HOSTED", "1")
        yield


def test_hosted_train_page_in_a_browser(page, server):  # noqa: F811
    open_page(page, server, "train")
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "hosted demo" in text and "Data folder" not in text
    assert page.get_by_label("Data folder").count() == 0
