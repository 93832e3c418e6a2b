"""Training replay, the recording side: the attention of a few probe sentences while a model trains.

`ReplayRecorder` is the trainer's `on_step` hook: at step 0 and every N steps it runs the probe
sentences through the model (eval mode, no gradients, then back to training) and keeps every head's
weights; it also keeps the running training loss. `save` writes them into the checkpoint folder
(attnviz.store.replay_file); attnviz.analysis.replay reads them back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from attnviz.bundles.bundle import split_words
from attnviz.store.replay_file import write_replay
DEFAULT_SNAPSHOTS = 40  # with every=0: about this many snapshots over the run
LOSS_POINTS = 500  # the loss history keeps about this many points
MAX_PROBES = 8


def probe_encoding(tokenizer, task: str, text: str, max_len: int):
    """The probe text as the bundle would encode it (words for NER, the last tokens for the LM)."""
    if task == "ner":
        return tokenizer.encode_words(split_words(text), max_len)
    encoded = tokenizer.encode(text)
    if task == "lm":
        return encoded if len(encoded.ids) <= max_len else tokenizer.encode(text[-max_len:], max_len)
    return tokenizer.encode(text, max_len)


@dataclass
class ReplayRecorder:
    """Call it as the trainer's on_step(step, total_steps, loss, model); then `save(folder)`."""

    texts: list[str]
    tokenizer: object
    task: str
    every: int = 0  # steps between snapshots; 0: about DEFAULT_SNAPSHOTS over the run
    steps: list[int] = field(default_factory=list)
    loss: list[tuple[int, float]] = field(default_factory=list)
    _weights: list[list[np.ndarray]] = field(default_factory=list)
    _encoded: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.texts = [t for t in self.texts if t and t.strip()][:MAX_PROBES]
        if self.every < 0:
            raise ValueError("--replay-every must be 0 or more")

    def prepare(self, max_len: int) -> None:
        """Encode the probes now (ValueError for one that gives no token), before training starts."""
        self._encoded = []
        for text in self.texts:
            encoded = probe_encoding(self.tokenizer, self.task, text, max_len)
            if not encoded.ids:
                raise ValueError(f"the replay text {text[:40]!r} gives no tokens this model knows")
            self._encoded.append(encoded)
        self._weights = [[] for _ in self.texts]

    def __call__(self, step: int, total_steps: int, loss: float | None, model: torch.nn.Module) -> None:
        if not self.texts:
            return
        if not self._encoded:
            self.prepare(model.config.max_len)
        if loss is not None and step % max(1, total_steps // LOSS_POINTS) == 0:
            self.loss.append((step, float(loss)))
        every = self.every or max(1, total_steps // DEFAULT_SNAPSHOTS)
        if step % every == 0 or step == total_steps:
            self.record(step, model)

    @torch.no_grad()
    def record(self, step: int, model: torch.nn.Module) -> None:
        if self.steps and self.steps[-1] == step:
            return
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            for slot, encoded in zip(self._weights, self._encoded):
                ids = torch.tensor([encoded.ids], device=device)  # (1, T)
                cases = torch.tensor([encoded.case_ids], device=device) if encoded.case_ids else None
                output = model(ids, need_weights=True, case_ids=cases)
                slot.append(torch.stack([w[0] for w in output.attentions]).float().cpu().numpy())  # (L, H, T, T)
        finally:
            model.train(was_training)
        self.steps.append(step)

    def save(self, folder: str | Path) -> None:
        """Write replay.safetensors and replay.json into the (already saved) checkpoint folder."""
        if not self.steps:
            return
        arrays = {f"probe{i}": np.stack(w).astype(np.float16) for i, w in enumerate(self._weights)}  # (S, L, H, T, T)
        document = {"texts": self.texts, "tokens": [e.tokens for e in self._encoded], "steps": self.steps,
                    "loss": [[s, v] for s, v in self.loss], "causal": self.task == "lm"}
        write_replay(folder, arrays, document)
