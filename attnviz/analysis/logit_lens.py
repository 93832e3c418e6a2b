"""The logit lens (nostalgebraist 2020): read every layer's residual stream with the model's own final
norm and unembedding, to see how the prediction forms layer by layer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnviz.analysis.lens_states import residual_stream
from attnviz.text.display import readable_token

MAX_TOP_K = 20
CHUNK_VALUES = 48_000_000  # log-probabilities computed at once (192 MB of float32)


@dataclass(frozen=True)
class LogitLens:
    """layers: row names ("embeddings", "layer 0", ...); tokens: the text's tokens (raw).

    top_ids, top_tokens (display form), top_probs: (rows, positions, k), the k most likely next tokens
    of each row at each position. final_prob, final_rank: (rows, positions), the probability each row
    gives the token the full model predicts there (its top-1) and that token's rank (1 = top).
    final_ids: (positions,) that token.
    """

    tokens: list[str]
    layers: list[str]
    top_ids: np.ndarray
    top_tokens: np.ndarray
    top_probs: np.ndarray
    final_prob: np.ndarray
    final_rank: np.ndarray
    final_ids: np.ndarray

    @property
    def final_tokens(self) -> list[str]:
        """The full model's top-1 token at each position, in display form."""
        return [str(t) for t in self.top_tokens[-1, :, 0]]


def lens_log_probs(stream, row: int) -> torch.Tensor:
    """(T, vocab) log-probabilities that `row` of the residual stream gives the next token."""
    return torch.log_softmax(stream.readout(stream.states[row]), dim=-1)


@torch.inference_mode()
def logit_lens(bundle, text: str | None = None, top_k: int = 5, *, ids: list[int] | None = None) -> LogitLens:
    """Every row (embeddings, then each layer's output) at every position through the final norm and
    the unembedding. Our LM and HuggingFace decoders; other models get an InputError saying the lens
    is not available. The last row is the model's own distribution. ids: token ids to read instead of
    the text (the last max_len are kept)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, not {top_k!r:.20}")
    stream = residual_stream(bundle, text, ids)
    rows, positions = stream.states.shape[:2]
    final = lens_log_probs(stream, rows - 1)  # (T, vocab)
    predicted = final.argmax(-1)  # (T,)
    # several rows through the unembedding in one matrix product (much faster than row by row), in
    # chunks of at most CHUNK_VALUES log-probabilities so 200 tokens of a 49k vocabulary fit in memory
    per_chunk = max(1, CHUNK_VALUES // max(1, positions * final.shape[-1]))
    top_ids, top_probs, final_prob, final_rank = [], [], [], []
    for first in range(0, rows, per_chunk):
        chunk = stream.states[first:first + per_chunk]  # (r, T, d)
        log_probs = torch.log_softmax(stream.readout(chunk.reshape(-1, chunk.shape[-1])), -1)  # (r * T, vocab)
        log_probs = log_probs.reshape(chunk.shape[0], positions, -1)  # (r, T, vocab)
        values, indices = torch.topk(log_probs, min(top_k, log_probs.shape[-1]), dim=-1)  # (r, T, k)
        top_ids.append(indices.cpu().numpy())
        top_probs.append(values.exp().cpu().numpy())
        chosen = log_probs.gather(-1, predicted[None, :, None].expand(chunk.shape[0], -1, 1))  # (r, T, 1)
        final_prob.append(chosen[..., 0].exp().cpu().numpy())
        final_rank.append((log_probs > chosen).sum(-1, dtype=torch.int32).cpu().numpy() + 1)  # int32: faster sum
    ids = np.concatenate(top_ids)  # (rows, T, k)
    names: dict[int, str] = {}

    def name(i: int) -> str:
        if i not in names:
            names[i] = readable_token(stream.id_to_token(i))
        return names[i]

    tokens = np.vectorize(name, otypes=[object])(ids) if ids.size else ids.astype(object)
    return LogitLens(stream.tokens, ["embeddings"] + [f"layer {i}" for i in range(rows - 1)], ids, tokens,
                     np.concatenate(top_probs).astype(np.float32), np.concatenate(final_prob).astype(np.float32),
                     np.concatenate(final_rank).astype(np.int64), predicted.cpu().numpy())
