"""Query and key vectors of one head (BertViz's neuron view): for a text, the q and k vectors every
token forms in one layer and head, from which the scores (q·k/√d) and the pattern (their softmax)
follow. Our models return them per call (`return_qk=True`); HuggingFace BERT-family models in eager
mode give them through forward hooks on their `query`/`key` projections, which act only for the
calling thread and are removed in `finally`, so a model shared by many users is never changed.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.errors import InputError


@dataclass(frozen=True)
class QueryKey:
    """One head's vectors for one text. q, k: [tokens, d_head]; causal: later keys are hidden."""

    tokens: list[str]
    q: np.ndarray
    k: np.ndarray
    causal: bool
    layer: int
    head: int

    def scores(self, query: int) -> np.ndarray:
        """q_query · k_j / sqrt(d_head) for every key j (-inf where a causal model cannot look)."""
        scores = self.k @ self.q[query] / math.sqrt(self.q.shape[1])
        if self.causal:
            scores = np.where(np.arange(len(scores)) <= query, scores, -np.inf)
        return scores

    def pattern(self, query: int) -> np.ndarray:
        """softmax of the scores: the attention row of this query."""
        scores = self.scores(query)
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()


def _check(n_layers: int, n_heads: int, layer: int, head: int) -> None:
    if not 0 <= layer < n_layers or not 0 <= head < n_heads:
        raise IndexError(f"layer {layer}, head {head} out of range: the model has {n_layers} layers "
                         f"x {n_heads} heads")


@torch.no_grad()
def bundle_query_keys(bundle, text: str, layer: int) -> list[QueryKey]:
    """q and k of every head of one layer of one of our models (a per-call `return_qk=True`, nothing
    stored): one forward pass gives them all, so a view that moves between heads asks once per layer."""
    _check(bundle.n_layers, bundle.n_heads, layer, 0)
    encoded = bundle.encode(text)
    ids = torch.tensor([encoded.ids], device=bundle.device)  # (1, T)
    cases = torch.tensor([encoded.case_ids], device=bundle.device) if encoded.case_ids else None
    output = bundle.model(ids, case_ids=cases, return_qk=True)
    q, k = (t[0].float().cpu().numpy() for t in output.qk[layer])  # (H, T, d_head) each
    return [QueryKey(list(encoded.tokens), q[h], k[h], bundle.causal, layer, h) for h in range(bundle.n_heads)]


def bundle_query_key(bundle, text: str, layer: int, head: int) -> QueryKey:
    """q and k of one head of one of our models."""
    _check(bundle.n_layers, bundle.n_heads, layer, head)
    return bundle_query_keys(bundle, text, layer)[head]


def _projections(model: torch.nn.Module, layer: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The query and key linear layers of a BERT-family model's layer (modules named query/key)."""
    found = [m for name, m in model.named_modules()
             if hasattr(m, "query") and hasattr(m, "key") and isinstance(m.query, torch.nn.Linear)]
    if len(found) <= layer:
        raise InputError(f"{type(model).__name__} does not show its query and key vectors "
                         "(only BERT-family models and ours do)")
    return found[layer].query, found[layer].key


@torch.inference_mode()
def hf_query_keys(bundle, text: str, layer: int) -> list[QueryKey]:
    """q and k of every head of one layer of a HuggingFace BERT-family model, caught by forward hooks
    on its query and key projections (only for this thread; removed before returning)."""
    _check(bundle.n_layers, bundle.n_heads, layer, 0)
    query_layer, key_layer = _projections(bundle.model, layer)
    owner, caught = threading.get_ident(), {}

    def catch(name: str):
        def hook(module, inputs, output):
            if threading.get_ident() == owner:  # other users' forward passes are left alone
                caught[name] = output.detach()
        return hook

    handles = [query_layer.register_forward_hook(catch("q")), key_layer.register_forward_hook(catch("k"))]
    try:
        encoded = bundle.encode(text)
        bundle._forward(encoded, attentions=False)
    finally:
        for handle in handles:
            handle.remove()
    d_head = caught["q"].shape[-1] // bundle.n_heads
    q, k = (caught[n][0].view(-1, bundle.n_heads, d_head).transpose(0, 1).float().cpu().numpy()
            for n in ("q", "k"))  # (1, T, H * d_head) -> (H, T, d_head) each
    return [QueryKey(list(encoded.tokens), q[h], k[h], bundle.causal, layer, h) for h in range(bundle.n_heads)]


def hf_query_key(bundle, text: str, layer: int, head: int) -> QueryKey:
    """q and k of one head of a HuggingFace BERT-family model."""
    _check(bundle.n_layers, bundle.n_heads, layer, head)
    return hf_query_keys(bundle, text, layer)[head]
