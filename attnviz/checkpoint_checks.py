"""Checks on a checkpoint's config.json and weights header, before anything is built from them.

`validate_document` checks every field's type and range (a config from a stranger can hold
anything: `n_heads: 0`, `"n_layers": "2"`, a negative eps, a vocabulary of millions).
`check_header_matches` compares the shapes the config implies with the safetensors header, using a
model built on the meta device (no memory), after cheap checks that bound even that build.
Both raise the error class they are given (CheckpointError) with a one-line message.
"""
from __future__ import annotations

import math
import re
from dataclasses import fields

import torch

from attnviz import models
from attnviz.layers import ACTIVATIONS
from attnviz.models import MODEL_KINDS, ModelConfig
from attnviz.tokenize import NORMALIZATIONS, TOKENIZER_KINDS

# Inclusive ranges for the model config (far above anything attnviz trains or loads).
INT_RANGES: dict[str, tuple[int, int]] = {
    "vocab_size": (1, 1_000_000), "n_labels": (1, 10_000), "d_model": (1, 8192), "n_heads": (1, 256),
    "n_layers": (1, 128), "d_ff": (1, 65_536), "max_len": (1, 65_536), "pad_id": (0, 999_999)}
FLOAT_RANGES: dict[str, tuple[float, float]] = {"dropout": (0.0, 0.99), "layer_norm_eps": (1e-12, 1.0)}
MAX_POSITION_CELLS = 1 << 25  # max_len * d_model of the sinusoidal table built at load (128 MB of float32)
MAX_LABELS_TEXT = 200  # characters of one label
WEIGHT_DTYPES = ("F32", "F16", "BF16")
_LAYER_INDEX = re.compile(r"\.blocks\.(\d+)\.")


def _type_name(value: object) -> str:
    return type(value).__name__


def validate_model_dict(values: object, where: str, error: type[Exception]) -> ModelConfig:
    """The ModelConfig of config.json's "model" object, every field checked first."""
    if not isinstance(values, dict):
        raise error(f"{where}: \"model\" must be an object, not {_type_name(values)}")
    known = {f.name: f for f in fields(ModelConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise error(f"{where}: unknown model config keys {unknown[:5]}")
    for name, value in values.items():
        kind = str(known[name].type)
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise error(f"{where}: model.{name} must be an integer, not {value!r:.40}")
        if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                or not math.isfinite(value)):
            raise error(f"{where}: model.{name} must be a finite number, not {value!r:.40}")
        if kind == "bool" and not isinstance(value, bool):
            raise error(f"{where}: model.{name} must be true or false, not {value!r:.40}")
        if kind == "str" and not isinstance(value, str):
            raise error(f"{where}: model.{name} must be a string, not {value!r:.40}")
        if name in INT_RANGES and not INT_RANGES[name][0] <= value <= INT_RANGES[name][1]:
            low, high = INT_RANGES[name]
            raise error(f"{where}: model.{name} is {value}; it must be between {low} and {high:,}")
        if name in FLOAT_RANGES and not FLOAT_RANGES[name][0] <= value <= FLOAT_RANGES[name][1]:
            low, high = FLOAT_RANGES[name]
            raise error(f"{where}: model.{name} is {value}; it must be between {low} and {high}")
    for name in ("kind", "vocab_size"):
        if name not in values:
            raise error(f"{where}: the model config lacks {name!r}")
    choices = {"kind": MODEL_KINDS, "positional": ("sinusoidal", "learned"), "activation": tuple(ACTIVATIONS)}
    for name, allowed in choices.items():
        if name in values and values[name] not in allowed:
            raise error(f"{where}: model.{name} is {values[name]!r:.40}; choose one of {list(allowed)}")
    try:
        config = ModelConfig.from_dict(values)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise error(f"{where}: invalid model config: {exc}") from None
    if config.pad_id >= config.vocab_size:
        raise error(f"{where}: model.pad_id {config.pad_id} is outside the vocabulary ({config.vocab_size})")
    if config.positional == "sinusoidal" and config.max_len * config.d_model > MAX_POSITION_CELLS:
        raise error(f"{where}: max_len × d_model ({config.max_len} × {config.d_model}) is too big for the "
                    "positional table")
    return config


def validate_document(document: dict, where: str, error: type[Exception]) -> ModelConfig:
    """Check task, labels and tokenizer fields, then the model config (returned)."""
    task = document.get("task")
    from attnviz.checkpoint import TASK_MODEL_KIND
    if not isinstance(task, str) or task not in TASK_MODEL_KIND:
        raise error(f"{where}: task is {task!r:.40}; expected one of {sorted(TASK_MODEL_KIND)}")
    labels = document.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) and len(x) <= MAX_LABELS_TEXT for x in labels):
        raise error(f"{where}: labels must be a list of strings")
    tokenizer = document.get("tokenizer")
    if not isinstance(tokenizer, dict) or tokenizer.get("kind") not in TOKENIZER_KINDS \
            or tokenizer.get("normalization", "none") not in NORMALIZATIONS:
        raise error(f"{where}: tokenizer must be an object with a kind in {list(TOKENIZER_KINDS)} and a "
                    f"normalization in {list(NORMALIZATIONS)}")
    if not isinstance(document.get("metadata", {}), dict):
        raise error(f"{where}: metadata must be an object")
    config = validate_model_dict(document.get("model"), where, error)
    if TASK_MODEL_KIND[task] != config.kind:
        raise error(f"{where}: task {task!r} does not fit model kind {config.kind!r}")
    if config.kind != "causal_lm" and len(labels) != config.n_labels:
        raise error(f"{where}: {len(labels)} labels but the model has {config.n_labels} outputs")
    return config


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor the model of this config saves, from a build on the meta device."""
    with torch.device("meta"):
        model = models.build_model(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def check_header_matches(config: ModelConfig, header: dict[str, dict], path: str, error: type[Exception]) -> None:
    """The config's tensors are exactly those of the header (names, shapes, float dtypes)."""
    bad_dtype = sorted(n for n, e in header.items() if e["dtype"] not in WEIGHT_DTYPES)
    if bad_dtype:
        raise error(f"{path}: tensors {bad_dtype[:3]} are not floating point ({', '.join(WEIGHT_DTYPES)})")
    layers = {int(m.group(1)) for name in header for m in [_LAYER_INDEX.search(name)] if m}
    if config.n_layers > len(layers):  # fewer: the comparison below names the extra tensors
        raise error(f"{path} does not match its config.json: {len(layers)} layers in the file, "
                    f"n_layers {config.n_layers} in the config")
    embedding = header.get("encoder.token_embedding.weight", {}).get("shape")
    if embedding is not None and list(embedding) != [config.vocab_size, config.d_model]:
        raise error(f"{path} does not match its config.json: shape mismatch of the token embedding: file {embedding} vs "
                    f"vocab_size × d_model {[config.vocab_size, config.d_model]}")
    expected = expected_shapes(config)
    found = {name: tuple(entry["shape"]) for name, entry in header.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [f"{n}: file {found[n]} vs config {expected[n]}" for n in sorted(set(expected) & set(found))
             if expected[n] != found[n]]
    problems = ([f"missing tensors {missing[:5]}"] if missing else []) + \
        ([f"unexpected tensors {unexpected[:5]}"] if unexpected else []) + \
        ([f"shape mismatch {wrong[:3]}"] if wrong else [])
    if problems:
        raise error(f"{path} does not match its config.json: " + "; ".join(problems))
