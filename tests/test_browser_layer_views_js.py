"""layer_views.js on its own in Chromium (no server): given packed q/k of a causal model, the page's
softmax is QueryKey.pattern's row (later keys get no weight), and an "attnviz:head" event from the
head flipper redraws both views for that head. The explorer's own tests use MiniLM, which is not causal."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from attnviz.bundles.query_key import QueryKey
from attnviz.plots.layer_views import pack_lines, pack_query_keys, unpack_lines
from attnviz.trace import AttentionTrace
from attnviz.ui import layer_views

pytestmark = pytest.mark.browser

N, D, HEADS = 40, 8, 3

MOUNT = """async ([source, html, data]) => {
    document.body.innerHTML = html;
    const module = await import('data:text/javascript;base64,' + source);
    module.default({parentElement: document.body, data});
}"""


def _data_url(payload: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(payload).decode("ascii")


def _causal_case() -> tuple[list[QueryKey], AttentionTrace]:
    rng = np.random.default_rng(7)
    tokens = [f"t{i}" for i in range(N)]
    vectors = [QueryKey(tokens, rng.normal(size=(N, D)) * 1.5, rng.normal(size=(N, D)) * 1.5, True, 0, h)
               for h in range(HEADS)]
    weights = np.stack([[v.pattern(q) for q in range(N)] for v in vectors])[None]  # (1, H, N, N)
    return vectors, AttentionTrace(weights=weights, tokens=tokens, causal=True, model_name="toy")


def test_the_pages_softmax_is_the_causal_pattern_and_follows_the_flipper(page):
    vectors, trace = _causal_case()
    data = {"prefix": "explorer", "layer": 0, "head": 1, "name": "toy: ", "token_id": "toy",
            "queries": trace.query_tokens, "keys": trace.tokens,
            "lines": {"url": _data_url(pack_lines(trace, 0)), "extra": [], "cut": [False] * HEADS,
                      "bands": [0.05, 0.15, 0.3, 0.5, 1.01], "min_weight": 0.05, "max_lines": 4000,
                      "colours": ["#1f77b4", "#ff7f0e", "#2ca02c"]},
            "qk": {"url": _data_url(pack_query_keys(vectors)), "query": 12, "palette": ["#0000ff", "#ffffff", "#ff0000"]}}
    source = base64.b64encode((layer_views._HERE / "layer_views.js").read_bytes()).decode("ascii")
    page.set_content("<!DOCTYPE html><html><body></body></html>")
    page.evaluate(MOUNT, [source, layer_views._HTML, data])
    page.wait_for_function("document.querySelector('.views').dataset.drawn === '0.1'")
    lines = unpack_lines(pack_lines(trace, 0))

    def check(head: int) -> None:
        got = page.evaluate("() => document.querySelector('.views').__attnvizViews.weights")
        assert (got["head"], got["query"]) == (head, 12)
        assert np.allclose(got["weights"], vectors[head].pattern(12), atol=2e-3)
        assert max(got["weights"][13:]) == 0.0  # a causal model's query 12 cannot see later keys
        segments = page.evaluate(f"""() => [...document.querySelectorAll('path[data-head="{head}"]')]
            .map(p => (p.getAttribute('d').match(/M/g) || []).length).reduce((a, b) => a + b, 0)""")
        assert segments == len(lines[head][0])
        assert page.text_content(".qk-title").startswith(f"Layer 0, head {head}: how t12 (#12)")

    check(1)
    page.evaluate("""() => window.dispatchEvent(new CustomEvent('attnviz:head',
        {detail: {prefix: 'explorer', layer: 0, head: 2}}))""")
    page.wait_for_function("document.querySelector('.views').dataset.drawn === '0.2'")
    check(2)
    page.evaluate("""() => window.dispatchEvent(new CustomEvent('attnviz:head',
        {detail: {prefix: 'elsewhere', layer: 0, head: 0}}))""")  # another page's flipper: not ours
    page.wait_for_timeout(100)
    check(2)
