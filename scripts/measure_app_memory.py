"""Resident memory (RSS) of the running app: after Home (no model is loaded there), after the explorer
with each model (shipped checkpoints and all-MiniLM-L6-v2), then after every other page.

Starts `streamlit run app.py` on a free loopback port, opens the pages in Debian's Chromium (so the
server loads and traces the models), and reads the server's VmRSS after each.

    python scripts/measure_app_memory.py [--hosted]

It visits all 13 pages (the Corpus search page builds its default index) and ends with the peak (VmHWM).
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            total = int(line.split()[1]) / 1024
    return total


def main() -> None:
    from playwright.sync_api import sync_playwright

    from attnviz.bundles import registry

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    import os
    import tempfile

    env = dict(os.environ, ATTNVIZ_CACHE=tempfile.mkdtemp(prefix="attnviz-memory-cache-"))
    if "--hosted" in sys.argv:
        env["ATTNVIZ_HOSTED"] = "1"
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        readings = {"started": rss_mib(server.pid)}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{url}/home")
            page.wait_for_selector("[data-testid=\"stMain\"] table", timeout=120_000)
            page.wait_for_timeout(1500)
            readings["home"] = rss_mib(server.pid)
            for entry in registry.available_models():
                query = urllib.parse.urlencode({"model": entry.name, "text": "The cat sat on the mat in Paris."})
                page.goto(f"{url}/explorer?{query}")
                page.wait_for_selector(".js-plotly-plot", timeout=120_000)
                page.wait_for_timeout(1500)
                readings[f"+ explorer {entry.name}"] = rss_mib(server.pid)
            for name in ("positional", "sentiment", "ner", "generation", "compare", "why", "minimal_pairs",
                         "heads", "search", "train", "verify"):
                page.goto(f"{url}/{name}")
                page.wait_for_selector('[data-testid="stMain"] h1', timeout=120_000)
                page.wait_for_timeout(4000)
                if name == "search":  # the corpus index builds under a progress bar: wait for the table
                    page.wait_for_selector('[data-testid="stMain"] [data-testid="stDataFrame"]', timeout=600_000)
                readings[f"+ {name}"] = rss_mib(server.pid)
            readings["peak (VmHWM)"] = rss_mib(server.pid, "VmHWM")
            browser.close()
        print(json.dumps({"server_rss_mib": {k: round(v, 1) for k, v in readings.items()},
                          "hosted": "--hosted" in sys.argv}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
