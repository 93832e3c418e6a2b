"""A decoder at work, timed: logit lens and surprisal at 30 and 200 tokens, generation with everything
recorded against transformers' own `generate` (same run, same model), and the sink table.

    OMP_NUM_THREADS=2 ATTNVIZ_DATA=/path/to/data python scripts/bench_decoder.py [--model PATH] [--threads 2]

The model defaults to the prepared SmolLM2 (python -m attnviz prepare smollm2).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import attnviz
from attnviz.analysis.corpora import load_corpus
from attnviz.analysis.head_stats import head_statistics, role_counts
from attnviz.analysis.logit_lens import logit_lens
from attnviz.analysis.surprisal import surprisal
from attnviz.bundles import prepare
from attnviz.nn.generate import GenerationConfig

TEXT = ("ROMEO: But soft, what light through yonder window breaks? It is the east, and Juliet is the sun. "
        "Arise, fair sun, and kill the envious moon, who is already sick and pale with grief that thou her maid "
        "art far more fair than she. Be not her maid, since she is envious; her vestal livery is but sick and "
        "green, and none but fools do wear it; cast it off. It is my lady, O, it is my love! O, that she knew "
        "she were! She speaks yet she says nothing: what of that? Her eye discourses; I will answer it. I am "
        "too bold, 'tis not to me she speaks: two of the fairest stars in all the heaven, having some business, "
        "do entreat her eyes to twinkle in their spheres till they return.")


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def text_of(bundle, n_tokens: int) -> str | None:
    """The first n_tokens of the bench text, or None when the model reads fewer (its context)."""
    ids = bundle.encode(" ".join([TEXT] * 3)).ids
    return bundle.tokenizer.decode(ids[:n_tokens]) if len(ids) >= n_tokens else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a decoder (default: the prepared SmolLM2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=40)
    parser.add_argument("--sentences", type=int, default=100, help="SST-2 dev sentences for the sink table")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = args.model or str(prepare.prepared_folder())
    bundle = attnviz.load(source)
    print(f"model {bundle.name}: {bundle.n_layers} layers x {bundle.n_heads} heads; threads {args.threads}; "
          f"load {os.getloadavg()[0]:.1f}")
    for n in (30, 200):
        text = text_of(bundle, n)
        if text is None:
            print(f"{n} tokens: skipped, the model reads at most {bundle.max_len} tokens")
            continue
        surprisal(bundle, text)  # warm
        lens = best_of(args.repeat, lambda: logit_lens(bundle, text))
        surprise = best_of(args.repeat, lambda: surprisal(bundle, text))
        print(f"{n} tokens: logit lens {lens:.2f} s, surprisal {surprise:.2f} s (best of {args.repeat}; load "
              f"{os.getloadavg()[0]:.1f})")

    if not hasattr(bundle.model, "generate"):
        raise SystemExit("the comparison with transformers' generate needs a HuggingFace decoder")
    prompt = "The capital of France is"
    config = GenerationConfig(max_new_tokens=args.new_tokens, temperature=0.0, record_attention=True)
    ids = torch.tensor([bundle.encode(prompt).ids])
    ours, theirs = [], []
    for _ in range(args.repeat):  # interleaved, so both see the same machine
        started = time.perf_counter()
        _, result = bundle.generate(prompt, config)
        ours.append(len(result.new_ids) / (time.perf_counter() - started))
        started = time.perf_counter()
        with torch.inference_mode():
            out = bundle.model.generate(ids, max_new_tokens=len(result.new_ids), min_new_tokens=len(result.new_ids),
                                        do_sample=False, attention_mask=torch.ones_like(ids))
        theirs.append((out.shape[1] - ids.shape[1]) / (time.perf_counter() - started))
    print(f"generation, {len(result.new_ids)} new tokens, greedy: attnviz with attention rows, candidates, "
          f"probabilities and entropy recorded {statistics.median(ours):.1f} tokens/s; transformers generate "
          f"{statistics.median(theirs):.1f} tokens/s (median of {args.repeat}; load {os.getloadavg()[0]:.1f})")

    texts = load_corpus("SST-2 dev")[:args.sentences]
    started = time.perf_counter()
    frame = head_statistics(bundle, texts)
    sinks = int((frame["sink"] >= 0.5).sum())
    print(f"sinks over {len(texts)} SST-2 dev sentences ({time.perf_counter() - started:.0f} s): {sinks} of "
          f"{len(frame)} heads put >= 0.5 of their attention on the first token or special tokens; "
          f"mean sink score {frame['sink'].mean():.2f}")
    print(role_counts(frame).to_string(index=False))
    per_layer = frame.groupby("layer")["sink"].apply(lambda s: int((s >= 0.5).sum()))
    print("sink heads per layer:", " ".join(f"{layer}:{count}" for layer, count in per_layer.items()))


if __name__ == "__main__":
    main()
