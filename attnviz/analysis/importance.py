"""Head importance by ablation: how much the prediction leans on each head."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnviz.analysis.attribution import choose_target
from attnviz.errors import InputError


def _target_logprob(logits: torch.Tensor, task: str, index: int | list[int], position: int | None) -> float:
    """The log-probability of the target in one text's logits; for a tagger with position None the
    mean over all tokens of the log-probability of each token's own target tag."""
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    if task == "ner" and position is None:
        return float(logprobs[torch.arange(len(index)), torch.tensor(index)].mean())  # (T,) -> mean
    if position is None:
        return float(logprobs[index])
    return float(logprobs[position, index])


def head_importance(bundle, texts: Sequence[str] | str, position: int | None = None) -> np.ndarray:
    """(layers, heads): the drop in the log-probability of the unablated prediction when that head
    alone is switched off (its context zeroed before the output projection), averaged over the texts.

    This is the exact ablation score (one forward pass per head and text), not Michel et al.'s
    gradient proxy. Positive: the head supports the prediction; negative: the prediction gets more
    confident without it. Target: the predicted label (sentiment), the next token (LM); for a
    tagger the tag of token `position`, or with position None each token's own predicted tag, averaged.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        raise InputError("head importance needs at least one text")
    scores = np.zeros((bundle.n_layers, bundle.n_heads))
    for text in texts:
        logits = bundle.logits(text)
        if bundle.task == "ner" and position is None:
            index, where = [int(i) for i in logits.argmax(-1)], None
        else:
            chosen = choose_target(bundle, logits, position=position)
            index, where = chosen.index, chosen.position
        base = _target_logprob(logits, bundle.task, index, where)
        for layer in range(bundle.n_layers):
            for head in range(bundle.n_heads):
                ablated = bundle.logits(text, ablate=[(layer, head)])
                scores[layer, head] += base - _target_logprob(ablated, bundle.task, index, where)
    return scores / len(texts)
