"""What a prediction is, for explaining it: the logit/probability explained (a label, the tag of one
token, or the LM's next token), chosen from one text's logits, and read back from perturbed runs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnviz.errors import InputError


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
    steps: int | None = None  # integrated gradients: the steps used (after any doubling)


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
    token whose predicted entity tag is most confident; an InputError "no entity found" when every tag is O). LM: the next token after the text.
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
                if not entity:
                    raise InputError("No entity found in this text: every token is tagged O. Pick a token to explain.")
                position = max(entity, key=lambda i: float(best.values[i]))
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


def probability_of(logits: torch.Tensor, target: Target, position: int | None = None) -> float:
    """p(target) in one sequence's logits: (labels,) for a sentence label; (T, tags) at `position`
    (where the explained token now sits) for a tagger; (T, vocab) at the last position for an LM."""
    if logits.dim() == 1:
        row = logits
    elif position is None:
        row = logits[-1]
    else:
        row = logits[position]
    return float(torch.softmax(row.double(), -1)[target.index])


def require_prediction(bundle) -> None:
    """An InputError for a bundle with no task head (a bare encoder): there is nothing to explain."""
    if getattr(bundle, "task", None) == "encoder":
        raise InputError(f"{bundle.name} is an encoder without a task head: there is no prediction to explain.")
