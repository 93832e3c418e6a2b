"""The explorer's scalable views in a real browser (same server and helpers as test_browser.py):
a deep link with layer, head and toggles on a fresh server, a click on the all-heads grid, the line,
query/key and timeline views naming the right head or step, and the payload and render time at 30
and 500 tokens, recorded in test-artifacts/explorer_payload.json (recorded, not asserted, except
the 5 MB payload bound)."""
from __future__ import annotations

import json
import os
import time
import urllib.parse

import pytest

import attnviz
from browser_support import ARTIFACTS, open_page, problems, serve_app, settle, shoot, slow_factor

pytestmark = pytest.mark.browser

MINILM = "all-MiniLM-L6-v2"
WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends who "
         "travel across the country to find a lost dog while the music keeps the mood light").split()
MAX_PAYLOAD = 5_000_000


def titles(tab) -> list[str]:
    return [t.strip() for t in tab.locator(".js-plotly-plot .gtitle").all_text_contents()]


def wait_title(tab, prefix: str) -> None:
    tab.wait_for_function("""p => [...document.querySelectorAll('.js-plotly-plot .gtitle')]
        .some(t => t.textContent.trim().startsWith(p))""", arg=prefix)


def link(**query: str) -> str:
    return "explorer?" + urllib.parse.urlencode({"model": MINILM, **query})


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """A server that has served nothing yet (the shared one has, by now)."""
    env = dict(os.environ, ATTNVIZ_USER_MODELS=str(tmp_path_factory.mktemp("user_models")))
    with serve_app(env, "streamlit-fresh.log") as url:
        yield url


def test_a_deep_link_opens_the_same_view_on_a_fresh_server(page, fresh_server):
    open_page(page, fresh_server, link(text="unbelievably good embeddings", layer="3", head="5",
                                 hide_special="1", merge="1"))
    wait_title(page, "Layer 3, head 5")
    settle(page)
    shoot(page, "views-deep-link")
    assert problems(page) == []
    for label in ("Hide special tokens", "Merge word pieces into words"):
        assert page.locator(f'[data-testid="stMain"] label:has-text("{label}") input').is_checked(), label
    head = next(p for p in page.locator(".js-plotly-plot").all()
                if p.locator(".gtitle").text_content().strip() == "Layer 3, head 5")
    ticks = [t.strip() for t in head.locator("g.xtick text").all_text_contents()]
    assert "unbelievably" in ticks and "[CLS]" not in ticks
    assert "layer=3" in page.url and "head=5" in page.url


