"""The explorer's scalable views in a real browser (same server and helpers as test_browser.py):
a deep link with layer, head and toggles on a fresh server, a click on the all-heads grid, the line,
query/key and timeline views naming the right head or step, and the payload and render time at 30
and 500 tokens, recorded in test-artifacts/explorer_payload.json (recorded, not asserted, except
the 5 MB payload bound)."""
from __future__ import annotations

import json
import os
import re
import urllib.parse

import numpy as np
import pytest

import attnviz
from attnviz.text.display import readable_token
from attnviz.plots.attention import is_picture
from browser_support import (ARTIFACTS, FLIPPER_JS, VIEWS_JS, chart_titles, flipper_shows_js, open_page, plotly_title_js, problems, serve_app, settle, shoot,
                             slider_shows_js, slow_factor, timed_action, timed_action_synced, views_show_js)

pytestmark = pytest.mark.browser

MINILM = "all-MiniLM-L6-v2"
WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends who "
         "travel across the country to find a lost dog while the music keeps the mood light").split()
MAX_PAYLOAD = 5_000_000


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


def flipper_data(page) -> dict:
    """The head flipper's picture URLs as the page has them (the preloaded images, in head order)."""
    return {"heads": page.evaluate("() => %s.__attnvizFlipper.data.heads" % FLIPPER_JS)}


def test_a_long_text_switches_heads_in_the_browser_and_the_server_follows(page, server):
    """Issue 19: at 300 tokens the head flipper draws a picked head at once (buttons, arrow keys, a
    click in the grid), then the sliders and the link follow; the hover readout names the tokens and
    the weight there, within half a colour step of the model's own weight."""
    text = _sentence(300)
    open_page(page, server, link(text=text))
    page.wait_for_function(flipper_shows_js(0, 0))
    settle(page)
    flipper = page.locator(".flipper")
    # a click on head 5's button and a look in the same task of the page: no answer from the server
    # can have come in between, so the head is drawn by the browser alone
    seen = page.evaluate("""() => { const f = %s;
        [...f.querySelectorAll('.heads button')][5].click();
        return [f.querySelector('.head-title').textContent, f.querySelector('.head img').getAttribute('src'),
                document.querySelectorAll('[data-testid="stMain"] [data-testid="stSliderThumbValue"]')[1].textContent];
    }""" % FLIPPER_JS)
    assert seen[0] == "Layer 0, head 5" and seen[2] == "0", seen
    assert seen[1] == flipper_data(page)["heads"][5]
    page.wait_for_function(slider_shows_js(1, 5) + " && location.search.includes('head=5')")
    settle(page, quiet_s=0.5)
    flipper.press("ArrowDown")  # another layer: its pictures come from the server
    page.wait_for_function(flipper_shows_js(1, 5))
    page.wait_for_function(slider_shows_js(0, 1))
    settle(page, quiet_s=0.5)
    grid = flipper.locator(".grid img")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    # the middle of block (layer 3, head 2): 6 x 12 blocks of 1/12 of the width (gaps are small)
    page.mouse.click(box["x"] + box["width"] * (2.5 / 12), box["y"] + box["height"] * (3.5 / 6))
    page.wait_for_function(flipper_shows_js(3, 2))
    page.wait_for_function(slider_shows_js(0, 3) + " && " + slider_shows_js(1, 2))
    settle(page)
    assert "layer=3" in page.url and "head=2" in page.url
    picture = flipper.locator(".head img")
    picture.scroll_into_view_if_needed()
    side = picture.bounding_box()
    weights = attnviz.load(MINILM).trace(text).weights[3, 2]
    for fx, fy in ((0.1, 0.5), (0.02, 0.9), (0.5, 0.5)):
        page.mouse.move(side["x"] + fx * side["width"], side["y"] + fy * side["height"])
        readout = flipper.locator(".readout").inner_text()
        match = re.search(r"query #(\d+) .* key #(\d+) .*weight ≈ ([\d.]+) \(± ([\d.]+)\)", readout)
        assert match, readout
        query, key, shown, half_step = int(match[1]), int(match[2]), float(match[3]), float(match[4])
        assert abs(shown - weights[query, key]) <= half_step + 1e-4, (readout, weights[query, key])
    page.get_by_role("slider").nth(1).focus()
    page.get_by_role("slider").nth(1).press("ArrowRight")  # the server's slider moves the flipper too
    page.wait_for_function(flipper_shows_js(3, 3))
    settle(page)
    shoot(page, "views-flipper-300")
    assert problems(page) == []
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: buttons to tap, nothing wider than it
    page.wait_for_timeout(300)
    boxes = [b.bounding_box() for b in flipper.locator(".heads button").all()]
    assert len(boxes) == 12 and all(b["width"] >= 32 and b["height"] >= 32 for b in boxes), boxes
    assert max(b["x"] + b["width"] for b in boxes) <= 390
    assert flipper.locator(".head img").bounding_box()["width"] <= 390
    shoot(page, "views-flipper-300-phone")


