"""One training run from start to saved checkpoint: data, tokenizer, model, train, evaluate, save.

Shared by the command line and the app's Train page; it reports through the trainer's callback.
"""
from __future__ import annotations

import copy
import hashlib
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from attnviz.store.checkpoint import is_attnviz_checkpoint, load_checkpoint, save_checkpoint
from attnviz.store.checkpoint_checks import TASK_MODEL_KIND
from attnviz.training.data import default_data_root
from attnviz.training.data import LM_DEV_FRACTION, NER_LABELS, SENTIMENT_LABELS, load_task, read_task_file, split_tail
from attnviz.training.evaluate import evaluate_lm, evaluate_ner, evaluate_sentiment
from attnviz.nn.models import ModelConfig, build_model
from attnviz.bundles.hf import is_minilm_name
from attnviz.bundles.pretrained_init import base_tensor_names, init_from_bert
from attnviz.text.tokenize import build_char_tokenizer, build_word_tokenizer, build_wordpiece_tokenizer
from attnviz.device import describe_device, pick_device, pick_precision
from attnviz.training.budget import RunCaps, check_run
from attnviz.training.train import DEV_METRIC, Progress, TrainConfig, TrainResult, train

TASK_LABELS = {"sentiment": SENTIMENT_LABELS, "ner": NER_LABELS, "lm": []}


@dataclass(frozen=True)
class ModelShape:
    """Architecture of a model trained from scratch (ignored when starting from a pretrained one)."""

    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    max_len: int = 128
    dropout: float = 0.1
    positional: str = "sinusoidal"
    norm_first: bool = False


@dataclass(frozen=True)
class JobSpec:
    task: str
    out: str
    train: TrainConfig
    shape: ModelShape = field(default_factory=ModelShape)
    data_root: str | None = None  # a folder laid out like the shared data (sst2/, wikiann-en/, ...)
    train_file: str | None = None  # or explicit files
    dev_file: str | None = None
    hub: bool = False  # or the HuggingFace hub (needs network)
    init: str | None = None  # a pretrained BERT-style encoder, e.g. all-MiniLM-L6-v2
    init_layers: int = 4
    max_vocab: int = 10000
    case_features: bool = False  # with --init: tell the uncased encoder each token's letter case
    tokenizer: str = "auto"  # auto | word | wordpiece | char
    train_limit: int = 0  # use only the first N training examples (characters for the LM)
    save_dtype: str = "float32"
    command: str = ""
    replay_texts: tuple[str, ...] = ()  # probe sentences whose attention is recorded while training
    replay_every: int = 0  # steps between replay snapshots (0: about 40 over the run)
    freeze_embeddings: bool = False  # with --init: keep the pretrained word embeddings fixed
    longer_context: int | None = None  # with --init <checkpoint>: train a sinusoidal model on this longer context
    continue_dropout: float | None = None  # with --init <checkpoint>: this dropout rate instead of its own
    caps: RunCaps | None = None  # hosted: tokens per batch and estimated step memory (checked before training)
    dev_from_data_root: bool = False  # with train_file: take dev from the data root (for --train-file)


def load_job_data(spec: JobSpec) -> tuple[object, object, dict]:
    """(train, dev, description) from files, a data root or the hub."""
    if spec.train_file:
        train_data = read_task_file(spec.task, spec.train_file)
        dev_data = read_task_file(spec.task, spec.dev_file) if spec.dev_file else None
        dev_name = spec.dev_file or "last 10% of train"
        if dev_data is None and spec.dev_from_data_root and spec.task != "lm":
            dev_data, dev_name = load_task(spec.task, "dev", spec.data_root), "dev split of the data folder"
        if spec.task == "lm" and dev_data is None:
            train_data, dev_data = split_tail(train_data, LM_DEV_FRACTION)
        described = {"train": str(spec.train_file), "dev": str(dev_name)}
    else:
        train_data = load_task(spec.task, "train", spec.data_root, spec.hub)
        dev_data = load_task(spec.task, "dev", spec.data_root, spec.hub)
        described = {"source": "hub" if spec.hub else str(spec.data_root or default_data_root()[0])}
    if spec.train_limit:
        train_data = train_data[: spec.train_limit]
    if not train_data:
        raise ValueError("the training data is empty")
    return train_data, dev_data, described


