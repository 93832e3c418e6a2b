"""How long the analyses take on this machine: integrated gradients (32 steps) for a 30-token
sentence, and head importance (every head switched off in turn) for one sentence.

Models: our shipped sentiment model (its shape is read from the checkpoint: 6 x 12 today) and a MiniLM-size HuggingFace
classifier (all-MiniLM-L6-v2's body, 6 x 12, with a random 2-class head; built offline in a temporary
folder). Each number is the median of --runs timed calls after one warm-up call.

    OMP_NUM_THREADS=1 python scripts/bench_analysis.py --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SENTENCE_WORDS = ("the film was a quiet surprise with warm acting and a clever story about two old friends "
                  "who travel across the country to find a lost dog while the music keeps the mood light and funny").split()


def sentence_of(bundle, n_tokens: int) -> str:
    """The shortest prefix of SENTENCE_WORDS that gives at least n_tokens tokens (special ones included)."""
    for k in range(1, len(SENTENCE_WORDS) + 1):
        text = " ".join(SENTENCE_WORDS[:k])
        if len(bundle.encode(text).tokens) >= n_tokens:
            return text
    return " ".join(SENTENCE_WORDS)


def timed(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def minilm_classifier(folder: Path):
    import transformers

    import attnviz
    from attnviz.analysis import attribute
    from attnviz.bundles.hf import minilm_folder

    source = minilm_folder()
    transformers.AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    model = transformers.BertForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    model.save_pretrained(folder)
    return attnviz.load(str(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--tokens", type=int, default=30)
    args = parser.parse_args()

    import torch

    import attnviz
    from attnviz.analysis import attribute, head_importance

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, runs: {args.runs} (median)")
    with tempfile.TemporaryDirectory() as tmp:
        ours = attnviz.load("sentiment")
        models = {f"sentiment (ours, {ours.n_layers}x{ours.n_heads})": ours,
                  "MiniLM-L6 body + random head (HF, 6x12)": minilm_classifier(Path(tmp))}
        for name, bundle in models.items():
            text = sentence_of(bundle, args.tokens)
            n = len(bundle.encode(text).tokens)
            ig = timed(lambda: attribute(bundle, text, steps=32), args.runs)
            result = attribute(bundle, text, steps=32)
            gxi = timed(lambda: attribute(bundle, text, method="gradient_x_input"), args.runs)
            importance = timed(lambda: head_importance(bundle, [text]), args.runs)
            print(f"{name}: {n} tokens | integrated gradients (32 steps) {ig:.3f} s "
                  f"(|delta| = {abs(result.delta):.2e}, {abs(result.delta) / abs(result.target_gap):.2%} of the gap) | "
                  f"gradient x input {gxi:.3f} s | head importance ({bundle.n_layers * bundle.n_heads} heads) "
                  f"{importance:.3f} s")


if __name__ == "__main__":
    main()