def test_a_long_texts_head_downloads_as_gzip_csv_with_the_models_weights(page, server):
    """Issue 19: a long trace is too big for one CSV, so the head shown is offered as gzip CSV/JSON;
    picked in the flipper, its button names it and the file holds exactly that head's weights."""
    import gzip
    import io

    import pandas as pd

    text = _sentence(300)
    open_page(page, server, link(text=text))
    page.wait_for_function(flipper_shows_js(0, 0))
    settle(page)
    page.locator(".flipper .heads button").nth(5).click()
    button = page.get_by_role("button", name="Layer 0, head 5 (CSV, gzip)")
    button.wait_for(timeout=60_000)
    settle(page, quiet_s=0.5)
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename.endswith("L0H5.csv.gz")
    frame = pd.read_csv(io.BytesIO(gzip.decompress(open(download.value.path(), "rb").read())), keep_default_na=False)
    weights = attnviz.load(MINILM).trace(text).weights[0, 5]  # (queries, keys)
    assert set(frame["layer"]) == {0} and set(frame["head"]) == {5} and len(frame) == weights.size
    np.testing.assert_allclose(frame["weight"].to_numpy().reshape(weights.shape), weights, atol=1e-6)
    assert problems(page) == []


def test_a_long_texts_line_and_query_key_views_follow_the_flipper_in_the_browser(page, server):
    """Issue 19: with both views on, a head picked in the flipper redraws the line view and the
    query/key view before the server hears of it (checked without leaving the page's task for a
    message); the page's softmax of q·k/√d is the model's own attention row, and the line view draws
    the head's own lines."""
    from attnviz.plots.layer_views import pack_lines, unpack_lines

    text = _sentence(300)
    open_page(page, server, link(text=text, lines="1", qk="1"))
    page.wait_for_function(flipper_shows_js(0, 0) + " && " + views_show_js(0, 0))
    settle(page)
    seen = page.evaluate("""async () => { const f = %s, v = %s;
        [...f.querySelectorAll('.heads button')][3].click();
        for (let i = 0; i < 20; i++) await null;  // microtasks only: no message from the server in between
        const state = v.__attnvizViews;
        return {drawn: v.dataset.drawn, slider: document.querySelectorAll(
                    '[data-testid="stMain"] [data-testid="stSliderThumbValue"]')[1].textContent,
                lines: v.querySelector('.lines-title').textContent, qk: v.querySelector('.qk-title').textContent,
                weights: state.weights, segments: [...v.querySelectorAll('path[data-head="3"]')]
                    .map(p => (p.getAttribute('d').match(/M/g) || []).length).reduce((a, b) => a + b, 0)};
    }""" % (FLIPPER_JS, VIEWS_JS))
    assert seen["drawn"] == "0.3" and seen["slider"] == "0", seen["drawn"]
    assert seen["lines"].endswith("layer 0, lines of head(s) 3") and seen["qk"].startswith("Layer 0, head 3: how")
    trace = attnviz.load(MINILM).trace(text)
    assert (seen["weights"]["head"], seen["weights"]["query"]) == (3, 0)
    assert np.allclose(seen["weights"]["weights"], trace.weights[0, 3, 0], atol=2e-3)  # q, k in float16
    assert seen["segments"] == len(unpack_lines(pack_lines(trace, 0))[3][0])
    page.wait_for_function(slider_shows_js(1, 3))  # then the server follows
    settle(page)
    assert problems(page) == []
    shoot(page, "views-browser-lines-qk-300")


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
    assert any("layer 4, lines of head(s) 9" in t for t in chart_titles(page))


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
    shown = [t for t in chart_titles(page) if t.startswith("Step ")]
    assert len(shown) == 2 and all(t.startswith("Step 3: ") for t in shown), shown
    assert f"(chosen {readable_token(generated[len(prompt) + 3])})" in shown[1]
    step.press("End")
    wait_title(page, "Step 199: choosing")
    settle(page)
    shoot(page, "views-timeline")
    assert problems(page) == []
    assert any(t.startswith("Step 199: the candidates") for t in chart_titles(page))


