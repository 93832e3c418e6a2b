"""Hosted mode in a real browser: `ATTNVIZ_HOSTED=1 streamlit run app.py`, driven by Chromium (see
test_browser.py). The toolbar has no developer "Deploy" button (in every mode, from .streamlit/config.toml)
and the Train page has no box for server paths."""
from __future__ import annotations

import os

import pytest

from browser_support import open_page, serve_app
from conftest import shared_data_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server of its own, started with ATTNVIZ_HOSTED=1 (the shared one is not hosted)."""
    env = dict(os.environ, ATTNVIZ_HOSTED="1", ATTNVIZ_DATA=str(shared_data_dir()),
               ATTNVIZ_USER_MODELS=str(tmp_path_factory.mktemp("user_models")))
    with serve_app(env, "streamlit-hosted.log") as url:
        yield url


def test_hosted_train_page_in_a_browser(page, server):
    open_page(page, server, "train")
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "hosted demo" in text and "Data folder" not in text
    assert page.get_by_label("Data folder").count() == 0
