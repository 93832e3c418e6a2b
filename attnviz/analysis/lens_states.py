"""The residual stream of a decoder, row by row, and the model's own way out of it (final norm, unembedding).

Rows: the embeddings (the first block's input), then each layer's output, all BEFORE the final norm.
Applying `readout` to the last row gives the model's own logits. For our LM the states come from
the forward pass (return_hidden); for a HuggingFace decoder from `output_hidden_states` (row 0) and
forward hooks on its layers (transformers already applies the final norm to its last hidden state,
so the last layer's raw output is taken by a hook), installed for this call and this thread only.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnviz.errors import InputError

FINAL_NORMS = ("norm", "ln_f", "final_layer_norm", "norm_f", "final_layernorm")


@dataclass(frozen=True)
class Stream:
    """states (rows, T, d) float32: embeddings then each layer's output; readout: (n, d) -> logits (n, vocab)."""

    ids: list[int]
    tokens: list[str]
    states: torch.Tensor
    readout: Callable[[torch.Tensor], torch.Tensor]
    id_to_token: Callable[[int], str]


def not_available(bundle) -> InputError:
    return InputError(f"The logit lens is not available for {bundle.name}: it needs a language model's "
                      f"head (this is a {bundle.task} model).")


def residual_stream(bundle, text: str | None = None, ids: list[int] | None = None) -> Stream:
    """The residual stream of a text (or of token ids, e.g. the window a generation step read; the
    last max_len are kept) for our causal LM or a HuggingFace decoder; InputError for any other model."""
    if bundle.task != "lm":
        raise not_available(bundle)
    if ids is None:
        ids = list(bundle.encode(text).ids)
    ids = [int(i) for i in ids][-bundle.max_len:]
    if not ids:
        raise InputError("There are no tokens to read.")
    if hasattr(bundle, "checkpoint"):
        return _ours(bundle, ids)
    return _huggingface(bundle, ids)


@torch.no_grad()
def _ours(bundle, token_ids: list[int]) -> Stream:
    model = bundle.model
    ids = torch.tensor([token_ids], device=bundle.device)  # (1, T)
    first = model.encoder.embed(ids)  # (1, T, d)
    output = model(ids, return_hidden=True)
    states = torch.stack([first[0]] + [h[0] for h in output.hidden_states]).float()  # (L + 1, T, d)

    def readout(x: torch.Tensor) -> torch.Tensor:
        return model.head(model.encoder.final_norm(x)).float()

    name = bundle.tokenizer.id_to_token
    return Stream(token_ids, [name(i) for i in token_ids], states, readout, name)


def _find_parts(model: torch.nn.Module, n_layers: int) -> tuple[torch.nn.ModuleList, torch.nn.Module]:
    """The decoder's list of layers and its final norm, or an InputError for an unknown layout."""
    layers = next((m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers), None)
    base = getattr(model, "base_model", model)
    norm = next((getattr(base, name) for name in FINAL_NORMS if isinstance(getattr(base, name, None), torch.nn.Module)),
                None)
    if layers is None or norm is None or model.get_output_embeddings() is None:
        raise InputError(f"The logit lens is not available for {type(model).__name__}: its layers, final norm "
                         "or unembedding were not found.")
    return layers, norm


@torch.inference_mode()
def _huggingface(bundle, token_ids: list[int]) -> Stream:
    model = bundle.model
    layers, norm = _find_parts(model, bundle.n_layers)
    owner = threading.get_ident()
    outputs: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, args: tuple, output: object) -> None:
        if threading.get_ident() == owner:  # another user's call on the shared model is left alone
            outputs.append(output[0] if isinstance(output, tuple) else output)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        ids = torch.tensor([token_ids], device=bundle.device)  # (1, T)
        output = model(input_ids=ids, output_hidden_states=True, use_cache=False, return_dict=True)
    finally:
        for handle in handles:
            handle.remove()
    if len(outputs) != bundle.n_layers:
        raise InputError(f"The logit lens is not available for {bundle.name}: {len(outputs)} layer outputs "
                         f"were seen, not {bundle.n_layers}.")
    states = torch.stack([output.hidden_states[0][0]] + [o[0] for o in outputs]).float()  # (L + 1, T, d)
    unembed = model.get_output_embeddings()
    dtype = unembed.weight.dtype

    def readout(x: torch.Tensor) -> torch.Tensor:
        return unembed(norm(x.to(dtype))).float()

    name = lambda i: bundle.tokenizer.convert_ids_to_tokens(int(i))  # noqa: E731
    return Stream(token_ids, [name(i) for i in token_ids], states, readout, name)
