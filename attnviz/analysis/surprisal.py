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


def characters_since(offsets) -> np.ndarray:
    """Per token, the characters from where the previous token ended to where it ends (a leading space
    that a tokenizer leaves out of a token's offsets still counts); 0 for special tokens."""
    counts, reached = [], None
    for _, end in offsets:
        end = int(end)
        counts.append(0 if reached is None and end == 0 else max(0, end - (reached or 0)))
        reached = max(reached or 0, end)
    return np.array(counts, dtype=np.int64)


def _characters(bundle, encoded) -> np.ndarray:
    """How many characters of the text each token covers (HuggingFace offsets; our decoder's pieces)."""
    offsets = getattr(encoded, "offsets", None)
    if offsets is not None:
        return characters_since(offsets)
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


@torch.inference_mode()
def long_text_nats_per_char(bundle, text: str, window: int | None = None) -> dict:
    """Nats per character of a HuggingFace decoder over a text of any length, scored like `evaluate_lm`:
    windows of `window` tokens (the model's context by default), stride window/2, each token after
    the first predicted once with as much context as the window allows. Characters: from the end of the
    first token to the end of the last (so it compares with a character model's characters after the first)."""
    encoding = bundle.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids = torch.tensor(encoding["input_ids"])
    if len(ids) < 2:
        raise ValueError("the text needs at least two tokens")
    window = window or bundle.max_len
    stride = max(1, window // 2)
    total, count, scored_to = 0.0, 0, 0  # targets ids[1 .. scored_to] are done
    while scored_to < len(ids) - 1:
        end = min(len(ids), scored_to + 1 + stride) if scored_to else min(len(ids), window)
        begin = max(0, end - window)
        logits = bundle.model(input_ids=ids[None, begin:end].to(bundle.device), use_cache=False).logits[0].float()
        log_probs = torch.log_softmax(logits[:-1], -1)  # (n - 1, vocab): predicts ids[begin + 1 .. end - 1]
        targets = ids[begin + 1:end].to(log_probs.device)
        first_new = scored_to - begin  # targets before this index were scored by an earlier window
        nats = -log_probs.gather(-1, targets[:, None])[:, 0]
        total += float(nats[first_new:].sum())
        count += int(nats[first_new:].numel())
        scored_to = end - 1
    offsets = encoding["offset_mapping"]
    chars = int(offsets[-1][1]) - int(offsets[0][1])
    return {"nats_per_char": total / chars, "nats_per_token": total / count, "tokens": int(len(ids)),
            "scored": count, "characters": chars}
