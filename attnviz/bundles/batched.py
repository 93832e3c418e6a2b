"""Many texts through a model in one padded forward pass: the container both bundles return.

Texts are right-padded to the longest one; the attention mask (True = real token) keeps padding out
of every real token's attention, so a text's weights and hidden states are those of its own forward
pass (up to float rounding). Slice `[:length]` to drop the padding again.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BatchOutput:
    """tokens, special: per text (special[i][t] is True for [CLS], [SEP], <s>...);
    attentions: (B, L, H, T, T) float32 on the CPU, or None; hidden: (B, L, T, d) float32 (the state
    after each block), or None; lengths: real tokens per text. Entries past a text's length are padding."""

    tokens: list[list[str]]
    special: list[list[bool]]
    lengths: list[int]
    attentions: torch.Tensor | None = None
    hidden: torch.Tensor | None = None


def pad_ids(id_lists: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists: ids (B, T) and mask (B, T), True for real tokens."""
    longest = max(len(ids) for ids in id_lists)
    ids = torch.full((len(id_lists), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(id_lists), longest), dtype=torch.bool)
    for row, values in enumerate(id_lists):
        ids[row, :len(values)] = torch.tensor(values, dtype=torch.long)
        mask[row, :len(values)] = True
    return ids.to(device), mask.to(device)


def stack_layers(per_layer: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """[(B, ...)] per layer -> (B, L, ...) float32 on the CPU."""
    return torch.stack([t.float() for t in per_layer], dim=1).cpu()
