"""Checkpoints: a folder with config.json, model.safetensors and tokenizer.json. Never pickle.

Loading checks the files before trusting them: a pickle (renamed or not), a truncated file
or a config that does not match the tensors fails with a CheckpointError that names the
problem, and no code from the files is ever run.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from attnviz.models import ModelConfig, build_model
from attnviz.tokenize import TextTokenizer

FORMAT_NAME = "attnviz"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"
TASK_MODEL_KIND = {"sentiment": "classifier", "ner": "tagger", "lm": "causal_lm"}
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says which file and why."""


@dataclass
class Checkpoint:
    model: nn.Module
    tokenizer: TextTokenizer
    config: ModelConfig
    task: str
    labels: list[str]
    metadata: dict = field(default_factory=dict)


def save_checkpoint(folder: str | Path, model: nn.Module, tokenizer: TextTokenizer, task: str,
                    labels: list[str], metadata: dict | None = None, dtype: torch.dtype = torch.float32,
                    *, base: tuple[str, dict[str, str]] | None = None) -> Path:
    """Write the checkpoint atomically: into a temporary folder beside it, then renamed into place.

    base: (base model name, {our tensor: its tensor}); tensors equal to the base's are left out and
    recorded in config.json with their sha256 (see attnviz.base_weights), the rest stored in `dtype`."""
    folder = Path(folder)
    if task not in TASK_MODEL_KIND:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASK_MODEL_KIND)}")
    config: ModelConfig = model.config
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        state = model.state_dict()
        base_record = None
        if base is not None:
            from attnviz.base_weights import reference_shared

            state, base_record = reference_shared(base[0], state, base[1])
        tensors = {name: t.detach().to("cpu", dtype).contiguous() for name, t in state.items()}
        save_file(tensors, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        tokenizer.save(staging / TOKENIZER_FILE)
        document = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "task": task, "labels": list(labels),
            "model": config.to_dict(),
            "tokenizer": {"kind": tokenizer.kind, "normalization": tokenizer.normalization},
            "weights_dtype": str(dtype).removeprefix("torch."),
            "metadata": metadata or {},
        }
        if base_record and base_record["tensors"]:
            document["base"] = base_record
        (staging / CONFIG_FILE).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        for item in staging.iterdir():
            item.chmod(0o644)
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
        staging.chmod(0o755)
        if folder.exists():
            retired = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, retired)
            os.replace(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def is_attnviz_checkpoint(folder: str | Path) -> bool:
    config = Path(folder) / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (ValueError, OSError):
        return False


def _refuse_pickles(path: Path) -> None:
    if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path} looks like a pickled PyTorch file; attnviz never unpickles files (they can run code). "
            "Save the weights with safetensors and a config.json instead.")


def _check_safetensors_bytes(path: Path) -> None:
    """Recognise a pickle or zip (torch.save) wearing a .safetensors name before parsing anything."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise CheckpointError(f"{path} is a pickle/torch.save file renamed to .safetensors, not safetensors; "
                              "attnviz refuses to unpickle it (that could run code from the file)")
    if len(head) < 9 or head[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file (its header is missing or corrupt)")


def _read_config(folder: Path) -> dict:
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_FILE}; it is not an attnviz checkpoint folder")
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{config_path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{config_path} is not an attnviz config (no \"format\": \"attnviz\")")
    if document.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{config_path} has format version {document.get('format_version')!r}; "
                              f"this attnviz reads version {FORMAT_VERSION}")
    for key in ("task", "labels", "model", "tokenizer"):
        if key not in document:
            raise CheckpointError(f"{config_path} lacks the field {key!r}")
    return document


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint folder into a model in eval mode, its tokenizer and its config."""
    folder = Path(folder)
    _refuse_pickles(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    document = _read_config(folder)
    try:
        config = ModelConfig.from_dict(document["model"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{folder / CONFIG_FILE}: invalid model config: {error}") from None
    if TASK_MODEL_KIND.get(document["task"]) != config.kind:
        raise CheckpointError(f"{folder / CONFIG_FILE}: task {document['task']!r} does not fit model kind {config.kind!r}")
    weights_path = folder / WEIGHTS_FILE
    if not weights_path.is_file():
        pickles = [p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
        hint = f" (found {', '.join(pickles)}: pickles are never loaded)" if pickles else ""
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}{hint}")
    _check_safetensors_bytes(weights_path)
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{weights_path} is truncated or corrupt: {error}") from None
    if "base" in document:
        from attnviz.base_weights import BaseWeightsError, fill_from_base

        try:
            tensors.update(fill_from_base(document["base"], str(folder / CONFIG_FILE)))
        except BaseWeightsError as error:
            raise CheckpointError(str(error)) from None
    model = build_model(config)
    _check_tensors_match(model, tensors, weights_path)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    try:
        tokenizer = TextTokenizer.load(folder / TOKENIZER_FILE, document["tokenizer"]["kind"],
                                       document["tokenizer"].get("normalization", "none"))
    except Exception as error:  # the tokenizers library raises plain Exceptions for bad files
        raise CheckpointError(f"{folder / TOKENIZER_FILE} cannot be read: {error}") from None
    if tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(f"{folder}: the tokenizer has {tokenizer.vocab_size} tokens "
                              f"but the model only {config.vocab_size}")
    labels = list(document["labels"])
    if config.kind != "causal_lm" and len(labels) != config.n_labels:
        raise CheckpointError(f"{folder / CONFIG_FILE}: {len(labels)} labels but the model has {config.n_labels} outputs")
    model.to(device).eval()
    return Checkpoint(model, tokenizer, config, document["task"], labels, document.get("metadata", {}))


def _check_tensors_match(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [f"{n}: file {found[n]} vs config {expected[n]}" for n in sorted(set(expected) & set(found))
             if expected[n] != found[n]]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing[:5]}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:5]}")
    if wrong:
        problems.append(f"shape mismatch {wrong[:3]}")
    if problems:
        raise CheckpointError(f"{path} does not match its config.json: " + "; ".join(problems))
