"""What a model is, read from its files alone (config.json and the safetensors header): layers,
heads, parameters and dev metrics, without loading a single weight. The Home page lists the models
this way, so a fresh server holds no model until a page needs one."""
from __future__ import annotations

import json
import math
from pathlib import Path

from safetensors import safe_open

from attnviz.store.checkpoint import CONFIG_FILE, WEIGHTS_FILE, is_attnviz_checkpoint
from attnviz.bundles.registry import ModelEntry


def count_parameters(weights: Path) -> int:
    """The number of floating-point values in a safetensors file, from its header (no tensor is
    read); integer tensors (position-id buffers) are not parameters."""
    with safe_open(str(weights), framework="numpy") as handle:
        slices = [handle.get_slice(name) for name in handle.keys()]
        return sum(math.prod(s.get_shape()) for s in slices if s.get_dtype().startswith(("F", "BF")))


def model_folder(entry: ModelEntry) -> Path:
    """The folder holding the entry's files (the pretrained MiniLM lives inside its package)."""
    folder = Path(entry.source)
    if folder.is_dir():
        return folder
    from attnviz.bundles.hf import is_minilm_name, minilm_folder
    if is_minilm_name(entry.source):
        return minilm_folder()
    raise FileNotFoundError(f"no model folder for {entry.name}")


def model_facts(entry: ModelEntry) -> dict:
    """{"layers", "heads", "parameters", "metrics"} of a model from its config.json and weights header.

    Raises OSError or ValueError (with the reason) when the files are missing or unreadable.
    """
    folder = model_folder(entry)
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    if is_attnviz_checkpoint(folder):
        shape, metadata = config["model"], config.get("metadata") or {}
        layers, heads, metrics = shape["n_layers"], shape["n_heads"], metadata.get("dev_metrics") or {}
    else:
        text = config.get("text_config") or config
        layers, heads, metrics = text["num_hidden_layers"], text["num_attention_heads"], {}
    weights = folder / WEIGHTS_FILE
    parameters = count_parameters(weights) if weights.is_file() else None
    if parameters is not None and isinstance(config.get("base"), dict):  # tensors filled in from the base
        for tensor in (config["base"].get("tensors") or {}).values():
            parameters += math.prod(int(n) for n in tensor.get("shape", []))
    return {"layers": int(layers), "heads": int(heads), "parameters": parameters, "metrics": metrics}
