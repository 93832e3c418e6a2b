"""SmolLM2's nats per character on the char LM's dev split (the last 10% of tinyshakespeare's train.txt):
the reference row of Home's model table. Prints the numbers; paste nats_per_char into
attnviz/bundles/reference.py when it changes.

    ATTNVIZ_DATA=/path/to/data python scripts/smollm2_reference.py [--window 512] [--limit-chars N]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import attnviz
from attnviz.analysis.surprisal import long_text_nats_per_char
from attnviz.bundles import prepare
from attnviz.training.data import load_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=512, help="tokens per window (stride: half of it)")
    parser.add_argument("--limit-chars", type=int, default=0, help="only the first N characters (0: all)")
    args = parser.parse_args()
    if not prepare.is_prepared():
        raise SystemExit("SmolLM2 is not prepared here: python -m attnviz prepare smollm2")
    dev = load_task("lm", "dev")
    if args.limit_chars:
        dev = dev[:args.limit_chars]
    bundle = attnviz.load(str(prepare.prepared_folder()))
    started = time.perf_counter()
    result = long_text_nats_per_char(bundle, dev, window=args.window)
    result.update(seconds=round(time.perf_counter() - started, 1), window=args.window, dev_characters=len(dev),
                  parameters=sum(p.numel() for p in bundle.model.parameters()), load=os.getloadavg()[0],
                  threads=int(__import__("torch").get_num_threads()))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
