"""What the browser tests share: `streamlit run app.py` on a free loopback port, driven by Playwright
with Debian's Chromium (never `playwright install`), and helpers to open, settle and photograph pages.
The fixtures (one server and one Chromium for the whole session) are in conftest.py.

Chromium is $CHROMIUM, else found on PATH (tests/chromium.py); without it the tests are skipped,
unless ATTNVIZ_REQUIRE_BROWSER=1 (CI), where that is a failure.

Every wait scales with ATTNVIZ_SLOW_FACTOR (default 1; e.g. 3 on a machine under load ~10): the
waits are generous already (a page may take 120 s to settle), and the timing goals that some tests
assert are multiplied by the same factor.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from chromium import find_chromium, missing_message
from conftest import REPO_ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
PAGES = ["home", "explorer", "positional", "sentiment", "ner", "generation", "compare", "train", "why",
         "minimal_pairs", "heads", "search", "verify"]


def slow_factor() -> float:
    """ATTNVIZ_SLOW_FACTOR as a number >= 1 (a busy machine: waits and timing goals stretch by it)."""
    try:
        return max(1.0, float(os.environ.get("ATTNVIZ_SLOW_FACTOR", "1")))
    except ValueError:
        return 1.0


def wait_ms(seconds: float) -> int:
    """A browser wait of `seconds` on a quiet machine, stretched by ATTNVIZ_SLOW_FACTOR, in ms."""
    return int(seconds * slow_factor() * 1000)


START_TIMEOUT_S = 120 * slow_factor()
SETTLE_TIMEOUT_MS = wait_ms(120)  # a page that loads a model can take a while on a busy machine
SENTENCE = "the film was good and the actors were funny"


def _require_browser() -> None:
    if find_chromium() is not None:
        return
    message = missing_message()
    if os.environ.get("ATTNVIZ_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (ATTNVIZ_REQUIRE_BROWSER=1: the browser tests must run here)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def serve_app(env: dict[str, str], log_name: str = "streamlit.log"):
    """`streamlit run app.py` on a free loopback port with this environment; yields its base URL and
    stops the server afterwards. Its output goes to test-artifacts/<log_name>."""
    _require_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # parallel workers each run a server: one log each
    log_path = ARTIFACTS / (f"{worker}-{log_name}" if worker else log_name)
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=REPO_ROOT, env={**env, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within {START_TIMEOUT_S} s")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def settle(tab, quiet_s: float = 1.0) -> float:
    """Wait until the script has run and stayed idle for `quiet_s` (no running indicator); returns
    the time.monotonic() at which it went idle (so a timing does not count the quiet wait)."""
    tab.wait_for_selector('[data-testid="stApp"]', state="attached")
    tab.wait_for_selector('[data-testid="stMain"] h1', state="visible")
    deadline = time.monotonic() + SETTLE_TIMEOUT_MS / 1000
    idle_since = None
    while time.monotonic() < deadline:
        state = tab.get_attribute('[data-testid="stApp"]', "data-test-script-state")
        running = tab.locator('[data-testid="stStatusWidgetRunningIcon"], '
                              '[data-testid="stStatusWidgetRunningManIcon"]').count()
        if state != "running" and not running:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= quiet_s:
                return idle_since
        else:
            idle_since = None
        time.sleep(0.2)
    raise AssertionError(f"the page did not settle within {SETTLE_TIMEOUT_MS // 1000} s")


_ARM_TIMER = """([done, synced]) => {
    // the page's own clock: from now until `done` holds and the script is idle, plus two frames (painted);
    // checked on every change of the page and every frame (changes inside a component's shadow root are
    // not seen by the observer). With `synced`: also until the server has run after the action, gone
    // idle and `synced` holds (a change drawn in the browser first, the server following).
    const app = document.querySelector('[data-testid="stApp"]');
    const start = performance.now();
    window.__attnvizElapsed = null;
    window.__attnvizSynced = null;
    window.__attnvizRunning = null;  // when the script started: the part of the time spent before the server ran
    const isDone = new Function('return (' + done + ')');
    const isSynced = synced ? new Function('return (' + synced + ')') : null;
    const painted = (name) => requestAnimationFrame(() => requestAnimationFrame(() => {
        window[name] = (performance.now() - start) / 1000; }));
    let shown = false, syncing = false;
    const check = () => {
        const running = app.getAttribute('data-test-script-state') === 'running';
        if (running && window.__attnvizRunning === null) window.__attnvizRunning = (performance.now() - start) / 1000;
        if (!shown && !running && isDone()) { shown = true; painted('__attnvizElapsed'); }
        if (!isSynced) return shown;
        if (!syncing && shown && !running && window.__attnvizRunning !== null && isSynced()) {
            syncing = true; painted('__attnvizSynced'); }
        return syncing;
    };
    const observer = new MutationObserver(check);
    const frame = () => { if (check()) observer.disconnect(); else requestAnimationFrame(frame); };
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    requestAnimationFrame(frame);
}"""


def timed_action(tab, action, done_js: str) -> float:
    """Seconds from `action()` until the JavaScript expression `done_js` holds on an idle, painted page,
    timed by the browser itself (a MutationObserver and every animation frame), not by polling from here."""
    tab.evaluate(_ARM_TIMER, [done_js, None])
    action()
    tab.wait_for_function("window.__attnvizElapsed !== null")
    return float(tab.evaluate("window.__attnvizElapsed"))


def timed_action_synced(tab, action, done_js: str, synced_js: str) -> tuple[float, float]:
    """(seconds until `done_js` holds, painted; seconds until the server has also run after the action,
    gone idle and `synced_js` holds, painted): for a change the browser draws before the server hears of it."""
    tab.evaluate(_ARM_TIMER, [done_js, synced_js])
    action()
    tab.wait_for_function("window.__attnvizSynced !== null")
    return float(tab.evaluate("window.__attnvizElapsed")), float(tab.evaluate("window.__attnvizSynced"))


# JavaScript conditions for timed_action: what the explorer shows
FLIPPER_JS = ("(window.__flipper && window.__flipper.isConnected ? window.__flipper : (window.__flipper = "
              "[...document.querySelectorAll('div')].map(e => e.shadowRoot && e.shadowRoot.querySelector('.flipper'))"
              ".find(Boolean)))")


def plotly_title_js(prefix: str) -> str:
    """A plotly chart's title starts with `prefix`."""
    return ("[...document.querySelectorAll('.js-plotly-plot .gtitle')]"
            f".some(t => t.textContent.trim().startsWith({prefix!r}))")


