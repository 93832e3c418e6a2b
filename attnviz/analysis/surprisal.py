"""How surprised a language model is by each token of a text, and how unsure it was before seeing it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.analysis.lens_states import not_available
from attnviz.text.display import readable_token

N_ALTERNATIVES = 5


@dataclass(frozen=True)
class Surprisal:
    """One value per token (the first token has no prefix: NaN).

    nats: -ln p(token | prefix); bits: the same in bits; entropy: the entropy (nats) of the
    distribution the token was drawn from; chars: characters each token covers in the text;
    alternatives: per token the most likely tokens there [(display form, probability)] ([] for the
    first); nats_per_char: the nats of every token after the first over the characters they cover
    (for a character model: the mean cross-entropy per character, as `evaluate_lm` reports it).
    """

    tokens: list[str]
    nats: np.ndarray
    entropy: np.ndarray
    chars: np.ndarray
    alternatives: list[list[tuple[str, float]]]

    @property
    def bits(self) -> np.ndarray:
        return self.nats / math.log(2)

    @property
    def total_nats(self) -> float:
        return float(np.nansum(self.nats))

    @property
    def nats_per_char(self) -> float:
        chars = int(self.chars[1:].sum())
        return self.total_nats / chars if chars else float("nan")

    @property
    def display_tokens(self) -> list[str]:
        return [readable_token(t) for t in self.tokens]


def _characters(bundle, encoded) -> np.ndarray:
    """How many characters of the text each token covers (HuggingFace offsets; our decoder's pieces)."""
    offsets = getattr(encoded, "offsets", None)
    if offsets is not None:
        return np.array([max(0, b - a) for a, b in offsets], dtype=np.int64)
    return np.array([len(bundle.tokenizer.decode([i])) for i in encoded.ids], dtype=np.int64)


def _namer(bundle):
    tokenizer = bundle.tokenizer
    if hasattr(tokenizer, "id_to_token"):
        return lambda i: tokenizer.id_to_token(int(i))
    return lambda i: tokenizer.convert_ids_to_tokens(int(i))


@torch.inference_mode()
def surprisal(bundle, text: str, n_alternatives: int = N_ALTERNATIVES) -> Surprisal:
    """Per token -ln p(token | the tokens before it) and the entropy of that prediction, for our LM
    and HuggingFace decoders (the text cut to the model's context, keeping its end)."""
    if bundle.task != "lm":
        raise not_available(bundle)
    encoded = bundle.encode(text)
    log_probs = torch.log_softmax(bundle.logits(text).float(), dim=-1)  # (T, vocab): predicts token t + 1
    ids = torch.tensor(encoded.ids)
    n = len(encoded.ids)
    nats = np.full(n, np.nan)
    entropy = np.full(n, np.nan)
    alternatives: list[list[tuple[str, float]]] = [[]]
    if n > 1:
        before = log_probs[:-1]  # (T - 1, vocab)
        nats[1:] = (-before.gather(-1, ids[1:, None])[:, 0]).numpy()
        entropy[1:] = (-(before.exp() * before).sum(-1)).numpy()
        values, indices = torch.topk(before, min(n_alternatives, before.shape[-1]), dim=-1)  # (T - 1, k)
        name = _namer(bundle)
        alternatives += [[(readable_token(name(i)), float(math.exp(v))) for v, i in zip(vs.tolist(), ix.tolist())]
                         for vs, ix in zip(values, indices)]
    return Surprisal(list(encoded.tokens), nats, entropy, _characters(bundle, encoded), alternatives)
