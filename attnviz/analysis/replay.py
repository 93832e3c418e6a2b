"""Training replay, the reading side: what a checkpoint recorded while it trained (see
attnviz.training.replay_recorder), as attention traces one per snapshot."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnviz.errors import InputError
from attnviz.store.replay_file import ReplayError, has_replay, read_replay
from attnviz.trace import AttentionTrace

__all__ = ["Replay", "ReplayError", "has_replay", "load_replay", "replay_traces"]


@dataclass
class Replay:
    """What a checkpoint recorded: texts, tokens per text, steps, loss [(step, loss)], weights per probe."""

    texts: list[str]
    tokens: list[list[str]]
    steps: list[int]
    loss: list[tuple[int, float]]
    causal: bool
    weights: list[np.ndarray]  # per probe: (snapshots, L, H, T, T) float32

    def traces(self, probe: int = 0, model_name: str = "") -> list[tuple[int, AttentionTrace]]:
        """[(step, trace)] for one probe sentence, in step order."""
        if isinstance(probe, bool) or not isinstance(probe, int) or not 0 <= probe < len(self.texts):
            raise InputError(f"probe must be a whole number from 0 to {len(self.texts) - 1}, got {probe!r}")
        weights = self.weights[probe]
        weights = weights / np.maximum(weights.sum(-1, keepdims=True), 1e-12)  # undo float16 rounding
        order = np.argsort(self.steps, kind="stable")
        return [(int(self.steps[i]), AttentionTrace(weights[i], self.tokens[probe], causal=self.causal,
                                                    model_name=model_name, notes=[f"training step {self.steps[i]}"]))
                for i in order]


def load_replay(folder: str | Path) -> Replay | None:
    """The replay recorded in a checkpoint folder; None when there is none; ReplayError (a ValueError
    naming the problem) when its files are damaged."""
    files = read_replay(folder)
    if files is None:
        return None
    document, arrays = files
    texts, steps = list(document["texts"]), [int(s) for s in document["steps"]]
    weights = [arrays[f"probe{i}"].astype(np.float32) for i in range(len(texts))]
    return Replay(texts, [list(t) for t in document["tokens"]], steps,
                  [(int(s), float(v)) for s, v in document.get("loss", [])], bool(document.get("causal")), weights)


def replay_traces(bundle, probe: int = 0) -> list[tuple[int, AttentionTrace]]:
    """[(step, trace)] of probe sentence `probe` recorded while `bundle`'s model trained, in step order;
    [] when its folder holds no replay (HuggingFace models never do)."""
    try:
        replay = load_replay(getattr(bundle, "source", ""))
    except ReplayError:
        return []
    return replay.traces(probe, bundle.name) if replay is not None else []
