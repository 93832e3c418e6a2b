"""How long a head move takes in the explorer, in a real Chromium: the median of several moves, each
timed by the page's own clock (browser_support.timed_action: from the key press until the new head is
drawn, the script is idle and two frames are painted), as tests/test_browser_views.py times one move.

    .venv/bin/python scripts/measure_head_move.py [--words 600] [--moves 8] [--views] [--slider]

A long text (over 128 tokens) is shown by the head flipper: a move is the → key in it, drawn in the
browser (with --views, the line and query/key views too) before the server hears of it; "synced" is
until the server has also moved the Head slider and gone idle. --slider moves the Head slider instead (a
server round trip before anything is drawn). A short text moves the Head slider (plotly heatmaps).
--views turns on the line and query/key views. MiniLM reads at most 512 tokens. --bare times a slider
move on a bare Streamlit page (one fragment: a Head slider and one small heatmap), Streamlit's own
floor. Needs Chromium (see README: $CHROMIUM or `chromium` on the PATH). Take the numbers on a quiet
machine and say its load.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends who "
         "travel across the country to find a lost dog while the music keeps the mood light").split()

BARE_APP = """import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("A bare fragment")


@st.fragment
def head_view():
    head = st.slider("Layer", 0, 5, key="layer") * 0 + st.slider("Head", 0, 11, key="head")
    z = np.random.default_rng(head).random((28, 28))
    st.plotly_chart(go.Figure(go.Heatmap(z=z), layout=dict(title=f"Layer 0, head {head}")), key="head_chart")


head_view()
"""


@contextlib.contextmanager
def serve_bare():
    """The bare page on a free port (the same way browser_support.serve_app starts app.py)."""
    from browser_support import _free_port, _healthy

    with tempfile.TemporaryDirectory() as folder:
        app = Path(folder) / "bare.py"
        app.write_text(BARE_APP)
        port = _free_port()
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                                    "--server.headless", "true", "--server.address", "127.0.0.1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while not _healthy(url):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bare Streamlit page did not start")
                time.sleep(0.25)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=600, help="words in the text (MiniLM keeps 512 tokens)")
    parser.add_argument("--moves", type=int, default=8, help="head moves to time")
    parser.add_argument("--views", action="store_true", help="with the line and query/key views on")
    parser.add_argument("--bare", action="store_true", help="a bare Streamlit page instead of the explorer")
    parser.add_argument("--slider", action="store_true", help="move the Head slider, not the head flipper")
    args = parser.parse_args()

    from browser_support import (flipper_shows_js, plotly_title_js, serve_app, settle, slider_shows_js,
                                 timed_action, timed_action_synced, views_show_js)
    from chromium import find_chromium
    from playwright.sync_api import sync_playwright

    import attnviz
    from attnviz.plots.attention import is_picture

    text = " ".join((WORDS * (args.words // len(WORDS) + 1))[: args.words])
    n_tokens = min(512, len(attnviz.load("all-MiniLM-L6-v2").encode(text).tokens))
    flipper = not args.bare and is_picture(n_tokens, n_tokens)
    query = {"model": "all-MiniLM-L6-v2", "text": text, **({"lines": "1", "qk": "1"} if args.views else {})}
    env = dict(os.environ, ATTNVIZ_REQUIRE_BROWSER="1")
    server = serve_bare() if args.bare else serve_app(env, "measure-head-move.log")
    with server as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(find_chromium()))
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)
        page.goto(url if args.bare else f"{url}/explorer?" + urllib.parse.urlencode(query))
        page.wait_for_function(flipper_shows_js(0, 0) if flipper else plotly_title_js("Layer 0, head 0"))
        if not args.bare:
            settle(page)
        time.sleep(1)
        seconds, synced = [], []
        for move in range(args.moves):
            head = 1 if move % 2 == 0 else 0  # back and forth between heads 0 and 1
            key = "ArrowRight" if head else "ArrowLeft"
            shown = flipper_shows_js(0, head) if flipper else plotly_title_js(f"Layer 0, head {head}")
            if flipper and args.views:  # the line and query/key views drawn for the new head too
                shown += " && " + views_show_js(0, head)
            if flipper and not args.slider:
                target = page.locator(".flipper")
                target.focus()
                move_s, synced_s = timed_action_synced(page, lambda: target.press(key), shown,
                                                       slider_shows_js(1, head))
                seconds.append(move_s)
                synced.append(synced_s)
            else:
                slider = page.get_by_role("slider").nth(1)  # Layer, Head
                slider.focus()
                seconds.append(timed_action(page, lambda: slider.press(key), shown))
            time.sleep(0.5)
        browser.close()
    load = os.getloadavg()[0]
    what = "a bare Streamlit fragment" if args.bare else f"{args.words} words ({n_tokens} tokens)" + (
        " with the line and query/key views" if args.views else "") + (
        ", Head slider" if args.slider or not flipper else ", head flipper")
    line = (f"{what}, load {load:.1f}: head move median {statistics.median(seconds):.2f} s, "
            f"range {min(seconds):.2f}-{max(seconds):.2f} s over {len(seconds)} moves")
    if synced:
        line += f"; server in step (synced) median {statistics.median(synced):.2f} s, range {min(synced):.2f}-{max(synced):.2f} s"
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
