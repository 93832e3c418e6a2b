"""Attribution: how much each input token adds to one prediction.

f is the logit of the target (a label, the tag of one token, or the LM's next token). Methods:
- "integrated_gradients" (Sundararajan et al. 2017): scores_t = sum_d (x - x')_td * mean over the
  path x' + a (x - x') of df/dx_td, the path integral taken with Gauss-Legendre nodes on a in [0, 1].
  x are the token embeddings, the baseline x' is the padding token's embedding at every position.
  Completeness: sum(scores) = f(x) - f(x'); delta reports the gap left by the finite number of steps.
- "gradient_x_input": scores_t = sum_d x_td * df/dx_td at the input itself.
- "rollout": the attention rollout row (attnviz.analysis.rollout) of the position that decides:
  the mean of all rows for a mean-pooled classifier, the first token ([CLS]) for a HuggingFace
  encoder classifier, the last token for a decoder, the chosen token for a tagger.
- "attention": the raw attention of the last layer, averaged over heads, from the same row(s):
  what a reader of attention maps would take as the explanation, for comparison.
Hand-written rather than Captum, so no runtime dependency; tested against the completeness axiom and
against Captum's IntegratedGradients (tests/test_analysis_attribution.py).
Gradients are taken with torch.autograd.grad, so nothing accumulates on the shared model's parameters.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.analysis.rollout import rollout
from attnviz.errors import InputError

METHODS = ("integrated_gradients", "gradient_x_input", "rollout", "attention")
DEFAULT_STEPS = 32
STEP_BATCH = 16  # interpolation points per forward pass


@dataclass(frozen=True)
class Attribution:
    """One score per token (tokens as in bundle.trace(text).tokens) for one target.

    target: the label, "tag @ token" or next token explained; delta: the completeness gap
    sum(scores) - (f(x) - f(baseline)) for integrated gradients, None for the other methods.
    """

    tokens: list[str]
    scores: np.ndarray
    target: str
    delta: float | None
    method: str
    position: int | None = None
    target_gap: float | None = None  # f(x) - f(baseline), integrated gradients only


@dataclass(frozen=True)
class Target:
    """Which logit is explained: class/token `index` at `position` (None for a sentence label)."""

    index: int
    position: int | None
    label: str


def _token_name(bundle, token_id: int) -> str:
    tokenizer = bundle.tokenizer
    if hasattr(tokenizer, "convert_ids_to_tokens"):  # transformers
        return tokenizer.decode([token_id])
    return tokenizer.id_to_token(token_id)


def _token_id(bundle, token: str) -> int:
    tokenizer = bundle.tokenizer
    if hasattr(tokenizer, "convert_tokens_to_ids"):
        found = tokenizer.convert_tokens_to_ids(token)
        unknown = getattr(tokenizer, "unk_token_id", None)
        found = None if found == unknown else found
    else:
        found = tokenizer.tokenizer.token_to_id(token)
    if found is None:
        raise InputError(f"{token!r} is not a token of {bundle.name}")
    return int(found)


def choose_target(bundle, logits: torch.Tensor, target: int | str | None = None,
                  position: int | None = None) -> Target:
    """The logit to explain in `logits` (one text's model output); defaults to the prediction.

    Sentence labels: the predicted label. Tagger: the predicted tag of token `position` (default: the
    token whose predicted entity tag is most confident, else the first). LM: the next token after the text.
    """
    task = bundle.task
    if task == "encoder" or logits is None:
        raise InputError(f"{bundle.name} is an encoder without a task head: there is no prediction to explain.")
    if task in ("sentiment", "classification", "ner"):
        labels = list(bundle.labels)
        if task == "ner":
            n_tokens = logits.shape[0]
            if position is None:
                probs = torch.softmax(logits, -1)  # (T, tags)
                best = probs.max(-1)
                entity = [i for i in range(n_tokens) if labels[int(best.indices[i])] != "O"]
                position = max(entity, key=lambda i: float(best.values[i])) if entity else 0
            if not 0 <= position < n_tokens:
                raise InputError(f"there is no token {position}: the text has {n_tokens} tokens")
            row = logits[position]
        else:
            position, row = None, logits
        index = int(row.argmax()) if target is None else _label_index(labels, target)
        return Target(index, position, labels[index])
    row = logits[-1]  # lm: the next token after the text
    if target is None:
        index = int(row.argmax())
    elif isinstance(target, str):
        index = _token_id(bundle, target)
    else:
        index = int(target)
    if not 0 <= index < row.shape[-1]:
        raise InputError(f"there is no token {index} in a vocabulary of {row.shape[-1]}")
    return Target(index, logits.shape[0] - 1, _token_name(bundle, index))


def _label_index(labels: list[str], target: int | str) -> int:
    if isinstance(target, str):
        if target not in labels:
            raise InputError(f"{target!r} is not a label of this model; its labels are {labels}")
        return labels.index(target)
    if not 0 <= int(target) < len(labels):
        raise InputError(f"there is no label {target}: the model has {len(labels)} labels")
    return int(target)


def target_logit(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """(N, ...) batched logits -> (N,) the target's logit."""
    if target.position is None:
        return logits[:, target.index]
    return logits[:, target.position, target.index]


def slot_probabilities(bundle, logits: torch.Tensor, target: Target, top: int = 10) -> dict[str, float]:
    """The probabilities at the target's slot (the sentence, the token, the next position): every
    label, or the `top` most likely next tokens (the target among them)."""
    row = logits if target.position is None else logits[target.position]
    probs = torch.softmax(row.double(), -1)
    if bundle.task != "lm":
        return {label: float(p) for label, p in zip(bundle.labels, probs)}
    chosen = [int(i) for i in torch.topk(probs, min(top, probs.numel())).indices]
    if target.index not in chosen:
        chosen.append(target.index)
    return {_token_name(bundle, i): float(probs[i]) for i in chosen}


def integrated_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, baseline: torch.Tensor,
                         steps: int = DEFAULT_STEPS) -> tuple[np.ndarray, float, float]:
    """f: (N, T, d) -> (N,); x, baseline: (1, T, d). Returns per-token scores (T,), the completeness gap
    delta = sum(scores) - (f(x) - f(baseline)), and f(x) - f(baseline)."""
    if steps < 1:
        raise InputError("integrated gradients needs at least one step")
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)  # on [0, 1]
    alpha_weights = torch.tensor(weights / 2, dtype=x.dtype, device=x.device)  # they sum to 1
    difference = x - baseline  # (1, T, d)
    total = torch.zeros_like(x)
    with torch.enable_grad():
        for start in range(0, steps, STEP_BATCH):
            a = alphas[start:start + STEP_BATCH]
            points = (baseline + a[:, None, None] * difference).requires_grad_(True)  # (n, T, d)
            (grads,) = torch.autograd.grad(f(points).sum(), points)
            total = total + (alpha_weights[start:start + STEP_BATCH, None, None] * grads).sum(0, keepdim=True)
    scores = (difference * total)[0].sum(-1).detach().double().cpu().numpy()  # (T,)
    with torch.no_grad():
        ends = f(torch.cat([x, baseline])).double()  # (2,)
    gap = float(ends[0] - ends[1])
    return scores, float(scores.sum()) - gap, gap


