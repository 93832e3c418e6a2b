"""Checks on a checkpoint's config.json and weights header, before anything is built from them.

`validate_document` checks every field's type and range (a config from a stranger can hold
anything: `n_heads: 0`, `"n_layers": "2"`, a negative eps, a vocabulary of millions).
`check_header_matches` compares the sizes the config implies with the safetensors header, so that
building the model can allocate no more than about what the file holds.
Both raise the error class they are given (CheckpointError) with a one-line message.
"""
from __future__ import annotations

import math
import re
from dataclasses import fields

from attnviz.nn.layers import ACTIVATIONS
from attnviz.nn.models import MODEL_KINDS, ModelConfig
from attnviz.text.tokenize import NORMALIZATIONS, TOKENIZER_KINDS

# Inclusive ranges for the model config (far above anything attnviz trains or loads).
INT_RANGES: dict[str, tuple[int, int]] = {
    "vocab_size": (1, 1_000_000), "n_labels": (1, 10_000), "d_model": (1, 8192), "n_heads": (1, 256),
    "n_layers": (1, 128), "d_ff": (1, 65_536), "max_len": (1, 65_536), "pad_id": (0, 999_999)}
FLOAT_RANGES: dict[str, tuple[float, float]] = {"dropout": (0.0, 0.99), "layer_norm_eps": (1e-12, 1.0)}
MAX_POSITION_CELLS = 1 << 25  # max_len * d_model of the sinusoidal table built at load (128 MB of float32)
MAX_LABELS_TEXT = 200  # characters of one label
WEIGHT_DTYPES = ("F32", "F16", "BF16")
_LAYER_INDEX = re.compile(r"\.blocks\.(\d+)\.")

TASK_MODEL_KIND = {"sentiment": "classifier", "ner": "tagger", "lm": "causal_lm"}  # task -> model kind


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


def implied_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shapes of the tensors that carry each size of the config (the rest follow from these)."""
    shapes = {"encoder.token_embedding.weight": (config.vocab_size, config.d_model),
              "encoder.blocks.0.feed_forward.up.weight": (config.d_ff, config.d_model),
              "head.weight": (config.vocab_size if config.causal else config.n_labels, config.d_model)}
    if config.positional == "learned":
        shapes["encoder.positions.table.weight"] = (config.max_len, config.d_model)
    return shapes


def parameter_bound(config: ModelConfig) -> int:
    """A generous upper bound on the number of values the model of this config holds."""
    d, f = config.d_model, config.d_ff
    per_layer = 4 * d * d + 2 * d * f + 10 * d + f
    return (config.vocab_size + config.max_len + 8) * d + config.n_layers * per_layer \
        + (config.vocab_size + config.n_labels) * (d + 1)


def check_header_matches(config: ModelConfig, header: dict[str, dict], path: str, error: type[Exception]) -> None:
    """Before anything is built: the header holds float tensors, as many layers as the config says,
    the shapes that carry the config's sizes, and about as many values as the config implies.
    (The exact names and shapes are compared after the model is built, see checkpoint.py.)"""
    bad_dtype = sorted(n for n, e in header.items() if e["dtype"] not in WEIGHT_DTYPES)
    if bad_dtype:
        raise error(f"{path}: tensors {bad_dtype[:3]} are not floating point ({', '.join(WEIGHT_DTYPES)})")
    layers = {int(m.group(1)) for name in header for m in [_LAYER_INDEX.search(name)] if m}
    if config.n_layers > len(layers):  # fewer: the comparison after the build names the extra tensors
        raise error(f"{path} does not match its config.json: {len(layers)} layers in the file, "
                    f"n_layers {config.n_layers} in the config")
    wrong = [f"{name}: file {list(header[name]['shape'])} vs config {list(shape)}"
             for name, shape in implied_shapes(config).items()
             if name in header and tuple(header[name]["shape"]) != shape]
    if wrong:
        raise error(f"{path} does not match its config.json: shape mismatch {wrong[:3]}")
    in_file = sum(math.prod(entry["shape"]) for entry in header.values())
    if parameter_bound(config) > 2 * in_file + (1 << 20):
        raise error(f"{path} does not match its config.json: the config implies far more weights "
                    f"({parameter_bound(config):,}) than the file holds ({in_file:,})")
