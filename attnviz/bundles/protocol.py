"""The interface every model bundle offers: our checkpoints (Bundle) and HuggingFace models (HFBundle).

Analysis functions and pages are typed against `ModelBundle`, not a class, so a new capability is
added to both bundles on purpose (tests/test_protocol.py checks that both satisfy it).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from attnviz.bundles.batched import BatchOutput
    from attnviz.nn.generate import GenerationConfig, GenerationResult
    from attnviz.trace import AttentionTrace

@dataclass(frozen=True)
class EmbeddingInputs:
    """What a bundle hands to the gradient methods for one text.

    embeds, baseline: (1, T, d) token embeddings and the padding baseline; forward: (N, T, d) -> logits
    (N, ...) with gradients; pooling: which position decides ("mean", "first", "last").
    """

    tokens: list[str]
    embeds: torch.Tensor
    baseline: torch.Tensor
    forward: Callable[[torch.Tensor], torch.Tensor]
    pooling: str = "mean"



# the keyword-only options every per-call method below accepts (default off)
FORWARD_OPTIONS = ("ablate",)


@runtime_checkable
class ModelBundle(Protocol):
    """A loaded model, read-only and shared by threads: nothing a call does may change it.

    ablate: (layer, head) pairs switched off for this call only (their context zeroed before the
    attention output projection).
    """

    name: str
    task: str  # "sentiment", "classification", "ner", "lm" or "encoder" (no task head)

    @property
    def causal(self) -> bool: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def n_layers(self) -> int: ...

    @property
    def n_heads(self) -> int: ...

    @property
    def max_len(self) -> int: ...

    def describe(self) -> dict: ...

    def encode(self, text: str) -> Any:
        """Text -> an encoded object with .ids, .tokens, .word_ids and .truncated."""

    def trace(self, text: str, *, ablate: Iterable | None = None) -> AttentionTrace: ...

    def predict(self, texts: list[str], *, ablate: Iterable | None = None) -> list[dict]: ...

    def logits(self, text: str, *, ablate: Iterable | None = None) -> torch.Tensor: ...

    def generate(self, prompt: str, config: GenerationConfig) -> tuple[str, GenerationResult]: ...


    def embedding_inputs(self, text: str) -> EmbeddingInputs: ...

    def forward_batch(self, texts: list[str], *, attentions: bool = True, hidden: bool = False) -> BatchOutput:
        """The texts in one padded forward pass: raw tokens, attentions and/or hidden states."""

    def query_key(self, text: str, layer: int, head: int) -> Any:
        """One head's query and key vectors for the text (attnviz.bundles.query_key.QueryKey)."""

    def query_keys(self, text: str, layer: int) -> list[Any]:
        """Every head's query and key vectors in one layer for the text (one forward pass)."""
