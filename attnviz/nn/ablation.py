"""Head ablation: switch attention heads off for one call, never for the shared model.

A head is switched off by zeroing its context vector (its slice of the heads' concatenated outputs)
right before the attention output projection: the projection then gets nothing from that head and
keeps its bias. Our models do it through the keyword-only `ablate=` argument of their forward pass;
HuggingFace models through a forward pre-hook on each layer's output projection that is installed
for one call, acts only in the thread that installed it, and is removed in a `finally`.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

from attnviz.errors import InputError

Heads = frozenset[tuple[int, int]]

# The attention output projection of one layer, by the end of its module name.
# A model must have exactly one per layer, or ablation says it is not supported.
OUTPUT_PROJECTIONS = (
    "attention.output.dense",  # BERT, RoBERTa, ELECTRA, MiniLM
    "attention.out_lin",       # DistilBERT
    "attn.c_proj",             # GPT-2
    "attn.out_proj",           # GPT-J
    "attention.out_proj",      # GPT-Neo (attn.attention.out_proj)
    "attention.dense",         # GPT-NeoX
    "self_attention.dense",    # BLOOM, Falcon
    "self_attn.o_proj",        # llama, mistral, qwen2, gemma (SmolLM2)
    "self_attn.out_proj",      # OPT
    "self_attn.dense",         # phi
)


def _is_whole(value) -> bool:
    """An int (numpy's too), never a bool or a float such as 0.9 that int() would quietly cut."""
    return not isinstance(value, bool) and (isinstance(value, int) or type(value).__name__.startswith(("int", "uint")))


def normalize_heads(ablate: Iterable | None, n_layers: int, n_heads: int) -> Heads:
    """The heads to switch off as a frozenset of (layer, head); an InputError names a wrong one."""
    heads = set()
    if ablate is not None and (isinstance(ablate, (str, bytes)) or not isinstance(ablate, Iterable)):
        raise InputError(f"ablate must be a list of (layer, head) pairs, got {type(ablate).__name__}")
    for pair in ablate or ():
        values = tuple(pair) if isinstance(pair, (tuple, list)) else None
        if values is None or len(values) != 2 or not all(_is_whole(v) for v in values):
            raise InputError(f"a head to switch off is a (layer, head) pair of whole numbers, got {pair!r}")
        layer, head = (int(v) for v in values)
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise InputError(f"there is no head {head} in layer {layer}: the model has {n_layers} layers "
                             f"of {n_heads} heads")
        heads.add((layer, head))
    return frozenset(heads)


def output_projections(model: torch.nn.Module, n_layers: int) -> list[torch.nn.Module]:
    """Each layer's attention output projection, in layer order; InputError for an unknown layout."""
    found = [module for name, module in model.named_modules()
             if any(name == suffix or name.endswith("." + suffix) for suffix in OUTPUT_PROJECTIONS)]
    if len(found) != n_layers:
        raise InputError(f"switching heads off is not supported for {type(model).__name__}: its attention "
                         f"output projections were not found ({len(found)} of {n_layers} layers)")
    return found


def _zero_heads_hook(heads: list[int], n_heads: int, owner: int):
    """A forward pre-hook that zeroes the given heads' slices of the projection's input, in thread `owner` only."""
    def hook(module: torch.nn.Module, args: tuple) -> tuple | None:
        if threading.get_ident() != owner:
            return None  # another user's call on the shared model: leave it alone
        context = args[0]  # (B, T, H * d_head)
        head_dim = context.shape[-1] // n_heads
        keep = torch.ones(n_heads, head_dim, dtype=context.dtype, device=context.device)
        keep[heads] = 0.0
        return (context * keep.reshape(-1),) + tuple(args[1:])
    return hook


@contextmanager
def hooked_ablation(model: torch.nn.Module, heads: Heads, n_layers: int, n_heads: int) -> Iterator[None]:
    """Within this block, and only in this thread, the given (layer, head)s of a HuggingFace model
    are switched off. Nothing is installed when `heads` is empty."""
    if not heads:
        yield
        return
    projections = output_projections(model, n_layers)
    owner = threading.get_ident()
    handles = []
    try:
        for layer, projection in enumerate(projections):
            chosen = sorted(h for l, h in heads if l == layer)
            if chosen:
                handles.append(projection.register_forward_pre_hook(_zero_heads_hook(chosen, n_heads, owner)))
        yield
    finally:
        for handle in handles:
            handle.remove()
