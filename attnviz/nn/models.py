"""Three models from one frozen config: a sequence classifier, a token tagger, a causal LM."""
from __future__ import annotations

import math
from functools import partial
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from attnviz.nn.edit import ActivationEdit
from attnviz.nn.layers import EncoderBlock
from attnviz.nn.positional import LearnedPositions, SinusoidalPositions

MODEL_KINDS = ("classifier", "tagger", "causal_lm")
N_CASES = 5  # see attnviz.text.tokenize.letter_case


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; saved as JSON beside the weights."""

    kind: str  # "classifier" | "tagger" | "causal_lm"
    vocab_size: int
    n_labels: int = 2  # classes (classifier) or tags (tagger); unused by the LM
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    max_len: int = 256  # the context length
    dropout: float = 0.1
    positional: str = "sinusoidal"  # "sinusoidal" | "learned"
    norm_first: bool = False
    activation: str = "relu"
    layer_norm_eps: float = 1e-5
    embedding_norm: bool = False  # BERT-style LayerNorm right after the embeddings
    case_features: bool = False  # add an embedding of each token's letter case (for uncased vocabularies)
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}")
        if self.positional not in ("sinusoidal", "learned"):
            raise ValueError(f"unknown positional encoding {self.positional!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def causal(self) -> bool:
        return self.kind == "causal_lm"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {unknown}")
        return cls(**values)


@dataclass
class ModelOutput:
    """logits: (B, n_labels) | (B, T, n_labels) | (B, T, vocab); attentions: one (B, H, T, T) per layer."""

    logits: torch.Tensor
    attentions: list[torch.Tensor] | None = None
    hidden_states: list[torch.Tensor] | None = None  # with return_hidden=True: (B, T, d) after each block
    qk: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # with return_qk=True: per layer (q, k), (B, H, T, d_head)


class Encoder(nn.Module):
    """Token embedding + positional encoding + a stack of blocks: the trunk all three models share."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.positional == "sinusoidal":
            # unit-variance embeddings, comparable in size to the encoding they are added to
            nn.init.normal_(self.token_embedding.weight, std=config.d_model ** -0.5)
            self.embed_scale = math.sqrt(config.d_model)
            self.positions: nn.Module = SinusoidalPositions(config.max_len, config.d_model)
        else:
            nn.init.normal_(self.token_embedding.weight, std=0.02)
            self.embed_scale = 1.0
            self.positions = LearnedPositions(config.max_len, config.d_model)
        # starts at zero, so a pretrained encoder begins exactly as it was
        self.case_embedding = nn.Embedding(N_CASES, config.d_model) if config.case_features else None
        if self.case_embedding is not None:
            nn.init.zeros_(self.case_embedding.weight)
        self.embedding_norm = (nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
                               if config.embedding_norm else nn.Identity())
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(config.d_model, config.n_heads, config.d_ff, config.dropout,
                         config.activation, config.norm_first, config.layer_norm_eps)
            for _ in range(config.n_layers))
        self.final_norm = (nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
                           if config.norm_first else nn.Identity())

    def embed(self, ids: torch.Tensor, case_ids: torch.Tensor | None = None,
              token_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T) -> the input of the first block (B, T, d): token (+ case) embedding, positions, norm."""
        x = (self.token_embedding(ids) if token_embeds is None else token_embeds) * self.embed_scale
        if self.case_embedding is not None:
            x = x + self.case_embedding(case_ids if case_ids is not None else torch.zeros_like(ids))
        x = self.positions(x)
        return self.dropout(self.embedding_norm(x))

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                need_weights: bool = False, case_ids: torch.Tensor | None = None, *,
                ablate: Collection[tuple[int, int]] = (), token_embeds: torch.Tensor | None = None,
                return_hidden: bool = False, return_qk: bool = False, edit: ActivationEdit | None = None) -> tuple:
        """ids, case_ids: (B, T) -> hidden (B, T, d) and, if asked, per-layer weights [(B, H, T, T)].

        ablate: (layer, head) pairs switched off for this call (see MultiHeadSelfAttention).
        token_embeds: (B, T, d) used instead of token_embedding(ids) (for gradients w.r.t. the input).
        return_hidden=True adds a third item: the hidden state after each block [(B, T, d)] (kept in
        local variables for this call only; nothing is stored on the module).
        return_qk=True adds, after those, per layer the (q, k) its attention formed, each (B, H, T, d_head).
        edit: reads/writes of the residual stream and head contexts for this call (attnviz.nn.edit).
        """
        x = self.embed(ids, case_ids, token_embeds)
        attentions: list[torch.Tensor] | None = [] if need_weights else None
        hidden_states: list[torch.Tensor] = []
        qk: list[tuple[torch.Tensor, torch.Tensor]] = []
        for index, block in enumerate(self.blocks):
            if return_qk:  # the input the block's attention reads (after its LayerNorm when pre-norm)
                qk.append(block.attention.query_key(block.attention_norm(x) if block.norm_first else x))
            heads = [head for layer, head in ablate if layer == index]
            context = None if edit is None or edit.context is None else partial(edit.at_context, index)
            x = x if edit is None else edit.at_residual(index, x)
            x, weights = block(x, attention_mask, self.config.causal, need_weights, ablate=heads, edit_context=context)
            if attentions is not None:
                attentions.append(weights)
            if return_hidden:
                hidden_states.append(x)
        x = x if edit is None else edit.at_residual(len(self.blocks), x)
        extras = ([hidden_states] if return_hidden else []) + ([qk] if return_qk else [])
        return (self.final_norm(x), attentions, *extras)


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over real tokens only: (B, T, d), (B, T) -> (B, d)."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _run_encoder(encoder: "Encoder", ids, attention_mask, need_weights, case_ids, ablate, token_embeds,
                 return_hidden: bool, return_qk: bool, edit: ActivationEdit | None = None) -> tuple:
    """The encoder's forward with this call's options -> (hidden, attentions, hidden states, q/k);
    the last two are None when not asked for (the Encoder appends them only on request)."""
    hidden, attentions, *extras = encoder(ids, attention_mask, need_weights, case_ids, ablate=ablate,
                                          token_embeds=token_embeds, return_hidden=return_hidden,
                                          return_qk=return_qk, edit=edit)
    states = extras.pop(0) if return_hidden else None
    qk = extras.pop(0) if return_qk else None
    return hidden, attentions, states, qk


class _LabelledEncoder(nn.Module):
    """Encoder + dropout + a linear layer over labels; subclasses say what the layer reads."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, config.n_labels)

    def features(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                need_weights: bool = False, case_ids: torch.Tensor | None = None, *,
                ablate: Collection[tuple[int, int]] = (), token_embeds: torch.Tensor | None = None,
                return_hidden: bool = False, return_qk: bool = False,
                edit: ActivationEdit | None = None) -> ModelOutput:
        hidden, attentions, states, qk = _run_encoder(self.encoder, ids, attention_mask, need_weights, case_ids,
                                                      ablate, token_embeds, return_hidden, return_qk, edit)
        return ModelOutput(self.head(self.dropout(self.features(hidden, attention_mask))), attentions, states, qk)


