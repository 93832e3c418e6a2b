"""python -m attnviz faithfulness (the command line lives with the analysis it runs): the faithfulness scoreboard of a model's explanations on a data set."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATASETS = {"sst2": "sentiment", "sentiment": "sentiment", "wikiann": "ner", "wikiann-en": "ner", "ner": "ner",
            "tinyshakespeare": "lm", "lm": "lm"}
MAX_N = 10_000


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("faithfulness", help="score each explanation method (ERASER comprehensiveness, sufficiency, "
                                            "deletion AOPC) on a data set", formatter_class=formatter,
                       description="Which explanation to believe: for each attribution method, how much the "
                                   "prediction's probability falls when its top tokens are deleted "
                                   "(comprehensiveness, higher is better) and when only they are kept "
                                   "(sufficiency, lower is better), with 95%% bootstrap intervals and a random "
                                   "order as the floor (see attnviz.analysis.faithfulness).")
    p.add_argument("checkpoint", help="a checkpoint folder, a shipped name or a HuggingFace folder")
    p.add_argument("--data", default="sst2", help="a data set (sst2, wikiann, tinyshakespeare) under $ATTNVIZ_DATA, "
                                                  "or a file in the training format")
    p.add_argument("--split", choices=["train", "dev"], default="dev", help="the split of a named data set")
    p.add_argument("--n", type=int, default=100, help=f"texts to score, the first n (1 to {MAX_N:,})")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: all)")
    p.add_argument("--perturb", choices=["delete", "mask"], default="delete", help="delete tokens or mask them")
    p.add_argument("--seed", type=int, default=0, help="seed of the random order and the bootstrap")
    p.add_argument("--json", action="store_true", help="print the table as JSON records")
    p.add_argument("--out", default=None, help="also write the table to this CSV file")


def load_texts(data: str, split: str, task: str, n: int) -> list[str]:
    """The first n texts of a named data set's split, or of a file (for a language model: its lines)."""
    from attnviz.errors import InputError
    from attnviz.training.data import load_task, read_task_file

    if data in DATASETS:
        if DATASETS[data] != task:
            raise InputError(f"{data} is a {DATASETS[data]} data set but the model is a {task} model")
        rows = load_task(task, split)
    elif Path(data).is_file():
        rows = read_task_file(task, data)
    else:
        raise InputError(f"--data: no data set or file {data!r}; name one of {sorted(set(DATASETS))} or a file")
    if task == "sentiment" or task == "classification":
        texts = [text for text, _ in rows]
    elif task == "ner":
        texts = [" ".join(words) for words, _ in rows]
    else:
        texts = [line for line in rows.splitlines() if len(line.strip()) >= 20]
    return texts[:n]


def _bar(done: float, message: str) -> None:
    filled = int(done * 30)
    print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:5.1%} {message[:60]:<60}", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from attnviz.analysis.faithfulness import faithfulness
    from attnviz.bundles.loading import load
    from attnviz.errors import InputError

    if not 1 <= args.n <= MAX_N:
        raise InputError(f"--n must be from 1 to {MAX_N:,}, got {args.n}")
    bundle = load(args.checkpoint)
    task = "sentiment" if bundle.task == "classification" else bundle.task
    texts = load_texts(args.data, args.split, task, args.n)
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    began = time.perf_counter()
    report = faithfulness(bundle, texts, methods=methods, seed=args.seed, perturb=args.perturb, progress=_bar)
    seconds = time.perf_counter() - began
    print(file=sys.stderr)
    table = report.table
    if args.out:
        table.to_csv(args.out, index=False)
    if args.json:
        print(json.dumps({"model": bundle.name, "texts": len(texts), "skipped": len(report.skipped),
                          "seconds": round(seconds, 2), "seconds_per_sentence": report.seconds,
                          "verdict": report.verdict(), "table": table.to_dict(orient="records")}))
        return 0
    import pandas as pd
    with pd.option_context("display.width", 160, "display.max_rows", 500, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    print("\nseconds per sentence: " + ", ".join(f"{m} {s:.3f}" for m, s in report.seconds.items()))
    print(f"{len(texts) - len(report.skipped)} texts scored in {seconds:.1f} s ({len(report.skipped)} skipped)")
    print(report.verdict())
    return 0
