"""What each head does, in numbers, over many sentences: entropy, previous/next/self, special, distance, role.

Computed from raw attention (special tokens kept), over every real query row of every text; padding
never counts. Each row weighs the same, so long texts count more than short ones (they have more rows).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import torch

from attnviz.analysis.arguments import check_int, check_texts

from attnviz.analysis.corpus import Progress, corpus_batches

if TYPE_CHECKING:  # pandas is imported where a frame is built: `import attnviz` stays ~65 MB lighter
    import pandas as pd

STATISTICS = ("entropy", "previous", "next", "self", "special", "sink", "distance")
ROLES = ("sink", "previous token", "next token", "self", "broad", "positional", "mixed")


@dataclass(frozen=True)
class RoleRule:
    """Thresholds of `head_role` (fractions of a row's attention, or of the largest possible entropy)."""

    sink: float = 0.5  # mean mass on the sinks (the first token and special tokens), or on special tokens
    neighbour: float = 0.5  # mean weight on the previous (or next) token
    self_: float = 0.5  # mean weight on the query itself
    broad: float = 0.75  # entropy / the entropy of a uniform row
    local: float = 0.6  # previous + self + next together


def head_role(row: dict | pd.Series, rule: RoleRule = RoleRule()) -> str:
    """A plain label from one head's statistics; the first rule that holds wins.

    After Xiao et al. 2023, who found decoders parking attention on the first token (attention
    sinks), and Clark et al. 2019 ("What does BERT look at?"), who found heads that put most of their
    attention on [SEP]/[CLS], heads that attend to the previous or the next token, and heads that
    attend broadly (high entropy):

    1. sink >= 0.5 or special >= 0.5 -> "sink" (most attention goes to the first token or special tokens)
    2. previous >= 0.5 -> "previous token"
    3. next >= 0.5 -> "next token"
    4. self >= 0.5 -> "self"
    5. entropy >= 0.75 x the entropy of a uniform row (`entropy_ratio`) -> "broad"
    6. previous + self + next >= 0.6 -> "positional" (a local window around the query)
    7. otherwise "mixed"
    """
    if row.get("sink", 0.0) >= rule.sink or row["special"] >= rule.sink:
        return "sink"
    if row["previous"] >= rule.neighbour:
        return "previous token"
    if row["next"] >= rule.neighbour:
        return "next token"
    if row["self"] >= rule.self_:
        return "self"
    if row["entropy_ratio"] >= rule.broad:
        return "broad"
    if row["previous"] + row["self"] + row["next"] >= rule.local:
        return "positional"
    return "mixed"


class HeadStatistics:
    """Running sums over attention batches; `frame()` gives the per-head means."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, float] = {}

    def _add(self, name: str, total: torch.Tensor, count: float) -> None:
        self.sums[name] = self.sums.get(name, 0) + total.double()
        self.counts[name] = self.counts.get(name, 0.0) + float(count)

    def add(self, weights: torch.Tensor, lengths: list[int], special: list[list[bool]], causal: bool) -> None:
        """weights: (B, L, H, T, T) with padding beyond each text's length; special: per text, per token."""
        batch, _, _, seq_len, _ = weights.shape
        real = torch.zeros(batch, seq_len, dtype=torch.bool)  # (B, T)
        specials = torch.zeros(batch, seq_len)
        for b, (n, flags) in enumerate(zip(lengths, special)):
            real[b, :n] = True
            specials[b, :n] = torch.tensor(flags[:n], dtype=torch.float32)
        rows = real.float()[:, None, None, :]  # (B, 1, 1, T): one per real query row
        n_rows = float(real.sum())

        def masked_total(per_row: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return (per_row * mask).sum(dim=(0, 3))  # (B, L, H, T') -> (L, H)

        entropy = -(weights * torch.log(weights.clamp_min(1e-12))).sum(-1)  # (B, L, H, T)
        self._add("entropy", masked_total(entropy, rows), n_rows)
        pairs = real[:, 1:].float()[:, None, None, :]  # (B, 1, 1, T-1): pairs (i, i+1) both real
        n_pairs = float(real[:, 1:].sum())
        self._add("previous", masked_total(weights.diagonal(-1, -2, -1), pairs), n_pairs)  # A[i+1, i]
        self._add("next", masked_total(weights.diagonal(1, -2, -1), pairs), n_pairs)  # A[i, i+1]
        self._add("self", masked_total(weights.diagonal(0, -2, -1), rows), n_rows)
        on_special = (weights * specials[:, None, None, None, :]).sum(-1)  # (B, L, H, T)
        self._add("special", masked_total(on_special, rows), n_rows)
        sinks = specials.clone()
        sinks[:, 0] = 1.0  # the first token, and every special token
        after_first = real.clone()
        after_first[:, 0] = False
        on_sinks = (weights * sinks[:, None, None, None, :]).sum(-1)  # (B, L, H, T)
        self._add("sink", masked_total(on_sinks, after_first.float()[:, None, None, :]), float(after_first.sum()))
        position = torch.arange(seq_len, dtype=torch.float32)
        offsets = (position[:, None] - position[None, :]).abs()  # (T, T): |i - j|
        self._add("distance", masked_total((weights * offsets).sum(-1), rows), n_rows)
        # the entropy of a uniform row over the keys each query may see: ln(n), or ln(i + 1) if causal
        uniform = sum(float(np.log(np.arange(1, n + 1)).sum()) if causal else n * float(np.log(n))
                      for n in lengths)
        self._add("uniform_entropy", torch.tensor(uniform), n_rows)

    def frame(self) -> pd.DataFrame:
        """One row per (layer, head) with the statistics, entropy_ratio and role."""
        if not self.sums:
            raise ValueError("no attention was added")
        means = {name: (self.sums[name] / max(self.counts[name], 1.0)).numpy() for name in self.sums}
        n_layers, n_heads = means["entropy"].shape
        rows = []
        for layer in range(n_layers):
            for head in range(n_heads):
                row = {"layer": layer, "head": head}
                row.update({name: float(means[name][layer, head]) for name in STATISTICS})
                uniform = float(means["uniform_entropy"])
                row["entropy_ratio"] = row["entropy"] / uniform if uniform > 0 else 0.0
                row["role"] = head_role(row)
                rows.append(row)
        import pandas as pd
        return pd.DataFrame(rows)


def head_statistics(bundle, texts: list[str], progress: Progress | None = None,
                    batch_size: int = 32) -> pd.DataFrame:
    """One row per (layer, head) of the bundle over the texts: layer, head, entropy (nats, mean over
    every query row of -sum A ln A), previous (mean A[i, i-1] over rows i >= 1), next (mean A[i, i+1]),
    self (mean A[i, i]), special (mean mass on special tokens), sink (mean mass on the first token and
    special tokens over the queries after the first, Xiao et al. 2023), distance (mean |i - j| weighted by A),
    entropy_ratio (entropy / that of uniform rows) and role (see `head_role`).

    The texts go through the model in padded batches (progress(done, total) after each).
    """
    texts = check_texts("texts", texts)
    batch_size = check_int("batch_size", batch_size, 1, 1024)
    stats = HeadStatistics()
    for _, batch in corpus_batches(bundle, texts, attentions=True, batch_size=batch_size, progress=progress):
        stats.add(batch.attentions, batch.lengths, batch.special, bool(bundle.causal))
    return stats.frame()


def head_statistics_from_weights(weights: list[np.ndarray], special: list[list[bool]],
                                 causal: bool = False) -> pd.DataFrame:
    """The same table from given attention arrays, one (L, H, T, T) per text (for tests and traces)."""
    stats = HeadStatistics()
    for w, flags in zip(weights, special):
        stats.add(torch.as_tensor(np.asarray(w, dtype=np.float32))[None], [w.shape[-1]], [list(flags)], causal)
    return stats.frame()


def role_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """How many heads have each role: columns role, heads (roles with no head left out)."""
    counts = frame["role"].value_counts()
    import pandas as pd
    return pd.DataFrame({"role": [r for r in ROLES if r in counts], "heads": [int(counts[r]) for r in ROLES if r in counts]})