class SequenceClassifier(_LabelledEncoder):
    """Encoder -> mean over real tokens (padding ignored) -> linear layer over classes: (B, n_labels)."""

    def features(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return masked_mean(hidden, attention_mask)  # (B, d)


class TokenTagger(_LabelledEncoder):
    """Encoder -> linear layer giving tag logits for every token: (B, T, n_labels)."""

    def features(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return hidden  # (B, T, d)


class CausalLM(nn.Module):
    """Decoder-only language model: causal self-attention, then a linear layer over the vocabulary."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        nn.init.normal_(self.head.weight, std=0.02)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                need_weights: bool = False, case_ids: torch.Tensor | None = None, *,
                ablate: Collection[tuple[int, int]] = (), token_embeds: torch.Tensor | None = None,
                return_hidden: bool = False, return_qk: bool = False,
                edit: ActivationEdit | None = None) -> ModelOutput:
        hidden, attentions, states, qk = _run_encoder(self.encoder, ids, attention_mask, need_weights, case_ids,
                                                      ablate, token_embeds, return_hidden, return_qk, edit)
        return ModelOutput(self.head(hidden), attentions, states, qk)  # (B, T, vocab)


MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "classifier": SequenceClassifier, "tagger": TokenTagger, "causal_lm": CausalLM}


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised model of the config's kind."""
    return MODEL_CLASSES[config.kind](config)