def test_clicking_a_head_in_the_grid_shows_it_below(page, server):
    open_page(page, server, link(text="The cat sat on the mat."))
    wait_title(page, "Layer 0, head 0")
    settle(page)
    # the middle of block (layer 2, head 7), from the click targets' own coordinates
    x, y = page.evaluate("""() => {
        const grid = [...document.querySelectorAll('.js-plotly-plot')]
            .find(p => p.querySelector('.gtitle').textContent.startsWith('All heads'));
        const targets = grid.data[1], layout = grid._fullLayout;
        const i = targets.customdata.findIndex(c => c[0] == 2 && c[1] == 7);
        const box = grid.getBoundingClientRect();
        return [box.left + layout.xaxis._offset + layout.xaxis.d2p(targets.x[i]),
                box.top + layout.yaxis._offset + layout.yaxis.d2p(targets.y[i])];
    }""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    wait_title(page, "Layer 2, head 7")
    settle(page)
    shoot(page, "views-grid-click")
    assert problems(page) == []
    assert "layer=2" in page.url and "head=7" in page.url


def test_line_and_query_key_views_follow_the_chosen_head(page, server):
    open_page(page, server, link(text="The animal did not cross the street.", layer="4", head="9"))
    wait_title(page, "Layer 4, head 9")
    page.get_by_text("Line view: each query").click()
    settle(page, quiet_s=0.5)
    page.get_by_text("Query and key vectors").click()
    wait_title(page, "Layer 4, head 9: how")
    settle(page)
    shoot(page, "views-lines-qk")
    assert problems(page) == []
    assert any("layer 4, lines of head(s) 9" in t for t in titles(page))


def test_generation_timeline_names_the_step(page, server):
    """The page's defaults (the character LM, 200 new tokens past a 128-character context): the step
    moved to is the one both charts show, its chosen token is that character of the generated text,
    and the last step (read from a cropped window) has a timeline too."""
    open_page(page, server, "generation")
    prompt = page.locator('[data-testid="stMain"] textarea').first.input_value()
    page.get_by_role("button", name="Generate").click()
    wait_title(page, "Step 0: choosing")
    settle(page)
    generated = page.locator('[data-testid="stMain"] [data-testid="stCode"] code').first.inner_text()
    assert generated.startswith(prompt)
    step = (page.locator('[data-testid="stSlider"]').filter(has=page.get_by_text("Step", exact=True))
            .get_by_role("slider"))
    step.focus()
    for _ in range(3):
        step.press("ArrowRight")
    wait_title(page, "Step 3: choosing")
    settle(page)
    shown = [t for t in titles(page) if t.startswith("Step ")]
    assert len(shown) == 2 and all(t.startswith("Step 3: ") for t in shown), shown
    assert f"(chosen: {generated[len(prompt) + 3]!r})" in shown[1]
    step.press("End")
    wait_title(page, "Step 199: choosing")
    settle(page)
    shoot(page, "views-timeline")
    assert problems(page) == []
    assert any(t.startswith("Step 199: the candidates") for t in titles(page))


def _sentence(n_words: int) -> str:
    return " ".join((WORDS * (n_words // len(WORDS) + 1))[:n_words])


@pytest.mark.parametrize("n_words", [26, 480])
def test_payload_and_render_time_are_recorded(page, server, n_words):
    """Bytes the server sends over the websocket and the time from submit to a settled page."""
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: received.append(len(data))))
    page.add_init_script("""window.__longtasks = [];
        new PerformanceObserver(list => list.getEntries().forEach(e => window.__longtasks.push(e.duration)))
            .observe({entryTypes: ['longtask']});""")
    text = _sentence(n_words)
    n_tokens = len(attnviz.load(MINILM).encode(text).tokens)
    open_page(page, server, link(text="hello"))
    settle(page)
    received.clear()
    page.evaluate("window.__longtasks = []")
    box = page.locator('[data-testid="stMain"] textarea').first
    box.fill(text)
    start = time.monotonic()
    box.press("Control+Enter")
    page.wait_for_function("""n => document.querySelector('[data-testid="stMain"]').innerText
        .includes(`sees them (${n})`)""", arg=n_tokens)
    wait_title(page, "Layer 0, head 0")
    settle(page, quiet_s=0.5)
    render_s = time.monotonic() - start
    text_bytes = sum(received)
    longest = max(page.evaluate("window.__longtasks") or [0])
    received.clear()
    slider = page.get_by_role("slider").nth(1)  # Layer, Head in the explorer fragment
    slider.focus()
    start = time.monotonic()
    slider.press("ArrowRight")
    wait_title(page, "Layer 0, head 1")
    settle(page, quiet_s=0.5)
    move_s = time.monotonic() - start
    record = {"words": n_words, "tokens": n_tokens, "submit_to_render_s": round(render_s, 2), "websocket_bytes": text_bytes,
              "longest_main_thread_task_ms": round(longest), "head_move_s": round(move_s, 2),
              "head_move_websocket_bytes": sum(received)}
    path = ARTIFACTS / "explorer_payload.json"
    records = json.loads(path.read_text()) if path.exists() else {}
    records[str(n_words)] = record
    path.write_text(json.dumps(records, indent=2))
    shoot(page, f"views-payload-{n_words}")
    assert problems(page) == []
    assert text_bytes <= MAX_PAYLOAD and sum(received) <= MAX_PAYLOAD, record


def test_a_phone_width_fits_the_charts(page, server):
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, server, link(text="The cat sat on the mat."))
    wait_title(page, "Layer 0, head 0")
    settle(page)
    shoot(page, "views-phone")
    assert problems(page) == []
    widths = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')]"
                           ".map(p => p.getBoundingClientRect().right)")
    assert widths and max(widths) <= 390, widths
    assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').count() >= 1
