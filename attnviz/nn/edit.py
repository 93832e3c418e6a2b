"""Per-call reads and writes of a model's internal activations (activation patching, batched ablation).

An `ActivationEdit` is handed to one forward pass and nowhere stored:
- residual(layer, x): the residual stream entering block `layer` (layer = n_layers: the output of the
  last block, before any final norm), x (B, T, d) -> the x the model goes on with;
- context(layer, c): the heads' context vectors of block `layer` right before the attention output
  projection, c (B, H, T, d_head) -> the c the projection reads (the site head ablation uses).
Either callback may widen a batch of one to B rows (`expand`): the layers below then run once, and the
rest of the pass runs B variants (activation patching, batched ablation).
Our models take it as the keyword-only `edit=` argument; HuggingFace models get it through
`hooked_edit`: hooks installed for one call, acting only in the installing thread, removed in `finally`.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from attnviz.errors import InputError
from attnviz.nn.ablation import output_projections

Edit = Callable[[int, torch.Tensor], torch.Tensor]
LAYER_LISTS = ("layers", "layer", "h", "blocks")  # the name of the ModuleList holding the blocks


@dataclass(frozen=True)
class ActivationEdit:
    """residual and/or context callbacks, each (layer, tensor) -> tensor (return the tensor to keep it)."""

    residual: Edit | None = None
    context: Edit | None = None

    def at_residual(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        return x if self.residual is None else self.residual(layer, x)

    def at_context(self, layer: int, context: torch.Tensor) -> torch.Tensor:
        return context if self.context is None else self.context(layer, context)


def decoder_layers(model: torch.nn.Module, n_layers: int) -> list[torch.nn.Module]:
    """The blocks of a HuggingFace model, in order (the ModuleList named layers/layer/h/blocks)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.split(".")[-1] in LAYER_LISTS \
                and len(module) == n_layers:
            return list(module)
    raise InputError(f"patching is not supported for {type(model).__name__}: its {n_layers} blocks were not found")


def _residual_pre_hook(edit: ActivationEdit, layer: int, owner: int):
    def hook(module, args, kwargs):
        if threading.get_ident() != owner:
            return None  # another user's call on the shared model
        if args:
            return (edit.at_residual(layer, args[0]),) + tuple(args[1:]), kwargs
        kwargs = dict(kwargs)
        kwargs["hidden_states"] = edit.at_residual(layer, kwargs["hidden_states"])
        return args, kwargs
    return hook


def _final_hook(edit: ActivationEdit, layer: int, owner: int):
    def hook(module, args, output):
        if threading.get_ident() != owner:
            return None
        if isinstance(output, torch.Tensor):
            return edit.at_residual(layer, output)
        return (edit.at_residual(layer, output[0]),) + tuple(output[1:])
    return hook


def _context_hook(edit: ActivationEdit, layer: int, n_heads: int, owner: int):
    def hook(module, args):
        if threading.get_ident() != owner:
            return None
        flat = args[0]  # (B, T, H * d_head)
        batch, length, width = flat.shape
        heads = flat.view(batch, length, n_heads, width // n_heads).transpose(1, 2)  # (B, H, T, d_head)
        edited = edit.at_context(layer, heads)  # may widen the batch: (B', H, T, d_head)
        edited = edited.transpose(1, 2).reshape(edited.shape[0], length, width)
        return (edited,) + tuple(args[1:])
    return hook


@contextmanager
def hooked_edit(model: torch.nn.Module, edit: ActivationEdit | None, n_layers: int, n_heads: int) -> Iterator[None]:
    """Within this block, and only in this thread, a HuggingFace model's forward passes apply `edit`."""
    if edit is None:
        yield
        return
    owner = threading.get_ident()
    handles = []
    try:
        if edit.residual is not None:
            layers = decoder_layers(model, n_layers)
            for index, block in enumerate(layers):
                handles.append(block.register_forward_pre_hook(_residual_pre_hook(edit, index, owner), with_kwargs=True))
            handles.append(layers[-1].register_forward_hook(_final_hook(edit, n_layers, owner)))
        if edit.context is not None:
            for index, projection in enumerate(output_projections(model, n_layers)):
                handles.append(projection.register_forward_pre_hook(_context_hook(edit, index, n_heads, owner)))
        yield
    finally:
        for handle in handles:
            handle.remove()