def build_for_job(spec: JobSpec, train_data) -> tuple[torch.nn.Module, object]:
    """A fresh model and tokenizer for the task, from scratch or from a pretrained encoder."""
    kind = TASK_MODEL_KIND[spec.task]
    labels = TASK_LABELS[spec.task]
    if spec.init and is_attnviz_checkpoint(spec.init):
        return continue_from(spec)
    if spec.init:
        if spec.task == "lm":
            raise ValueError("--init for the language model takes an attnviz lm checkpoint to train further; "
                             "pretrained encoders start sentiment and ner models")
        texts = [t for t, _ in train_data] if spec.task == "sentiment" else [w for w, _ in train_data]
        model, tokenizer = init_from_bert(spec.init, kind, len(labels), spec.init_layers, spec.shape.max_len,
                                          texts, pretokenized=spec.task == "ner",
                                          normalization="ptb" if spec.task == "sentiment" else "none",
                                          dropout=spec.shape.dropout, max_vocab=spec.max_vocab,
                                          case_features=spec.case_features)
        if spec.freeze_embeddings:
            model.encoder.token_embedding.weight.requires_grad_(False)
        return model, tokenizer
    choice = spec.tokenizer if spec.tokenizer != "auto" else {"sentiment": "word", "ner": "wordpiece",
                                                              "lm": "char"}[spec.task]
    if spec.task == "lm":
        if choice != "char":
            raise ValueError("the language model is character-level: use --tokenizer char")
        tokenizer = build_char_tokenizer(train_data)
    else:
        texts = [t for t, _ in train_data] if spec.task == "sentiment" else [" ".join(w) for w, _ in train_data]
        normalization = "ptb" if spec.task == "sentiment" else "none"
        tokenizer = (build_word_tokenizer(texts, normalization=normalization) if choice == "word"
                     else build_wordpiece_tokenizer(texts, vocab_size=spec.max_vocab, normalization=normalization))
    shape = spec.shape
    config = ModelConfig(kind=kind, vocab_size=tokenizer.vocab_size, n_labels=max(1, len(labels)),
                         d_model=shape.d_model, n_heads=shape.n_heads, n_layers=shape.n_layers, d_ff=shape.d_ff,
                         max_len=shape.max_len, dropout=shape.dropout, positional=shape.positional,
                         norm_first=shape.norm_first, pad_id=tokenizer.pad_id)
    return build_model(config), tokenizer


def continue_from(spec: JobSpec) -> tuple[torch.nn.Module, object]:
    """Model and tokenizer of an attnviz checkpoint of the same task, to train further. Shape flags are
    ignored, except two that leave the weights as they are: a new dropout rate (`continue_dropout`), and
    a longer context (`longer_context`) for a model with sinusoidal positions, which have no table to learn."""
    checkpoint = load_checkpoint(spec.init, share_base=False)
    if checkpoint.task != spec.task:
        raise ValueError(f"--init {spec.init} is a {checkpoint.task} checkpoint; this run trains {spec.task}")
    model = checkpoint.model
    changes: dict = {}
    if spec.longer_context and spec.longer_context > model.config.max_len:
        if model.config.positional != "sinusoidal":
            raise ValueError(f"--init {spec.init} has learned positions for {model.config.max_len} tokens; "
                             "only a model with sinusoidal positions can take a longer --max-len")
        changes["max_len"] = spec.longer_context
    if spec.continue_dropout is not None and spec.continue_dropout != model.config.dropout:
        changes["dropout"] = spec.continue_dropout
    if changes:
        rebuilt = build_model(replace(model.config, **changes))
        rebuilt.load_state_dict(model.state_dict())
        model = rebuilt
    model = model.train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model, checkpoint.tokenizer


def evaluate_model(task: str, model, tokenizer, data, labels: list[str]) -> dict:
    if task == "sentiment":
        return evaluate_sentiment(model, tokenizer, data)
    if task == "ner":
        return evaluate_ner(model, tokenizer, data, labels)
    return evaluate_lm(model, tokenizer, data)