def flipper_shows_js(layer: int, head: int) -> str:
    """The head flipper (a long text) shows this head: its title and its picture, loaded."""
    return (f"(f => !!f && f.querySelector('.head-title').textContent === 'Layer {layer}, head {head}' && "
            "f.querySelector('.head img').complete && f.querySelector('.head img').naturalWidth > 0)("
            + FLIPPER_JS + ")")


VIEWS_JS = ("[...document.querySelectorAll('div')].map(e => e.shadowRoot && e.shadowRoot.querySelector('.views'))"
            ".find(Boolean)")


def views_show_js(layer: int, head: int) -> str:
    """A long text's line and query/key views (layer_views.js) are drawn for this head."""
    return f"(v => !!v && v.dataset.drawn === '{layer}.{head}')({VIEWS_JS})"


def slider_shows_js(index: int, value: int) -> str:
    """The index-th slider of the main area shows `value` (Layer 0, Head 1 in the explorer)."""
    return ("([...document.querySelectorAll('[data-testid=\"stMain\"] [data-testid=\"stSliderThumbValue\"]')]"
            f"[{index}] || {{}}).textContent === '{value}'")


def open_page(tab, server: str, path: str) -> None:
    """Open a page by its URL (a link someone shared) and check that app.py ran: its navigation
    and sidebar are there, not Streamlit's automatic pages/ listing."""
    tab.goto(f"{server}/{path}", wait_until="domcontentloaded")
    settle(tab)
    nav = tab.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Attention explorer" in nav and "Train" in nav, (
        f"/{path} did not run app.py (the sidebar lists {nav.split()[:8]}): a link opened first on a "
        "fresh server ran the page file alone")


def problems(tab) -> list[str]:
    """Exceptions and error alerts on the page, as text."""
    found = [f"exception: {e.inner_text()[:300]}" for e in tab.locator('[data-testid="stException"]').all()]
    errors = tab.locator('[data-testid="stAlert"] [data-testid="stAlertContentError"]').all()
    found += [f"error: {e.inner_text()[:300]}" for e in errors]
    if tab.get_by_text("Page not found", exact=True).count():  # Streamlit's dialog for an unknown URL
        found.append(f"page not found: {tab.url}")
    return found


