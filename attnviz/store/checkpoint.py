"""Checkpoints: a folder with config.json, model.safetensors and tokenizer.json. Never pickle.

Loading checks the files before trusting them: a pickle (renamed or not), a truncated file
or a config that does not match the tensors fails with a CheckpointError that names the
problem, and no code from the files is ever run.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from tokenizers import Tokenizer
from torch import nn

from attnviz.store import atomic_dir, safe_write, safefiles
from attnviz.errors import CheckpointError
from attnviz.hosted import VISITOR_MARKER
from attnviz.store.checkpoint_checks import TASK_MODEL_KIND, check_header_matches, validate_document
from attnviz.memory import release_free_memory
from attnviz.nn.models import ModelConfig, build_model
from attnviz.text.tokenize import TextTokenizer

FORMAT_NAME = "attnviz"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


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
    recorded in config.json with their sha256 (see attnviz.store.base_weights), the rest stored in `dtype`."""
    folder = Path(folder)
    if task not in TASK_MODEL_KIND:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASK_MODEL_KIND)}")
    config: ModelConfig = model.config
    check_replaceable(folder)
    staging = atomic_dir.staging_folder(folder)
    try:
        state = model.state_dict()
        base_record = None
        if base is not None:
            from attnviz.store.base_weights import reference_shared

            state, base_record = reference_shared(base[0], state, base[1])
        tensors = {name: t.detach().to("cpu", dtype).contiguous() for name, t in state.items()}
        safe_write.save_bytes(staging / WEIGHTS_FILE, save(tensors, metadata={"format": "pt"}))
        safe_write.save_via(staging / TOKENIZER_FILE, tokenizer.save)
        document = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "task": task, "labels": list(labels),
            "model": config.to_dict(),
            "tokenizer": {"kind": tokenizer.kind, "normalization": tokenizer.normalization},
            "weights_dtype": str(dtype).removeprefix("torch."),
            "metadata": metadata or {},
        }
        if base_record and base_record["tensors"]:
            document["base"] = base_record
        safe_write.save_text(staging / CONFIG_FILE, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if _is_regular(folder / VISITOR_MARKER):  # a Train-page folder stays marked as a visitor's
            safe_write.save_text(staging / VISITOR_MARKER, "made by the attnviz Train page\n")
        staging.chmod(0o755)
        atomic_dir.commit(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def check_replaceable(folder: str | Path) -> None:
    """CheckpointError unless `folder` is absent, empty or itself an attnviz checkpoint (safe to replace)."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise CheckpointError(f"{folder} exists and is not a folder; refusing to replace it")
    if any(p.name != VISITOR_MARKER for p in folder.iterdir()) and not is_attnviz_checkpoint(folder):
        raise CheckpointError(f"{folder} is not an attnviz checkpoint folder (nor empty); refusing to replace "
                              "it: choose a new folder")


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_attnviz_checkpoint(folder: str | Path) -> bool:
    config = Path(folder) / CONFIG_FILE
    try:
        document = safefiles.read_json(config, safefiles.MAX_CONFIG_BYTES, CheckpointError)
    except CheckpointError:
        return False
    return isinstance(document, dict) and document.get("format") == FORMAT_NAME


def _refuse_pickles(path: Path) -> None:
    if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path} looks like a pickled PyTorch file; attnviz never unpickles files (they can run code). "
            "Save the weights with safetensors and a config.json instead.")


def _check_safetensors_bytes(path: Path) -> None:
    """Recognise a pickle or zip (torch.save) wearing a .safetensors name before parsing anything."""
    safefiles.check_regular_file(path, safefiles.MAX_WEIGHTS_BYTES, CheckpointError)
    with open(path, "rb") as handle:
        head = handle.read(9)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise CheckpointError(f"{path} is a pickle/torch.save file renamed to .safetensors, not safetensors; "
                              "attnviz refuses to unpickle it (that could run code from the file)")
    if len(head) < 9 or head[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file (its header is missing or corrupt)")


def _read_config(folder: Path) -> dict:
    config_path = folder / CONFIG_FILE
    if not os.path.lexists(config_path):
        raise CheckpointError(f"{folder} has no {CONFIG_FILE}; it is not an attnviz checkpoint folder")
    document = safefiles.read_json(config_path, safefiles.MAX_CONFIG_BYTES, CheckpointError)
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{config_path} is not an attnviz config (no \"format\": \"attnviz\")")
    version = document.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:  # true == 1 in Python: booleans are refused
        raise CheckpointError(f"{config_path} has format version {document.get('format_version')!r}; "
                              f"this attnviz reads version {FORMAT_VERSION}")
    for key in ("task", "labels", "model", "tokenizer"):
        if key not in document:
            raise CheckpointError(f"{config_path} lacks the field {key!r}")
    return document


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu", *,
                    share_base: bool = True) -> Checkpoint:
    """Read a checkpoint folder into a model in eval mode, its tokenizer and its config.

    share_base: tensors filled in from a base model (see attnviz.store.base_weights) are the process-wide
    shared, frozen tensors (requires_grad False; never write into them); False gives private copies."""
    folder = Path(folder)
    _refuse_pickles(folder)
    atomic_dir.recover(folder)  # a save killed between its two renames; stale staging folders of dead writers
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    document = _read_config(folder)
    config = validate_document(document, str(folder / CONFIG_FILE), CheckpointError)
    weights_path = folder / WEIGHTS_FILE
    if not os.path.lexists(weights_path):
        pickles = [p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
        hint = f" (found {', '.join(pickles)}: pickles are never loaded)" if pickles else ""
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}{hint}")
    _check_safetensors_bytes(weights_path)
    header = safefiles.read_safetensors_header(weights_path, CheckpointError)
    header = {**_base_header(document, folder / CONFIG_FILE), **header}  # tensors the base supplies
    check_header_matches(config, header, str(weights_path), CheckpointError)
    tokenizer_text = safefiles.read_bytes_bounded(folder / TOKENIZER_FILE, safefiles.MAX_TOKENIZER_BYTES,
                                                  CheckpointError)
    try:
        tokenizer = TextTokenizer(Tokenizer.from_str(tokenizer_text.decode("utf-8")), document["tokenizer"]["kind"],
                                  document["tokenizer"].get("normalization", "none"))
    except Exception as error:  # the tokenizers library raises plain Exceptions for bad files
        raise CheckpointError(f"{folder / TOKENIZER_FILE} cannot be read: {str(error)[:200]}") from None
    if tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(f"{folder}: the tokenizer has {tokenizer.vocab_size} tokens "
                              f"but the model only {config.vocab_size}")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{weights_path} is truncated or corrupt: {error}") from None
    if "base" in document:
        from attnviz.store.base_weights import BaseWeightsError, fill_from_base

        try:
            from_base = fill_from_base(document["base"], str(folder / CONFIG_FILE), shared=share_base)
        except BaseWeightsError as error:
            raise CheckpointError(str(error)) from None
        tensors.update(from_base)
    _refuse_non_finite(tensors, weights_path)
    model = build_model(config)
    _check_tensors_match(model, tensors, weights_path)
    for name, tensor in tensors.items():  # float16/bfloat16 files: one float32 copy each, dropped as we go
        if tensor.dtype != torch.float32:
            tensors[name] = tensor.float()
    model.load_state_dict(tensors, assign=True)  # the tensors become the weights: no second copy
    del tensors
    if "base" in document and share_base:
        for name, parameter in model.named_parameters():
            if name in from_base:
                parameter.requires_grad_(False)  # it aliases the shared base tensor
    labels = list(document["labels"])
    model.to(device).eval()
    release_free_memory()  # the freshly initialised weights that were replaced
    return Checkpoint(model, tokenizer, config, document["task"], labels, document.get("metadata", {}))


def _refuse_non_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """CheckpointError naming the first floating-point tensor holding NaN or infinity (it would predict NaN)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values; the checkpoint is "
                                  "damaged (or was saved from a run that diverged)")


def _base_header(document: dict, config_path: Path) -> dict[str, dict]:
    """Header-like entries (shape, dtype) for the tensors a base-referenced checkpoint leaves out, so the
    size checks see the whole model; the tensors themselves are checked by sha256 when they are filled in."""
    base = document.get("base")
    if base is None:
        return {}
    tensors = base.get("tensors") if isinstance(base, dict) else None
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{config_path}: \"base\" must name its tensors")
    entries = {}
    for name, entry in tensors.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and 0 < len(shape) <= 4
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 1 << 24 for n in shape)):
            raise CheckpointError(f"{config_path}: base tensor {str(name)[:80]!r} has no valid shape")
        entries[str(name)] = {"shape": shape, "dtype": "F32"}
    return entries


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