def _file_digest(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _longest(tokenizer, train_data, sample: int = 5_000) -> int:
    """Tokens of the longest of the first `sample` training examples (a batch pads to its longest)."""
    longest = 1
    for item, _ in list(train_data)[:sample]:
        encoded = tokenizer.encode_words(item) if isinstance(item, (list, tuple)) else tokenizer.encode(item)
        longest = max(longest, len(encoded.ids))
    return longest


def run_job(spec: JobSpec, on_progress: Callable[[Progress], None] | None = None,
            should_stop: Callable[[], bool] | None = None, train_data=None, dev_data=None) -> tuple[Path, TrainResult, dict]:
    """Train and save. Returns (checkpoint folder, training result, final dev metrics)."""
    started = time.perf_counter()
    if train_data is None:
        train_data, dev_data, data_description = load_job_data(spec)
    else:
        data_description = {"source": "given in memory (uploaded)"}
    if spec.train_file:
        data_description["train_sha256"] = _file_digest(spec.train_file)
    labels = TASK_LABELS[spec.task]
    model, tokenizer = build_for_job(spec, train_data)
    if spec.caps is not None:
        seq_len = model.config.max_len if spec.task == "lm" else min(model.config.max_len, _longest(tokenizer, train_data))
        check_run(model, spec.train.batch_size, seq_len, spec.task, spec.caps)
    dtype = {"float32": torch.float32, "float16": torch.float16}[spec.save_dtype]
    folder = Path(spec.out)
    base = base_reference(spec, model)

    def describe(result: TrainResult | None, dev_metrics: dict) -> dict:
        return _metadata(spec, data_description, dev_metrics, result, model, time.perf_counter() - started)

    recorder = None
    if spec.replay_texts:
        from attnviz.training.replay_recorder import ReplayRecorder
        recorder = ReplayRecorder(list(spec.replay_texts), tokenizer, spec.task, spec.replay_every)
        recorder.prepare(model.config.max_len)  # a probe the tokenizer cannot read fails before training

    def save_best_so_far(current, dev_value: float) -> None:
        """While training: the best model so far, so an interrupted run leaves a usable checkpoint."""
        note = {"task": spec.task, DEV_METRIC[spec.task]: dev_value, "written_during_training": True,
                "dev_examples_used": spec.train.eval_limit or "all"}
        save_checkpoint(folder, copy.deepcopy(current).cpu(), tokenizer, spec.task, labels, describe(None, note), dtype,
                        base=base)
        if recorder is not None:
            recorder.save(folder)

    result = train(model, tokenizer, spec.train, train_data, dev_data, labels, on_progress, should_stop,
                   on_improved=save_best_so_far, on_step=recorder)
    with torch.no_grad():  # measure the weights exactly as they will be stored
        for parameter in model.parameters():
            if parameter.requires_grad or base is None:  # frozen base tensors are read from the base
                parameter.copy_(parameter.to(dtype).float())
    dev_metrics = evaluate_model(spec.task, model, tokenizer, dev_data, labels) if dev_data else {}
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only the first process writes
        save_checkpoint(folder, model.cpu(), tokenizer, spec.task, labels, describe(result, dev_metrics), dtype,
                        base=base)
        if recorder is not None:
            recorder.save(folder)
    return folder, result, dev_metrics


def base_reference(spec: JobSpec, model: torch.nn.Module) -> tuple[str, dict[str, str]] | None:
    """(base name, {our tensor: base tensor}) when the model starts from a base that checkpoints may
    reference (the pip-installed all-MiniLM-L6-v2); tensors still equal to it are left out on save."""
    if not spec.init or not is_minilm_name(spec.init) or is_attnviz_checkpoint(spec.init):
        return None
    return "all-MiniLM-L6-v2", base_tensor_names(model.config.n_layers, full_vocabulary=spec.max_vocab == 0)


def _metadata(spec: JobSpec, data_description: dict, dev_metrics: dict, result: TrainResult | None,
              model: torch.nn.Module, wall: float) -> dict:
    """What config.json records about how the model was made."""
    return {
        "command": spec.command,
        "data": data_description,
        "init": spec.init,
        "train_config": asdict(spec.train),
        "model_shape": asdict(spec.shape) if not spec.init else {"init_layers": spec.init_layers,
                                                                 "max_vocab": spec.max_vocab,
                                                                 "case_features": spec.case_features,
                                                                 "freeze_embeddings": spec.freeze_embeddings},
        "dev_metrics": dev_metrics,
        "steps": result.steps if result else None,
        "stopped_early": result.stopped_early if result else None,
        "wall_time_s": round(wall, 1),
        "hardware": {"device": result.device if result else describe_device(pick_device(spec.train.device)),
                     "precision": result.precision if result else pick_precision(
                         pick_device(spec.train.device), spec.train.precision), "machine": platform.machine(),
                     "processor": platform.processor() or platform.machine(),
                     "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "python": platform.python_version()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
