"""The app in a real browser: `streamlit run app.py` on a free loopback port, driven by Playwright
with Debian's Chromium (never `playwright install`). Screenshots of every page go to
test-artifacts/ for people to look at.

Chromium is $CHROMIUM, else found on PATH (tests/chromium.py); without it the tests are skipped,
unless ATTNVIZ_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from chromium import find_chromium, missing_message
from conftest import REPO_ROOT, shared_data_dir

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
PAGES = ["home", "explorer", "positional", "sentiment", "ner", "generation", "compare", "train", "why",
         "minimal_pairs", "heads", "search", "verify"]
START_TIMEOUT_S = 60
SETTLE_TIMEOUT_MS = 60_000  # a page that loads a model can take a while on a busy machine
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
    log_path = ARTIFACTS / log_name
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


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    """The base URL of a `streamlit run app.py` started for this module and stopped after it."""
    env = dict(os.environ)
    env.setdefault("ATTNVIZ_DATA", str(shared_data_dir()))
    env.setdefault("ATTNVIZ_USER_MODELS", str(tmp_path_factory.mktemp("user_models")))
    with serve_app(env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(find_chromium()), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(SETTLE_TIMEOUT_MS)
    yield tab
    context.close()


def settle(tab, quiet_s: float = 1.0) -> None:
    """Wait until the script has run and stayed idle for `quiet_s` (no running indicator)."""
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
                return
        else:
            idle_since = None
        time.sleep(0.2)
    raise AssertionError(f"the page did not settle within {SETTLE_TIMEOUT_MS // 1000} s")


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


def test_a_link_opened_first_on_a_fresh_server_runs_the_whole_app(page, server):
    """Keep this test first: the server has served nothing yet. Streamlit runs a file in a folder
    named pages/ on its own (without app.py) until app.py has once called st.navigation."""
    open_page(page, server, "train")
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Device:").count() == 1


def test_typed_sentence_shows_up_in_the_heatmap(page, server):
    open_page(page, server, "explorer")
    box = page.locator('[data-testid="stMain"] textarea, [data-testid="stMain"] input[type="text"]').first
    box.fill(SENTENCE)
    box.press("Control+Enter" if box.evaluate("e => e.tagName") == "TEXTAREA" else "Enter")
    page.wait_for_function("""words => [...document.querySelectorAll('.js-plotly-plot')].some(plot =>
        words.every(w => [...plot.querySelectorAll('g.xtick text')].some(t => t.textContent.trim() == w)))""",
                           arg=["film", "actors", "funny"])
    settle(page)
    shoot(page, "explorer-typed")
    assert problems(page) == []
    heads = [plot for plot in page.locator(".js-plotly-plot").all()
             if {"film", "funny"} <= set(tick_texts(plot))]
    assert heads, "no heatmap has the typed words on its x axis"
    labels = tick_texts(heads[0])
    assert [w for w in labels if w in SENTENCE.split()] == [w for w in SENTENCE.split() if w in labels]


def test_minilm_has_six_layers_of_twelve_heads(page, server):
    open_page(page, server, "explorer?model=all-MiniLM-L6-v2")
    page.wait_for_selector(".js-plotly-plot g.xtick text")
    settle(page)
    shoot(page, "explorer-minilm")
    assert problems(page) == []
    grid = next(plot for plot in page.locator(".js-plotly-plot").all() if "H11" in tick_texts(plot))
    assert tick_texts(grid, "x") == [f"H{h}" for h in range(12)]
    assert tick_texts(grid, "y") == [f"L{layer}" for layer in range(6)]
    assert re.search(r"6 layers × 12 heads", page.locator('[data-testid="stMain"]').inner_text())


def test_a_model_trained_in_the_browser_is_offered_at_once(page, server):
    open_page(page, server, "train")
    for label, value in (("Use only the first N training sentences", "100"), ("Epochs", "1")):
        box = page.get_by_label(label, exact=True).and_(page.locator("input"))
        box.fill(value)
        box.press("Enter")
        settle(page, quiet_s=0.5)
    name = page.get_by_role("textbox", name="Name of the new model (optional)")
    name.fill("browser-run")
    name.press("Enter")
    settle(page, quiet_s=0.5)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector('[data-testid="stProgress"], [data-testid="stAlertContentSuccess"]')
    shoot(page, "train-running")
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=120_000)
    settle(page)
    shoot(page, "train-finished")
    assert problems(page) == []
    page.get_by_text("See its attention in the explorer").click()
    page.wait_for_url(re.compile(r"/explorer\?.*model=browser-run"))
    settle(page)
    page.wait_for_selector(".js-plotly-plot g.xtick text")
    shoot(page, "explorer-trained")
    assert problems(page) == []
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    assert "browser-run" in picker.inner_text() + " ".join(picker.locator("input").evaluate_all(
        "inputs => inputs.map(i => i.value)"))


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_without_errors(page, server, name):
    open_page(page, server, "" if name == "home" else name)  # the default page lives at the root URL
    shoot(page, f"page-{name}")
    assert problems(page) == []
