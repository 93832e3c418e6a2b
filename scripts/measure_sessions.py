"""Concurrent explorer sessions: request latency (p50, p95) for 1 and for 8 sessions at once, under
torch's default thread count and under the app's rule (attnviz/ui/threads.py).

Each session runs in a thread of one process, as Streamlit runs sessions, and does what the explorer
does for a new text: MiniLM's trace of a fresh ~60-word sentence, the all-heads grid picture and one
head's figure. torch's thread pool is one per process, so a policy is one torch.set_num_threads.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/measure_sessions.py [--sessions 1 8] [--requests 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends who "
         "travel across the country to find a lost dog while the music keeps the mood light").split()


def request(bundle, seed: int) -> float:
    from attnviz import plots
    from attnviz.plots.grid import grid_picture

    text = " ".join(WORDS[(seed + i) % len(WORDS)] for i in range(60))
    start = time.perf_counter()
    trace = bundle.trace(text)
    grid_picture(trace)
    plots.head_heatmap(trace, 0, seed % trace.n_heads).to_json()
    return time.perf_counter() - start


def run(bundle, sessions: int, requests: int, threads: int) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    times: list[float] = []
    lock = threading.Lock()

    def session(k: int) -> None:
        for r in range(requests):
            elapsed = request(bundle, 7 * k + r)
            with lock:
                times.append(elapsed)

    workers = [threading.Thread(target=session, args=(k,)) for k in range(sessions)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=3, help="requests per session")
    args = parser.parse_args()

    import torch

    import attnviz
    from attnviz.ui.threads import choose_threads, usable_cores

    default_threads = torch.get_num_threads() if "OMP_NUM_THREADS" not in os.environ else usable_cores()
    bundle = attnviz.load("all-MiniLM-L6-v2")
    request(bundle, 0)  # warm-up
    print(f"cores {usable_cores()}, load {os.getloadavg()[0]:.1f}, {args.requests} requests per session")
    for sessions in args.sessions:
        rule = choose_threads(usable_cores(), sessions, False, None, os.getloadavg()[0])
        for name, threads in (("torch default", default_threads), ("app rule", rule)):
            times = run(bundle, sessions, args.requests, threads)
            print(f"{sessions} session(s), {name} ({threads} thread(s)): p50 {statistics.median(times):.2f} s, "
                  f"p95 {p95(times):.2f} s over {len(times)} requests")


if __name__ == "__main__":
    main()
