"""A decoder at work in a real browser (the shared server from conftest.py): the generation page's
logit lens and surprisal colouring (our char LM, and SmolLM2 when prepared), a branch made by clicking a
candidate, and the explorer's sink toggle."""
from __future__ import annotations

import pytest

from attnviz.bundles import prepare
from browser_support import open_page, problems, settle, shoot

pytestmark = pytest.mark.browser


def chart_titles(tab) -> list[str]:
    return [t.strip() for t in tab.locator(".js-plotly-plot .gtitle").all_text_contents()]


def generate(tab) -> None:
    tab.get_by_role("button", name="Generate").click()
    tab.wait_for_selector('[data-testid="stCode"]')
    settle(tab)


def check_lens_and_surprisal(tab) -> None:
    titles = chart_titles(tab)
    assert any(t.startswith("Logit lens") for t in titles), titles
    assert "Prompt and generated text, coloured by surprisal" in titles, titles
    lens = next(p for p in tab.locator(".js-plotly-plot").all() if "Logit lens" in p.locator(".gtitle").text_content())
    assert "embeddings" in [t.strip() for t in lens.locator("g.ytick text").all_text_contents()]
    surprise = next(p for p in tab.locator(".js-plotly-plot").all()
                    if "coloured by surprisal" in p.locator(".gtitle").text_content())
    assert "bits" in surprise.locator("g.colorbar").text_content()  # coloured by surprisal in bits
    captions = " ".join(tab.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert "nats per character" in captions


def test_generation_lens_surprisal_and_a_branch_by_clicking_a_candidate(page, server):
    open_page(page, server, "generation?model=lm&max_new=16&t=1.0&seed=3")
    generate(page)
    assert problems(page) == []
    check_lens_and_surprisal(page)
    trunk = page.locator('[data-testid="stCode"]').first.inner_text()
    shoot(page, "generation-decoder-lm")

    candidate = page.locator('[class*="st-key-generation_branch_0_"] button:not([disabled])').first
    candidate.click()
    settle(page)
    assert problems(page) == []
    assert "forced=0" in page.url
    branch = page.locator('[data-testid="stCode"]').first.inner_text()
    assert branch != trunk
    assert page.get_by_text("Two branches side by side").count() == 1
    shoot(page, "generation-branch-lm")


@pytest.mark.skipif(not prepare.is_prepared(), reason="SmolLM2 is not prepared here")
def test_generation_lens_and_surprisal_with_smollm2(page, server):
    open_page(page, server, f"generation?model={prepare.SMOLLM2.name}&max_new=6&t=0.0")
    page.locator('[data-testid="stMain"] textarea').first.fill("The capital of France is")
    generate(page)
    assert problems(page) == []
    check_lens_and_surprisal(page)
    shoot(page, "generation-decoder-smollm2")


def test_explorer_sink_toggle(page, server):
    open_page(page, server, "explorer?model=lm&text=ROMEO:+But+soft")
    page.get_by_text("Hide attention sinks").click()
    settle(page)
    assert problems(page) == []
    assert "hide_sinks=1" in page.url
    assert page.get_by_text("Sinks hidden", exact=False).count() >= 1
    shoot(page, "explorer-sinks-hidden")
