"""Corpus-level analysis timings: head statistics over N SST-2 dev sentences and the corpus index.

    python scripts/bench_heads.py                         # 200 sentences, MiniLM and our sentiment model
    python scripts/bench_heads.py --sentences 200 --threads 1 --json

Prints, per model: seconds for head_statistics on the first N dev sentences (model loaded and warmed
up first), the role table; for all-MiniLM-L6-v2 also the time and on-disk size of the ContextIndex of
the whole SST-2 dev set (built in a fresh temporary cache folder, then loaded again from it).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["all-MiniLM-L6-v2", "sentiment"])
    parser.add_argument("--index-layer", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    import attnviz
    from attnviz.analysis.context_index import ContextIndex
    from attnviz.analysis.corpora import load_corpus
    from attnviz.analysis.head_stats import head_statistics, role_counts

    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus("SST-2 dev")
    sample = corpus[: args.sentences]
    report: dict = {"threads": torch.get_num_threads(), "sentences": len(sample), "models": {}}
    for name in args.models:
        bundle = attnviz.load(name)
        head_statistics(bundle, sample[:8])  # warm-up
        started = time.perf_counter()
        frame = head_statistics(bundle, sample)
        seconds = time.perf_counter() - started
        roles = {r.role: r.heads for r in role_counts(frame).itertuples()}
        entry = {"head_statistics_s": round(seconds, 2), "heads": len(frame), "roles": roles}
        if name == "all-MiniLM-L6-v2":
            with tempfile.TemporaryDirectory() as cache:
                started = time.perf_counter()
                index = ContextIndex.build(bundle, corpus, args.index_layer, cache_dir=cache)
                build = time.perf_counter() - started
                started = time.perf_counter()
                again = ContextIndex.build(bundle, corpus, args.index_layer, cache_dir=cache)
                load = time.perf_counter() - started
                size = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file())
            entry["index"] = {"sentences": len(corpus), "tokens": index.size, "layer": args.index_layer,
                              "build_s": round(build, 2), "load_from_cache_s": round(load, 2),
                              "from_cache": again.from_cache, "disk_mib": round(size / 2**20, 1)}
        report["models"][name] = entry
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['sentences']} SST-2 dev sentences, {report['threads']} torch threads")
        for name, entry in report["models"].items():
            print(f"{name}: head statistics {entry['head_statistics_s']} s for {entry['heads']} heads; "
                  f"roles {entry['roles']}")
            if "index" in entry:
                print(f"  index: {entry['index']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