def _sentence(n_words: int) -> str:
    return " ".join((WORDS * (n_words // len(WORDS) + 1))[:n_words])


# issue 19's goals at 512 tokens (quiet 2-core machine), stretched by ATTNVIZ_SLOW_FACTOR on busy ones
PAYLOAD_GOALS = {"received_bytes": 2_000_000, "head_move_received_bytes": 500_000}
PAYLOAD_GOALS_WITH_VIEWS = {"received_bytes": 2_000_000}
# head_move_s: the new head drawn (by the head flipper and, with the views on, the line and query/key
# views too, before the server hears of it); synced: the server in step as well (sliders, link)
TIME_GOALS = {"submit_to_render_s": 1.5, "head_move_s": 0.4, "head_move_synced_s": 0.4}
TIME_GOALS_WITH_VIEWS = {"submit_to_render_s": 2.0, "head_move_s": 0.6, "head_move_synced_s": 0.6}
# The time goals are checked only when ATTNVIZ_CHECK_TIME_GOALS=1 (on a quiet machine): the project keeps
# timings out of pass/fail (they are recorded here and in the README); the payload goals always hold.
CHECK_TIME_GOALS = os.environ.get("ATTNVIZ_CHECK_TIME_GOALS") == "1"


def _measure(page, server, text: str, n_tokens: int, query: dict[str, str]) -> dict:
    """Submit `text` on an open explorer and move the head: seconds until the page shows the result,
    is idle and has painted (timed in the browser: `timed_action`), and bytes received (websocket
    frames and pictures fetched from the media store).
    A long text's head move is drawn by the head flipper before the server hears of it: head_move_s is
    until the new head is drawn, head_move_synced_s until the server has also moved the Head slider
    (and the link and any line and query/key views) and gone idle."""
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: received.append(len(data))))
    # pictures of a long text come over HTTP from Streamlit's media store: counted with the websocket
    page.on("response", lambda r: received.append(int(r.headers.get("content-length", 0)))
            if "/media/" in r.url else None)
    open_page(page, server, link(text="hello", **query))
    settle(page)
    received.clear()
    box = page.locator('[data-testid="stMain"] textarea').first
    box.fill(text)
    long_text = is_picture(n_tokens, n_tokens)
    counted = f"document.querySelector('[data-testid=\"stMain\"]').innerText.includes('sees them ({n_tokens})')"
    head_shown = flipper_shows_js if long_text else lambda layer, head: plotly_title_js(f"Layer {layer}, head {head}")
    drawn = head_shown(0, 0) + (" && " + views_show_js(0, 0) if long_text and query else "")
    render_s = timed_action(page, lambda: box.press("Control+Enter"), counted + " && " + drawn)
    settle(page, quiet_s=0.5)
    text_bytes = sum(received)
    received.clear()
    if long_text:
        flipper = page.locator(".flipper")
        flipper.focus()
        shown = head_shown(0, 1) + (" && " + views_show_js(0, 1) if query else "")
        move_s, synced_s = timed_action_synced(page, lambda: flipper.press("ArrowRight"), shown,
                                               slider_shows_js(1, 1) + " && location.search.includes('head=1')")
    else:
        slider = page.get_by_role("slider").nth(1)  # Layer, Head in the explorer fragment
        slider.focus()
        move_s = synced_s = timed_action(page, lambda: slider.press("ArrowRight"), head_shown(0, 1))
    move_started_s = page.evaluate("window.__attnvizRunning")
    settle(page, quiet_s=0.5)
    return {"tokens": n_tokens, "submit_to_render_s": round(render_s, 2), "received_bytes": text_bytes,
            "head_move_s": round(move_s, 2), "head_move_synced_s": round(synced_s, 2),
            "head_move_script_started_s": move_started_s and round(move_started_s, 2),
            "head_move_received_bytes": sum(received)}


def _record(name: str, record: dict) -> None:
    path = ARTIFACTS / "explorer_payload.json"
    records = json.loads(path.read_text()) if path.exists() else {}
    records[name] = record
    path.write_text(json.dumps(records, indent=2))


@pytest.mark.parametrize("views", [False, True], ids=["plain", "lines-and-qk"])
def test_512_tokens_meet_the_speed_and_payload_goals(page, server, views):
    """New text and a head move at 512 MiniLM tokens, recorded in test-artifacts/explorer_payload.json and
    held to the payload goals; to the time goals (x ATTNVIZ_SLOW_FACTOR) with ATTNVIZ_CHECK_TIME_GOALS=1."""
    text = _sentence(600)  # cut to MiniLM's 512-token context
    n_tokens = min(512, len(attnviz.load(MINILM).encode(text).tokens))
    query = {"lines": "1", "qk": "1"} if views else {}
    record = _measure(page, server, text, n_tokens, query)
    record.update(slow_factor=slow_factor(), load=round(os.getloadavg()[0], 1))
    _record(f"512-{'lines-and-qk' if views else 'plain'}", record)
    shoot(page, f"views-payload-512-{'views' if views else 'plain'}")
    assert problems(page) == []
    goals = dict(PAYLOAD_GOALS_WITH_VIEWS if views else PAYLOAD_GOALS)
    if CHECK_TIME_GOALS:
        goals.update(TIME_GOALS_WITH_VIEWS if views else TIME_GOALS)
    missed = {k: (record[k], limit * slow_factor()) for k, limit in goals.items() if record[k] > limit * slow_factor()}
    assert not missed, (missed, record)


def test_a_short_text_is_recorded(page, server):
    text = _sentence(26)
    record = _measure(page, server, text, len(attnviz.load(MINILM).encode(text).tokens), {})
    _record("26-words", record)
    assert problems(page) == []
    assert record["received_bytes"] <= MAX_PAYLOAD, record


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


def test_a_phone_gets_a_head_selector_and_compact_why_switches(page, server):
    """At 390 px (issue 19): the grid's heads are small, so the Layer and Head sliders sit right below
    it in the main area; the Why page's layers x heads switches wrap into rows instead of stacking
    ~3,500 px tall."""
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, server, link(text="The cat sat on the mat."))
    wait_title(page, "Layer 0, head 0")
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    for label in ("Layer", "Head"):
        slider = main.locator('[data-testid="stSlider"]').filter(has=page.get_by_text(label, exact=True))
        box = slider.first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    open_page(page, server, "why?task=sentiment&text=" + urllib.parse.quote("The film was not good at all."))
    page.get_by_text("Switch all heads on").wait_for()
    settle(page)
    shoot(page, "phone-why")
    assert problems(page) == []
    top = main.get_by_text("Layer 0", exact=True).first.bounding_box()["y"]
    bottom = page.get_by_role("button", name="Switch all heads on").bounding_box()["y"]
    assert bottom - top < 1_200, f"the switches take {bottom - top:.0f} px"
