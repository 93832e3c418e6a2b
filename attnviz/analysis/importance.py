"""Head importance by ablation: how much the prediction leans on each head."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from attnviz.analysis.arguments import check_optional_int, check_texts
from attnviz.analysis.id_runs import encode_ids, run_ids
from attnviz.analysis.targets import choose_target, require_prediction
from attnviz.nn.edit import ActivationEdit


def _target_logprob(logits: torch.Tensor, task: str, index: int | list[int], position: int | None) -> float:
    """The log-probability of the target in one text's logits; for a tagger with position None the
    mean over all tokens of the log-probability of each token's own target tag."""
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    if task == "ner" and position is None:
        return float(logprobs[torch.arange(len(index)), torch.tensor(index)].mean())  # (T,) -> mean
    if position is None:
        return float(logprobs[index])
    return float(logprobs[position, index])


def _zero_own_head(layer: int) -> ActivationEdit:
    """Row h < H of the batch runs with head h of `layer` switched off (its context zeroed); the last row,
    h = H, runs untouched (the unablated reference, computed in the same batch). The pass starts as one
    sequence and widens at `layer`, so the layers below it run once."""
    def context(at: int, c: torch.Tensor) -> torch.Tensor:  # (1, H, T, d_head) -> (H + 1, H, T, d_head)
        if at != layer:
            return c
        c = c.expand(c.shape[1] + 1, -1, -1, -1)  # the layers below ran once, for one sequence
        keep = torch.ones(c.shape[0], c.shape[1], dtype=c.dtype, device=c.device)  # (H + 1, H)
        keep[torch.arange(c.shape[1]), torch.arange(c.shape[1])] = 0.0
        return c * keep[:, :, None, None]
    return ActivationEdit(context=context)


def head_importance(bundle, texts: Sequence[str] | str, position: int | None = None,
                    progress: Callable[[float, str], None] | None = None) -> np.ndarray:
    """(layers, heads): the drop in the log-probability of the unablated prediction when that head
    alone is switched off (its context zeroed before the output projection), averaged over the texts.

    This is the exact ablation score, not Michel et al.'s gradient proxy; the single-head ablations of one
    layer run as one batch (row h: head h off). Positive: the head supports the prediction; negative: the
    prediction gets more confident without it. Target: the predicted label (sentiment), the next token (LM);
    for a tagger the tag of token `position`, or with position None each token's own predicted tag, averaged.
    """
    texts = check_texts("texts", texts, high=1000)
    position = check_optional_int("position", position, 0, 1_000_000)
    require_prediction(bundle)
    scores = np.zeros((bundle.n_layers, bundle.n_heads))
    for t_index, text in enumerate(texts):
        encoding = encode_ids(bundle, text)
        cases = None if encoding.cases is None else [encoding.cases]
        logits = run_ids(bundle, [encoding.ids], None if encoding.cases is None else [encoding.cases])[0]
        if bundle.task == "ner" and position is None:
            index, where = [int(i) for i in logits.argmax(-1)], None
        else:
            chosen = choose_target(bundle, logits, position=position)
            index, where = chosen.index, chosen.position
        last_only = bundle.task == "lm" and where == logits.shape[0] - 1  # the next token: one row of logits
        where = -1 if last_only else where
        for layer in range(bundle.n_layers):
            ablated = run_ids(bundle, [encoding.ids], cases, _zero_own_head(layer), last_only)  # (H + 1, ...)
            base = _target_logprob(ablated[-1], bundle.task, index, where)
            scores[layer] += [base - _target_logprob(row, bundle.task, index, where) for row in ablated[:-1]]
            if progress is not None:
                progress((t_index + (layer + 1) / bundle.n_layers) / len(texts), f"layer {layer} of text {t_index + 1}")
    return scores / len(texts)