def gradient_x_input(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> np.ndarray:
    """f: (N, T, d) -> (N,); x: (1, T, d). Per-token sum_d x * df/dx, shape (T,)."""
    with torch.enable_grad():
        point = x.clone().requires_grad_(True)
        (grads,) = torch.autograd.grad(f(point).sum(), point)
    return (x * grads)[0].sum(-1).detach().double().cpu().numpy()


def rollout_scores(bundle, text: str, rows: str | int, raw: bool = False) -> np.ndarray:
    """The last layer's rollout (raw=True: its plain attention, mean over heads) over the keys, seen
    from the deciding row(s) ("mean", "first", "last" or a token index)."""
    trace = bundle.trace(text)
    flow = trace.mean_over_heads(trace.n_layers - 1).astype(np.float64) if raw else rollout(trace)[-1]  # (Q, K)
    if rows == "mean":
        return flow.mean(axis=0)
    index = 0 if rows == "first" else (flow.shape[0] - 1 if rows == "last" else int(rows))
    return flow[index]


def attribute(bundle, text: str, method: str = "integrated_gradients", target: int | str | None = None,
              position: int | None = None, steps: int = DEFAULT_STEPS) -> Attribution:
    """Scores per token for the bundle's prediction on `text` (see the module docstring)."""
    if method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}; choose one of {list(METHODS)}")
    if bundle.task == "encoder":
        raise InputError(f"{bundle.name} is an encoder without a task head: there is no prediction to explain.")
    inputs = bundle.embedding_inputs(text)
    with torch.no_grad():
        logits = inputs.forward(inputs.embeds)[0].float()
    chosen = choose_target(bundle, logits, target, position)

    def f(points: torch.Tensor) -> torch.Tensor:
        return target_logit(inputs.forward(points), chosen)

    delta = gap = None
    if method == "integrated_gradients":
        scores, delta, gap = integrated_gradients(f, inputs.embeds, inputs.baseline, steps)
    elif method == "gradient_x_input":
        scores = gradient_x_input(f, inputs.embeds)
    else:
        rows = chosen.position if chosen.position is not None and bundle.task == "ner" else inputs.pooling
        scores = rollout_scores(bundle, text, rows, raw=method == "attention")
    label = chosen.label if bundle.task != "ner" else f"{chosen.label} @ {inputs.tokens[chosen.position]}"
    return Attribution(list(inputs.tokens), np.asarray(scores, dtype=np.float64), label, delta, method,
                       chosen.position, gap)
