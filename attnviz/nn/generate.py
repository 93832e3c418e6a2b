"""Sampling from a causal language model: temperature, top-k, top-p, stop tokens, a seed."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn


MAX_NEW_TOKENS_CAP = 10_000  # a few minutes on a CPU for the small models; the app asks for at most 500
MAX_TEMPERATURE = 100.0
MAX_CANDIDATES = 100


def _int_field(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high:,}, not {value!r:.40}")


@dataclass(frozen=True)
class GenerationConfig:
    """temperature 0 means greedy; top_k 0 and top_p 1.0 switch those filters off."""

    max_new_tokens: int = 200
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    stop_ids: tuple[int, ...] = ()
    banned_ids: tuple[int, ...] = ()  # never generated (padding, unknown)
    seed: int | None = None
    n_candidates: int = 5
    record_attention: bool = False  # keep, per step, the attention row that chose the token (see GenerationStep)
    forced: Mapping[int, int] = field(default_factory=dict)  # step -> token id taken at that step (a branch)

    def __post_init__(self) -> None:
        """Every field checked: a ValueError names the field and its allowed range."""
        _int_field("max_new_tokens", self.max_new_tokens, 0, MAX_NEW_TOKENS_CAP)
        _int_field("top_k", self.top_k, 0, 10**9)
        _int_field("n_candidates", self.n_candidates, 1, MAX_CANDIDATES)
        if not isinstance(self.record_attention, bool):
            raise ValueError(f"record_attention must be True or False, not {self.record_attention!r:.40}")
        if self.seed is not None:
            _int_field("seed", self.seed, 0, 2**63 - 1)
        for name in ("temperature", "top_p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r:.40}")
        if not 0.0 <= self.temperature <= MAX_TEMPERATURE:
            raise ValueError(f"temperature must be from 0 (greedy) to {MAX_TEMPERATURE:g}, not {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")
        if not isinstance(self.forced, Mapping):
            raise ValueError("forced must map steps to token ids, e.g. {3: 42}")
        for step, token in self.forced.items():
            _int_field("a forced step", step, 0, MAX_NEW_TOKENS_CAP - 1)
            _int_field("a forced token id", token, 0, 10**9)
        for name in ("stop_ids", "banned_ids"):
            ids = getattr(self, name)
            if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
                raise ValueError(f"{name} must be token ids (whole numbers, 0 or more)")


@dataclass
class GenerationStep:
    """One generated token and the candidates it was drawn from.

    candidates: top tokens of the distribution actually sampled (after temperature, top-k, top-p);
    model_candidates: top tokens of the model's own distribution (temperature 1, no filter).
    With record_attention: attention (L, H, W) float16, the last row of every head's causal pattern
    over the window the model read at this step (the row that chose the token), and window_start,
    the index in GenerationResult.ids of the window's first token (its keys are
    ids[window_start:window_start + W]). model_probability and entropy (nats): the chosen token's
    probability and the entropy under the model's own distribution.
    """

    token_id: int
    probability: float
    candidates: list[tuple[int, float]]
    model_candidates: list[tuple[int, float]]
    attention: np.ndarray | None = None
    window_start: int = 0
    model_probability: float = float("nan")
    entropy: float = float("nan")


@dataclass
class GenerationResult:
    prompt_ids: list[int]
    new_ids: list[int] = field(default_factory=list)
    steps: list[GenerationStep] = field(default_factory=list)
    stopped_by: str = "max_new_tokens"  # or "stop_token"

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.new_ids


def next_token_distribution(logits: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """logits (vocab,) -> the probabilities sampled from, after temperature, top-k and top-p."""
    logits = logits.float()
    if config.banned_ids:
        logits = logits.clone()
        logits[list(config.banned_ids)] = float("-inf")
    if config.temperature == 0:
        probs = torch.zeros_like(logits)
        probs[logits.argmax()] = 1.0
        return probs
    logits = logits / config.temperature
    if config.top_k > 0 and config.top_k < logits.numel():
        kth_best = torch.topk(logits, config.top_k).values[-1]
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if config.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        mass_before = sorted_probs.cumsum(0) - sorted_probs  # mass of strictly better tokens
        sorted_probs[mass_before >= config.top_p] = 0.0  # keeps the smallest set reaching top_p
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        probs = probs / probs.sum()
    return probs


def _top(probs: torch.Tensor, n: int) -> list[tuple[int, float]]:
    values, indices = torch.topk(probs, min(n, probs.numel()))
    return [(int(i), float(v)) for i, v in zip(indices, values) if v > 0]


StepOutput = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # logits, or (logits, attention row)


def _attention_row(output: object, window: int) -> np.ndarray:
    """A step's (L, H, W) attention row as float16, checked against the window it read."""
    row = torch.as_tensor(output).float().cpu()
    if row.dim() != 3 or row.shape[-1] != window:
        raise ValueError(f"the attention row of a step must be (layers, heads, {window}), not {tuple(row.shape)}")
    return row.numpy().astype(np.float16)


