"""A loaded model ready to use: predict, trace and (for language models) generate."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from attnviz.bundles.protocol import EmbeddingInputs
from attnviz.nn.ablation import normalize_heads
from attnviz.bundles.batched import BatchOutput, pad_ids, stack_layers
from attnviz.store.checkpoint import Checkpoint, load_checkpoint
from attnviz.errors import InputError, require_text
from attnviz.nn.generate import GenerationConfig, GenerationResult, generate
from attnviz.nn.tagging import tag_words
from attnviz.text.tokenize import Encoded
from attnviz.trace import AttentionTrace

WORD_PATTERN = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[str]:
    """Free text -> words and punctuation marks, the way CoNLL files list tokens."""
    return WORD_PATTERN.findall(text)


@dataclass
class Bundle:
    """One of our checkpoints, loaded: model (eval mode), tokenizer, config, labels, metadata."""

    checkpoint: Checkpoint
    name: str
    source: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def task(self) -> str:
        return self.checkpoint.task

    @property
    def labels(self) -> list[str]:
        return self.checkpoint.labels

    @property
    def model(self) -> torch.nn.Module:
        return self.checkpoint.model

    @property
    def tokenizer(self):
        return self.checkpoint.tokenizer

    @property
    def config(self):
        return self.checkpoint.config

    @property
    def metadata(self) -> dict:
        return self.checkpoint.metadata

    @property
    def max_len(self) -> int:
        return self.config.max_len

    @property
    def causal(self) -> bool:
        return self.config.causal

    @property
    def n_layers(self) -> int:
        return self.config.n_layers

    @property
    def n_heads(self) -> int:
        return self.config.n_heads

    def describe(self) -> dict:
        """Facts for a model card or the sidebar."""
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"name": self.name, "task": self.task, "layers": self.n_layers, "heads": self.n_heads,
                "d_model": self.config.d_model, "context": self.max_len, "parameters": n_params,
                "labels": self.labels, "metrics": self.metadata.get("dev_metrics", {})}

    def encode(self, text: str) -> Encoded:
        """Text -> tokens, cut to the model's context (Encoded.truncated says so)."""
        require_text(text)
        if self.task == "ner":
            words = split_words(text)
            if not words:
                raise InputError("The text has no words to tag.")
            encoded = self.tokenizer.encode_words(words, self.max_len)
        else:
            encoded = self.tokenizer.encode(text, self.max_len)
        if not encoded.ids:
            raise InputError("The text gave no tokens this model knows.")
        if self.task == "lm" and encoded.truncated:  # a language model reads the end of a long text
            full = self.tokenizer.encode(text)
            encoded = Encoded(full.ids[-self.max_len:], full.tokens[-self.max_len:],
                              full.word_ids[-self.max_len:], True, (full.case_ids or [])[-self.max_len:] or None)
        return encoded

    @torch.no_grad()
    def _forward(self, encoded: Encoded, need_weights: bool, ablate: Iterable | None = None):
        ids = torch.tensor([encoded.ids], device=self.device)  # (1, T)
        cases = torch.tensor([encoded.case_ids], device=self.device) if encoded.case_ids else None
        heads = normalize_heads(ablate, self.n_layers, self.n_heads)
        return self.model(ids, need_weights=need_weights, case_ids=cases, ablate=heads)

    def trace(self, text: str, *, ablate: Iterable | None = None) -> AttentionTrace:
        """Every head of every layer for this text: weights [layers, heads, T, T].

        ablate: (layer, head) pairs switched off for this call (their context zeroed before the
        output projection); the switched-off heads' own weights are still shown as computed.
        """
        encoded = self.encode(text)
        output = self._forward(encoded, need_weights=True, ablate=ablate)
        weights = torch.stack([w[0] for w in output.attentions]).float().cpu().numpy()  # (L, H, T, T)
        notes = []
        if encoded.truncated:
            where = "last" if self.task == "lm" else "first"
            notes.append(f"The text was cut to its {where} {self.max_len} tokens, the model's context length.")
        return AttentionTrace(weights.astype(np.float32), encoded.tokens, causal=self.causal,
                              model_name=self.name, notes=notes)

    @torch.no_grad()
    def forward_batch(self, texts: list[str], *, attentions: bool = True, hidden: bool = False) -> BatchOutput:
        """The texts in one padded forward pass (see attnviz.bundles.batched); raw tokens, specials included."""
        from attnviz.text.display import is_special

        encoded = [self.encode(text) for text in texts]
        ids, mask = pad_ids([e.ids for e in encoded], self.tokenizer.pad_id or 0, self.device)
        cases = None
        if any(e.case_ids for e in encoded):
            cases, _ = pad_ids([e.case_ids or [0] * len(e.ids) for e in encoded], 0, self.device)
        output = self.model(ids, mask, need_weights=attentions, case_ids=cases, return_hidden=hidden)
        return BatchOutput([e.tokens for e in encoded], [[is_special(t) for t in e.tokens] for e in encoded],
                           [len(e.ids) for e in encoded],
                           stack_layers(output.attentions) if attentions else None,
                           stack_layers(output.hidden_states) if hidden else None)


    def query_key(self, text: str, layer: int, head: int):
        """The query and key vectors of one head for this text (attnviz.bundles.query_key.QueryKey)."""
        from attnviz.bundles.query_key import bundle_query_key
        return bundle_query_key(self, text, layer, head)

    def query_keys(self, text: str, layer: int):
        """The query and key vectors of every head of one layer for this text (one forward pass)."""
        from attnviz.bundles.query_key import bundle_query_keys
        return bundle_query_keys(self, text, layer)

    def predict(self, texts: list[str], *, ablate: Iterable | None = None) -> list[dict]:
        """One dict per text: the label and probabilities (sentiment), the tags and entities (ner),
        or the most likely next tokens (lm). ablate: (layer, head) pairs switched off for this call."""
        if isinstance(texts, str):
            texts = [texts]
        return [self._predict_one(text, ablate) for text in texts]

    def logits(self, text: str, *, ablate: Iterable | None = None) -> torch.Tensor:
        """The model's raw output for one text: (labels,) | (T, labels) | (T, vocab), float32 on the CPU."""
        return self._forward(self.encode(text), need_weights=False, ablate=ablate).logits[0].float().cpu()


    def embedding_inputs(self, text: str) -> EmbeddingInputs:
        """The text's token embeddings, the padding baseline and a forward pass from embeddings."""
        encoded = self.encode(text)
        ids = torch.tensor([encoded.ids], device=self.device)  # (1, T)
        cases = torch.tensor([encoded.case_ids], device=self.device) if encoded.case_ids else None
        table = self.model.encoder.token_embedding
        with torch.no_grad():
            embeds = table(ids).detach()  # (1, T, d)
            baseline = table(torch.full_like(ids, self.config.pad_id)).detach()  # (1, T, d)

        def forward(batch: torch.Tensor) -> torch.Tensor:  # (N, T, d) -> logits (N, ...)
            n = batch.shape[0]
            return self.model(ids.expand(n, -1), case_ids=None if cases is None else cases.expand(n, -1),
                              token_embeds=batch).logits

        return EmbeddingInputs(encoded.tokens, embeds, baseline, forward, "last" if self.causal else "mean")

    def _predict_one(self, text: str, ablate: Iterable | None = None) -> dict:
        encoded = self.encode(text)
        logits = self._forward(encoded, need_weights=False, ablate=ablate).logits[0].float().cpu()
        result = {"text": text, "tokens": encoded.tokens, "truncated": encoded.truncated}
        if self.task == "sentiment":
            probs = torch.softmax(logits, -1)
            result["label"] = self.labels[int(probs.argmax())]
            result["probabilities"] = {label: float(p) for label, p in zip(self.labels, probs)}
        elif self.task == "ner":
            result.update(tag_words(split_words(text), encoded.word_ids, torch.softmax(logits, -1), self.labels))
        else:
            probs = torch.softmax(logits[-1], -1)
            top = torch.topk(probs, min(5, probs.numel()))
            result["next_tokens"] = [(self.tokenizer.id_to_token(int(i)), float(p))
                                     for p, i in zip(top.values, top.indices)]
        return result

    def generate(self, prompt: str, config: GenerationConfig) -> tuple[str, GenerationResult]:
        """Continue the prompt; returns the new text and the per-step details."""
        if self.task != "lm":
            raise InputError(f"{self.name} is a {self.task} model; only language models generate text.")
        if not prompt:
            prompt = "\n"
        encoded = self.tokenizer.encode(prompt)
        ids = encoded.ids[-self.max_len:]
        if not ids:
            raise InputError("The prompt gave no tokens this model knows.")
        never = tuple(i for i in (self.tokenizer.pad_id, self.tokenizer.unk_id) if i is not None)
        result = generate(self.model, ids, replace(config, banned_ids=config.banned_ids + never))
        return self.tokenizer.decode(result.new_ids), result


def load_bundle(folder: str | Path, device: str | torch.device = "cpu", name: str | None = None) -> Bundle:
    folder = Path(folder)
    checkpoint = load_checkpoint(folder, device)
    return Bundle(checkpoint, name or folder.name, str(folder), torch.device(device))
