"""HFBundle: a loaded HuggingFace model with the same interface as our Bundle (see hf.py for loading).

Thread safety: a loaded HFBundle is shared across threads. The model is in eval mode and is never
changed after loading; the tokenizer is always called with the same options (set once, while loading),
so calls do not reconfigure it; every forward pass keeps its state in local variables.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from attnviz.bundles.protocol import EmbeddingInputs
from attnviz.nn.ablation import hooked_ablation, normalize_heads
from attnviz.bundles.batched import BatchOutput, pad_ids, stack_layers
from attnviz.bundles.bundle import WORD_PATTERN
from attnviz.errors import InputError, ModelLoadError, require_text
from attnviz.bundles.hf_generate import generate_hf
from attnviz.nn.generate import GenerationConfig, GenerationResult
from attnviz.nn.tagging import tag_words
from attnviz.trace import AttentionTrace

MAX_CONTEXT = 512
PROBE_TEXT = "attention"


@dataclass(frozen=True)
class HFEncoded:
    """One text as the model reads it (already cut to the context).

    word_ids: for each token, the index of the word (bundle.split_words order) it starts in, None for
    special tokens; ready for `attnviz.text.display.merge_word_pieces(trace, word_ids)`.
    """

    ids: list[int]
    tokens: list[str]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]
    truncated: bool
    words: list[str] = field(default_factory=list)



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
    def n_kv_heads(self) -> int:
        """Key/value heads: fewer than the query heads under grouped-query attention (GQA), where each
        key/value head serves n_heads / n_kv_heads query heads; every query head is shown."""
        return int(getattr(self.text_config, "num_key_value_heads", None) or self.n_heads)

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
                "kv_heads": self.n_kv_heads,
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
    def _forward(self, encoded: HFEncoded, attentions: bool, ablate: Iterable | None = None):
        ids = torch.tensor([encoded.ids], device=self.device)
        options = {"attention_mask": torch.ones_like(ids), "output_attentions": attentions, "return_dict": True}
        if self.causal:
            options["use_cache"] = False
        heads = normalize_heads(ablate, self.n_layers, self.n_heads)
        with hooked_ablation(self.model, heads, self.n_layers, self.n_heads):
            return self.model(input_ids=ids, **options)

    def _probe(self) -> None:
        """Fail at load time, not on the first page, when the model gives no attention weights."""
        self.trace(PROBE_TEXT)

    # -- the interface every page uses
    def trace(self, text: str, *, ablate: Iterable | None = None) -> AttentionTrace:
        """Every head of every layer for this text: weights [layers, heads, T, T] (float32).

        tokens are the tokenizer's tokens, special tokens included ([CLS], [SEP], <s>...).
        ablate: (layer, head) pairs switched off for this call (see attnviz.nn.ablation).
        """
        encoded = self.encode(text)
        output = self._forward(encoded, attentions=True, ablate=ablate)
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

    @torch.inference_mode()
    def forward_batch(self, texts: list[str], *, attentions: bool = True, hidden: bool = False) -> BatchOutput:
        """The texts in one padded forward pass (see attnviz.bundles.batched); each text is encoded alone, as
        `encode` does, so the shared tokenizer is never reconfigured for padding."""
        encoded = [self.encode(text) for text in texts]
        pad = getattr(self.tokenizer, "pad_token_id", None)
        ids, mask = pad_ids([e.ids for e in encoded], pad if pad is not None else 0, self.device)
        options = {"attention_mask": mask.long(), "output_attentions": attentions,
                   "output_hidden_states": hidden, "return_dict": True}
        if self.causal:
            options["use_cache"] = False
        output = self.model(input_ids=ids, **options)
        if attentions and (not output.attentions or any(a is None for a in output.attentions)):
            raise ModelLoadError(f"model {self.name} cannot return attention weights")
        specials = self.special_tokens
        return BatchOutput([e.tokens for e in encoded], [[t in specials for t in e.tokens] for e in encoded],
                           [len(e.ids) for e in encoded],
                           stack_layers(output.attentions) if attentions else None,
                           stack_layers(output.hidden_states[1:]) if hidden else None)  # [0]: embeddings

    def query_key(self, text: str, layer: int, head: int):
        """The query and key vectors of one head for this text (attnviz.bundles.query_key.QueryKey)."""
        from attnviz.bundles.query_key import hf_query_key
        return hf_query_key(self, text, layer, head)

    def query_keys(self, text: str, layer: int):
        """The query and key vectors of every head of one layer for this text (one forward pass)."""
        from attnviz.bundles.query_key import hf_query_keys
        return hf_query_keys(self, text, layer)

    def predict(self, texts: list[str], *, ablate: Iterable | None = None) -> list[dict]:
        """One dict per text with "text", "tokens", "truncated" and:
        sentiment/classification: "label", "probabilities"; ner: "words", "tags", "confidences",
        "entities"; lm: "next_tokens" [(token, probability)]; encoder: "embedding" (list of floats,
        as sentence-transformers computes it) when the folder is a sentence-transformers model.
        ablate: (layer, head) pairs switched off for this call."""
        if isinstance(texts, str):
            texts = [texts]
        return [self._predict_one(text, ablate) for text in texts]

    def logits(self, text: str, *, ablate: Iterable | None = None) -> torch.Tensor:
        """The model's raw output for one text: (labels,) | (T, labels) | (T, vocab), float32 on the CPU."""
        if self.task == "encoder":
            raise InputError(f"{self.name} is an encoder without a task head: there is no prediction to explain.")
        return self._forward(self.encode(text), attentions=False, ablate=ablate).logits[0].float().cpu()


    def embedding_inputs(self, text: str) -> EmbeddingInputs:
        """The text's word embeddings, the padding baseline (zeros when the model has no padding
        token) and a forward pass from embeddings (position embeddings are added by the model)."""
        if self.task == "encoder":
            raise InputError(f"{self.name} is an encoder without a task head: there is no prediction to explain.")
        encoded = self.encode(text)
        ids = torch.tensor([encoded.ids], device=self.device)  # (1, T)
        table = self.model.get_input_embeddings()
        pad = getattr(self.tokenizer, "pad_token_id", None)
        pad = pad if pad is not None else getattr(self.text_config, "pad_token_id", None)
        with torch.no_grad():
            embeds = table(ids).detach()  # (1, T, d)
            baseline = table(torch.full_like(ids, pad)).detach() if pad is not None else torch.zeros_like(embeds)

        def forward(batch: torch.Tensor) -> torch.Tensor:  # (N, T, d) -> logits (N, ...)
            mask = torch.ones(batch.shape[:2], dtype=torch.long, device=batch.device)
            options = {"use_cache": False} if self.causal else {}
            return self.model(inputs_embeds=batch, attention_mask=mask, return_dict=True, **options).logits

        return EmbeddingInputs(encoded.tokens, embeds, baseline, forward, "last" if self.causal else "first")

    def _predict_one(self, text: str, ablate: Iterable | None = None) -> dict:
        pooling = self.sentence_pooling if self.task == "encoder" else None
        encoded = self.encode(text, max_len=pooling.get("max_seq_length") if pooling else None)
        result = {"text": text, "tokens": encoded.tokens, "truncated": encoded.truncated}
        if self.task == "encoder" and not pooling:
            return result
        output = self._forward(encoded, attentions=False, ablate=ablate)
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
        return generate_hf(self, prompt, config)


def _word_of(offset: tuple[int, int], spans: list[tuple[int, int]]) -> int | None:
    """Index of the word (a span of WORD_PATTERN) that this token's characters overlap first."""
    start, end = offset
    if end <= start:
        return None
    for index, (a, b) in enumerate(spans):
        if start < b and end > a:
            return index
    return None