def sample_tokens(next_logits: Callable[[list[int]], StepOutput], prompt_ids: list[int],
                  config: GenerationConfig, context_len: int) -> GenerationResult:
    """The sampling loop for any model: next_logits(context ids) -> logits (vocab,) of the next token,
    or, when config.record_attention, (logits, attention) with attention (L, H, len(context)): the
    last row of every head's pattern over that context.

    The context handed to next_logits is cropped to the last context_len ids. At a step named in
    config.forced the dice are still rolled (so later steps draw from the same seed stream) but the
    forced token is taken; its probability is the one the distribution gave it.
    """
    if not prompt_ids:
        raise ValueError("the prompt must contain at least one token")
    generator = torch.Generator().manual_seed(config.seed) if config.seed is not None else None
    result = GenerationResult(prompt_ids=list(prompt_ids))
    for _ in range(config.max_new_tokens):
        ids = result.ids
        start = max(0, len(ids) - context_len)
        output = next_logits(ids[start:])
        row = None
        if config.record_attention:
            output, row = output
            row = _attention_row(row, len(ids) - start)
        logits = output.float().cpu()  # (vocab,)
        probs = next_token_distribution(logits, config)
        token = int(torch.multinomial(probs, 1, generator=generator)) if config.temperature > 0 else int(probs.argmax())
        step = len(result.steps)
        if step in config.forced:
            token = int(config.forced[step])
            if token >= probs.numel():
                raise ValueError(f"the token forced at step {step} ({token}) is not in the vocabulary")
        own = torch.log_softmax(logits, -1)
        own_probs = own.exp()
        entropy = float(-(own_probs * own).nan_to_num().sum())  # 0 * -inf counts as 0
        result.steps.append(GenerationStep(token, float(probs[token]), _top(probs, config.n_candidates),
                                           _top(own_probs, config.n_candidates), row, start,
                                           float(own_probs[token]), entropy))
        result.new_ids.append(token)
        if token in config.stop_ids:
            result.stopped_by = "stop_token"
            break
    return result


@torch.no_grad()
def generate(model: nn.Module, prompt_ids: list[int], config: GenerationConfig) -> GenerationResult:
    """Append up to max_new_tokens tokens to the prompt with one of our causal LMs (in eval mode;
    the model is not changed, so a cached model can be shared by threads)."""
    if getattr(getattr(model, "config", None), "kind", None) != "causal_lm":
        raise ValueError("only a causal language model can generate text (this model is not one)")
    device = next(model.parameters()).device

    def next_logits(context: list[int]) -> StepOutput:
        output = model(torch.tensor([context], device=device), need_weights=config.record_attention)
        if not config.record_attention:
            return output.logits[0, -1]  # (1, T, vocab) -> (vocab,)
        rows = torch.stack([a[0, :, -1] for a in output.attentions])  # L x (1, H, T, T) -> (L, H, T)
        return output.logits[0, -1], rows

    return sample_tokens(next_logits, prompt_ids, config, model.config.max_len)
