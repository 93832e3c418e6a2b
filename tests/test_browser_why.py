"""Browser test of "Why this prediction?" and "Minimal pairs" in a real Chromium (see tests/test_browser.py)."""
from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

import attnviz
from attnviz.analysis import head_importance

from browser_support import open_page, problems, settle, shoot

pytestmark = pytest.mark.browser
SENTENCE = "The film was not good at all, and the actors looked bored."


def most_important_head() -> tuple[int, int]:
    """The head whose ablation moves this sentence's prediction most (computed by the library)."""
    scores = head_importance(attnviz.load("sentiment"), [SENTENCE])  # (layers, heads)
    layer, head = np.unravel_index(np.abs(scores).argmax(), scores.shape)
    return int(layer), int(head)


def test_switching_a_head_off_changes_the_probability_shown(page, server):
    open_page(page, server, "why?" + urllib.parse.urlencode({"task": "sentiment", "model": "sentiment",
                                                              "text": SENTENCE}))
    assert not problems(page), problems(page)
    value = page.locator('[data-testid="stMetricValue"]')
    before = value.inner_text().strip()
    assert float(before) > 0.5
    layer, head = most_important_head()
    model = attnviz.load("sentiment")
    page.locator(f".st-key-why_on_sentiment_{model.n_layers}x{model.n_heads}_{layer}_{head} label").click()
    page.locator(".st-key-why_apply button").click()  # the switches are one form, applied together
    settle(page)
    after = value.inner_text().strip()
    shoot(page, "why_head_off")
    assert not problems(page), problems(page)
    assert after != before, f"switching head {head} of layer {layer} off did not change the probability shown"
    assert "1 head(s) off" in page.locator('[data-testid="stMain"]').inner_text()
