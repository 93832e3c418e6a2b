"""How long the issue-17 analyses take here: activation patching (residual for a 12-token pair on the sentiment
model, per-head for the 6 x 12 sentiment model, residual for SmolLM2 on a 20-token pair when prepared) and
"most important heads" (all single-head ablations, batched per layer) at 30 tokens. Each analysis runs
the layers below the patched or ablated one once and widens the batch there. Prints seconds and the load.

    OMP_NUM_THREADS=1 python scripts/bench_explain.py --threads 1
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SMOLLM2 = Path.home() / ".cache/attnviz/models/smollm2"
PAIR_12 = ("The film was good and the acting was great.", "The film was bad and the acting was great.")
PAIR_20 = ("When Mary and John went to the store after a long day at work, John gave a drink to",
           "When Mary and John went to the store after a long day at work, Mary gave a drink to")
LONG_WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends who travel "
              "across the country to find a lost dog while the music keeps the mood light and funny").split()


def text_of(bundle, n_tokens: int) -> str:
    """The shortest prefix of LONG_WORDS with at least n_tokens tokens (special ones included)."""
    for k in range(1, len(LONG_WORDS) + 1):
        if len(bundle.encode(" ".join(LONG_WORDS[:k])).ids) >= n_tokens:
            return " ".join(LONG_WORDS[:k])
    return " ".join(LONG_WORDS)


def timed(label: str, call) -> None:
    began = time.perf_counter()
    result = call()
    print(f"{label}: {time.perf_counter() - began:.2f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--skip-smollm2", action="store_true")
    args = parser.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import attnviz
    from attnviz.analysis import head_importance, patch

    sentiment = attnviz.load("sentiment")
    long = text_of(sentiment, 30)
    print(f"sentiment: {sentiment.n_layers} x {sentiment.n_heads} heads; pair of "
          f"{len(sentiment.encode(PAIR_12[0]).ids)} tokens; long text {len(sentiment.encode(long).ids)} tokens")
    patch(sentiment, *PAIR_12)  # warm-up
    timed("sentiment residual patching", lambda: patch(sentiment, *PAIR_12, site="residual"))
    timed("sentiment per-head patching", lambda: patch(sentiment, *PAIR_12, site="heads"))
    timed("sentiment most important heads", lambda: head_importance(sentiment, long))
    if SMOLLM2.is_dir() and not args.skip_smollm2:
        smol = timed("SmolLM2 load", lambda: attnviz.load(str(SMOLLM2)))
        print(f"SmolLM2 pair of {len(smol.encode(PAIR_20[0]).ids)} tokens")
        result = timed("SmolLM2 residual patching", lambda: patch(smol, *PAIR_20, site="residual"))
        print(f"  last position restored from layer {int((result.restored[:, -1] > 0.5).argmax())} on")
        long = text_of(smol, 30)
        print(f"SmolLM2 long text of {len(smol.encode(long).ids)} tokens")
        timed("SmolLM2 most important heads", lambda: head_importance(smol, long))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