def chart_titles(tab) -> list[str]:
    """Each chart's title as one line (a wrapped title's lines joined by spaces)."""
    return tab.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .gtitle')].map(t => {
        const lines = [...t.querySelectorAll('tspan.line')].map(l => l.textContent.trim());
        return (lines.length ? lines.join(' ') : t.textContent).trim();
    })""")


def cut_titles(tab) -> list[str]:
    """Chart and axis titles that run past an edge of their chart (cut off on screen)."""
    return tab.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(p => {
        const box = p.getBoundingClientRect();
        return [...p.querySelectorAll('.gtitle, text[class$="title"]')].filter(t => t.textContent).flatMap(t => {
            const tb = t.getBoundingClientRect();
            return tb.right > box.right + 1 || tb.left < box.left - 1 ? [t.textContent] : [];
        });
    })""")


def titles_under_legends(tab) -> list[str]:
    """Chart titles that a legend is drawn over (their boxes overlap), as "title | legend" texts."""
    return tab.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(p => {
        const title = p.querySelector('.gtitle'), legend = p.querySelector('.legend');
        if (!title || !title.textContent || !legend) return [];
        const a = title.getBoundingClientRect(), b = legend.getBoundingClientRect();
        const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
        return apart || b.width === 0 ? [] : [title.textContent + " | " + legend.textContent];
    })""")


def cut_tables(tab) -> list[str]:
    """Tables of the main area that run past the window's right edge without scrolling in a box of
    their own (their last columns cut off and out of reach), as the text of their first row."""
    return tab.evaluate("""() => [...document.querySelectorAll('[data-testid="stMain"] table')].flatMap(t => {
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(t).overflowX);
        const cut = t.getBoundingClientRect().right > window.innerWidth + 1 && !scrolls;
        return cut ? [(t.rows[0] ? t.rows[0].innerText : '').slice(0, 80)] : [];
    })""")


def overlapping_ticks(tab) -> list[str]:
    """Neighbouring x-axis tick labels of a chart drawn over each other (unreadable), as "a|b" texts.
    Level labels overlap when their boxes do; labels turned by an angle a when the distance between
    neighbours across the text's direction (their anchors' spacing x |sin a|) is under 0.9 of the font size."""
    return tab.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(p => {
        const labels = [...p.querySelectorAll('g.xtick text')].filter(t => t.textContent.trim()).map(t => {
            const form = t.getAttribute('transform') || '';
            const turn = /rotate\\((-?[\\d.]+)/.exec(form), shift = /translate\\((-?[\\d.]+)/.exec(form);
            return {r: t.getBoundingClientRect(), s: t.textContent, angle: turn ? parseFloat(turn[1]) : 0,
                    at: (shift ? parseFloat(shift[1]) : 0) + parseFloat(t.getAttribute('x') || 0),
                    size: parseFloat(getComputedStyle(t).fontSize)};
        }).filter(b => b.r.width > 0).sort((a, b) => a.at - b.at);
        return labels.slice(1).flatMap((b, i) => {
            const a = labels[i];
            if (a.angle === 0 && b.angle === 0)
                return a.r.right <= b.r.left + 0.5 || a.r.bottom <= b.r.top + 0.5 ? [] : [a.s + "|" + b.s];
            const across = (b.at - a.at) * Math.abs(Math.sin(b.angle * Math.PI / 180));  // SVG px ~ CSS px
            return across >= 0.9 * b.size ? [] : [a.s + "|" + b.s];
        });
    })""")


def shoot(tab, name: str) -> None:
    """A screenshot of the whole page: the main area scrolls inside the window, so the window is
    made as tall as the content for the shot (up to 6000 px)."""
    size = tab.viewport_size
    height = tab.evaluate("""() => Math.max(...[...document.querySelectorAll(
        '[data-testid="stMain"], [data-testid="stMainBlockContainer"]')].map(e => e.scrollHeight))""")
    tab.set_viewport_size({"width": size["width"], "height": int(min(max(height + 80, size["height"]), 6000))})
    tab.wait_for_timeout(500)  # let the charts take the new size
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    tab.set_viewport_size(size)


def tick_texts(plot, axis: str = "x") -> list[str]:
    return [t.strip() for t in plot.locator(f"g.{axis}tick text").all_text_contents()]


