"""Token-id sequences through a bundle's model in padded batches: the engine of occlusion,
faithfulness and patching, which change the ids (delete or mask tokens) or the activations.

Works for our models (`edit=` argument) and HuggingFace ones (`attnviz.nn.edit.hooked_edit`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attnviz.bundles.batched import pad_ids
from attnviz.nn.edit import ActivationEdit, hooked_edit
from attnviz.nn.models import ModelConfig
from attnviz.text.display import is_special

BATCH = 64  # sequences per forward pass


@dataclass(frozen=True)
class Encoding:
    """One text as ids: ids, case ids (our cased-feature models, else None), tokens, special flags."""

    ids: list[int]
    cases: list[int] | None
    tokens: list[str]
    special: list[bool]


def is_ours(bundle) -> bool:
    return isinstance(getattr(bundle, "config", None), ModelConfig)


def encode_ids(bundle, text: str) -> Encoding:
    encoded = bundle.encode(text)
    if is_ours(bundle):
        special = [is_special(t) for t in encoded.tokens]
        cases = list(encoded.case_ids) if getattr(encoded, "case_ids", None) else None
    else:
        specials = bundle.special_tokens
        special = [t in specials for t in encoded.tokens]
        cases = None
    return Encoding(list(encoded.ids), cases, list(encoded.tokens), special)


def pad_id(bundle) -> int:
    if is_ours(bundle):
        return int(bundle.tokenizer.pad_id or 0)
    pad = getattr(bundle.tokenizer, "pad_token_id", None)
    return int(pad if pad is not None else 0)


def mask_id(bundle) -> int:
    """The token that stands in for a masked one: [MASK] where the tokenizer has it, else unknown, else padding."""
    if is_ours(bundle):
        unk = getattr(bundle.tokenizer, "unk_id", None)
        return int(unk) if unk is not None else pad_id(bundle)
    for name in ("mask_token_id", "unk_token_id"):
        found = getattr(bundle.tokenizer, name, None)
        if found is not None:
            return int(found)
    return pad_id(bundle)


@torch.no_grad()
def run_ids(bundle, id_lists: list[list[int]], case_lists: list[list[int]] | None = None,
            edit: ActivationEdit | None = None, last_only: bool = False) -> torch.Tensor:
    """One padded forward pass over the sequences (all of one batch; see `logits_for`): logits
    (N, labels) | (N, T, labels) | (N, T, vocab), float32 on the CPU; an empty sequence is read as one
    padding token. last_only (equal-length sequences of a language model): only the last position's logits,
    (N, 1, vocab); a HuggingFace decoder then skips the unembedding of every other position."""
    id_lists = [ids or [pad_id(bundle)] for ids in id_lists]
    ids, mask = pad_ids(id_lists, pad_id(bundle), bundle.device)
    if is_ours(bundle):
        cases = None
        if case_lists is not None:
            cases, _ = pad_ids([c or [0] for c in case_lists], 0, bundle.device)
        logits = bundle.model(ids, mask, case_ids=cases, edit=edit).logits
        return (logits[:, -1:] if last_only else logits).float().cpu()
    options = {"use_cache": False} if bundle.causal else {}
    if last_only and bundle.causal:
        options["logits_to_keep"] = 1
    with hooked_edit(bundle.model, edit, bundle.n_layers, bundle.n_heads):
        logits = bundle.model(input_ids=ids, attention_mask=mask.long(), return_dict=True, **options).logits
    return (logits[:, -1:] if last_only else logits).float().cpu()


def logits_for(bundle, id_lists: list[list[int]], case_lists: list[list[int]] | None = None,
               batch: int = BATCH) -> list[torch.Tensor]:
    """Each sequence's own logits (padding cut off), run in batches of similar length."""
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
    out: list[torch.Tensor | None] = [None] * len(id_lists)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        logits = run_ids(bundle, [id_lists[i] for i in chunk],
                         None if case_lists is None else [case_lists[i] for i in chunk])
        for row, i in enumerate(chunk):
            length = max(1, len(id_lists[i]))
            out[i] = logits[row] if logits.dim() == 2 else logits[row, :length]
    return out
