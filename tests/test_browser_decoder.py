"""A decoder at work in a real browser (the shared server from conftest.py): the generation page's
logit lens and surprisal colouring (our char LM, and SmolLM2 when prepared), a branch made by clicking a
candidate, and the explorer's sink toggle."""
from __future__ import annotations

import pytest

from attnviz.bundles import prepare
from browser_support import chart_titles, cut_titles, open_page, problems, settle, shoot

pytestmark = pytest.mark.browser


def generate(tab) -> None:
    tab.get_by_role("button", name="Generate").click()
    tab.wait_for_selector('[data-testid="stCode"]')
    settle(tab)


def check_lens_and_surprisal(tab) -> None:
    titles = chart_titles(tab)
    assert any(t.startswith("Logit lens") for t in titles), titles
    assert "Prompt and generated text, coloured by surprisal" in titles, titles
    lens = plot_titled(tab, "Logit lens")
    assert "embeddings" in [t.strip() for t in lens.locator("g.ytick text").all_text_contents()]
    surprise = plot_titled(tab, "coloured by")
    assert "bits" in surprise.locator("g.colorbar").text_content()  # coloured by surprisal in bits
    captions = " ".join(tab.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert "nats per character" in captions


def plot_titled(tab, title: str):
    return next(p for p in tab.locator(".js-plotly-plot").all() if title in (p.locator(".gtitle").text_content() or ""))


def unchosen_cell(plot, step: int) -> int:
    """The index of a candidate at `step` that is not the token taken there (the outlined cells are)."""
    return plot.evaluate("""(gd, step) => {
        const layer = gd.data[1];
        const taken = (gd.layout.shapes || []).filter(s => s.x0 + 0.5 === step).map(s => s.y0 + 0.5);
        return layer.x.findIndex((x, i) => x === step && !taken.includes(layer.y[i]));
    }""", step)


def overlapping_cells(plot) -> list[str]:
    """Texts of neighbouring candidate cells (same row) whose boxes overlap."""
    return plot.evaluate("""p => {
        const boxes = [...p.querySelectorAll('.heatmaplayer text')].filter(t => t.textContent)
            .map(t => ({r: t.getBoundingClientRect(), s: t.textContent}));
        const rows = {};
        boxes.forEach(b => (rows[Math.round(b.r.top)] ||= []).push(b));
        return Object.values(rows).flatMap(row => {
            row.sort((a, b) => a.r.left - b.r.left);
            return row.slice(1).flatMap((b, i) => b.r.left < row[i].r.right - 0.5 ? [row[i].s + "|" + b.s] : []);
        });
    }""")


def branch_shown(tab) -> str:
    """The "Branch shown" selectbox's label and value as text."""
    box = tab.locator('[class*="st-key-generation_current"]')
    return box.inner_text() + " " + " ".join(box.locator("input").evaluate_all("inputs => inputs.map(i => i.value)"))


def test_generation_lens_surprisal_and_a_branch_by_clicking_a_candidate(page, server):
    open_page(page, server, "generation?model=lm&max_new=16&t=1.0&seed=3")
    generate(page)
    assert problems(page) == []
    check_lens_and_surprisal(page)
    trunk = page.locator('[data-testid="stCode"]').first.inner_text()
    shoot(page, "generation-decoder-lm")
    assert cut_titles(page) == []
    assert page.get_by_text("Click a candidate to branch", exact=False).count() == 1

    chart = plot_titled(page, "Candidates per step")
    assert overlapping_cells(chart) == []
    step = 2
    index = unchosen_cell(chart, step)
    assert index >= 0
    cell = chart.locator(".scatterlayer .trace .points path.point").nth(index)  # the cell's clickable marker
    chart.scroll_into_view_if_needed()  # the main area scrolls: a mouse click needs the cell on screen
    box = cell.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a click on the cell
    settle(page)
    assert problems(page) == []
    assert f"forced={step}%3A" in page.url or f"forced={step}:" in page.url, page.url
    branch = page.locator('[data-testid="stCode"]').first.inner_text()
    assert branch != trunk
    prompt = page.locator('[data-testid="stMain"] textarea').first.input_value()
    assert branch[:len(prompt) + step] == trunk[:len(prompt) + step]  # one character per step
    assert page.get_by_text("Two branches side by side").count() == 1
    assert f"1: step {step} →" in branch_shown(page)
    shoot(page, "generation-branch-lm")

    # back to the trunk: the click already handled must not make (or show) the branch again
    page.locator('[class*="st-key-generation_current"] input').click()
    page.get_by_role("option", name="0: trunk").click()
    settle(page)
    assert page.locator('[data-testid="stCode"]').first.inner_text() == trunk
    assert "forced" not in page.url
    assert "0: trunk" in branch_shown(page)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: titles and cells still whole
    settle(page, quiet_s=0.5)
    shoot(page, "generation-branch-lm-390")
    assert cut_titles(page) == []
    assert overlapping_cells(plot_titled(page, "Candidates per step")) == []


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
