"""Corpus search at scale: build every layer's index in one pass, then time queries.

Usage: .venv/bin/python scripts/bench_corpus_search.py [--model all-MiniLM-L6-v2] [--corpus "WikiANN dev"]
       [--sentences N] [--queries 50]
Prints the build time (no cache), the cached reload time, vectors per layer, disk size, which search
backend is used (numpy below attnviz.analysis.context_index.VECTOR_LIBRARY_AT vectors, faiss above),
and the median / p95 query time (the model's forward pass of the query included, and the search alone).
Set OMP_NUM_THREADS / torch threads yourself; the load average is printed beside the numbers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--corpus", default="WikiANN dev")
    parser.add_argument("--sentences", type=int, default=0, help="the first N sentences (0: all)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-mib", type=int, default=256,
                        help="memory budget of the float16 vectors, all layers (the app's default: 256)")
    args = parser.parse_args()

    import numpy as np
    import torch

    import attnviz
    from attnviz.analysis.context_index import VECTOR_LIBRARY_AT, build_layers
    from attnviz.analysis.corpora import load_corpus

    texts = load_corpus(args.corpus)
    if args.sentences:
        texts = texts[:args.sentences]
    bundle = attnviz.load(args.model)
    print(f"model {bundle.name}, {bundle.n_layers} layers; corpus {args.corpus}: {len(texts):,} sentences; "
          f"torch threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.1f} (1-min) before")
    with tempfile.TemporaryDirectory() as cache:
        started, cpu = time.perf_counter(), time.process_time()
        indexes = build_layers(bundle, texts, cache_dir=cache, batch_size=args.batch_size,
                               max_bytes=args.max_mib << 20)
        built, built_cpu = time.perf_counter() - started, time.process_time() - cpu
        disk = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file())
        started = time.perf_counter()
        again = build_layers(bundle, texts, cache_dir=cache, max_bytes=args.max_mib << 20)
        reloaded = time.perf_counter() - started
        assert all(index.from_cache for index in again.values())
    size = indexes[0].size
    print(f"build, all {bundle.n_layers} layers in one pass: {built:.1f} s wall, {built_cpu:.1f} s CPU "
          f"(precision {indexes[0].precision}); load {os.getloadavg()[0]:.1f}")
    print(f"vectors per layer: {size:,}; disk: {disk / 1e6:.1f} MB; cached reload of all layers: {reloaded:.2f} s")
    print(f"search backend: {'faiss IndexFlatIP' if size >= VECTOR_LIBRARY_AT else 'numpy'} "
          f"(faiss from {VECTOR_LIBRARY_AT:,} vectors)")
    index = indexes[bundle.n_layers - 1]
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(texts), args.queries)
    full, alone = [], []
    index.search_vector(index.vectors[0].astype(np.float32), 10)  # builds the searcher once
    for pick in picks:
        text = texts[int(pick)]
        started = time.perf_counter()
        vector, _ = index.query_vector(text, 1)
        middle = time.perf_counter()
        index.search_vector(vector, 10)
        done = time.perf_counter()
        full.append((done - started) * 1000)
        alone.append((done - middle) * 1000)
    for name, values in (("query (forward + search)", full), ("search alone", alone)):
        print(f"{name}: median {statistics.median(values):.1f} ms, "
              f"p95 {sorted(values)[int(0.95 * (len(values) - 1))]:.1f} ms")
    print(f"load {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
