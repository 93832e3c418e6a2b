"""What one training run may cost, estimated before it starts (hosted mode refuses runs over the caps).

The peak of a training step on the CPU is dominated by four things, all known before the first step:
the weights with their gradients and two Adam moments (4 copies of the trainable ones, 1 of the frozen),
the activations kept for the backward pass (per token and layer: the residual-stream tensors and the
feed-forward block, plus heads x T attention weights), and the output layer's logits over the
vocabulary (the language model: every position; with their softmax and gradient). The constants are
deliberately generous (measured peaks sit below the estimate), so a refusal errs on the safe side.
A hosted server also refuses a run when what it already holds (models, caches) plus the estimate would pass
its budget (1.5 GB): a run that fits a fresh server can be refused on a busy one, with a message saying so.
"""
from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

import torch

from attnviz.errors import InputError

FLOAT = 4
RUNTIME_BYTES = 450 << 20  # torch, tokenizers and the app already in memory: not counted in the budget


@dataclass(frozen=True)
class RunCaps:
    """Hosted caps on one run: padded tokens per batch and the estimated peak memory of a step."""

    max_batch_tokens: int = 8_192
    max_peak_bytes: int = 700 << 20
    server_bytes: int | None = 1536 << 20  # the whole server: what it holds now + the run must fit (None: no check)


def resident_bytes() -> int:
    """This process's resident memory now (VmRSS; the peak so far where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def estimate_step_bytes(model: torch.nn.Module, batch_size: int, seq_len: int, task: str) -> int:
    """A generous estimate of one training step's peak memory (weights, optimiser state, activations)."""
    config = model.config
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    tokens = batch_size * seq_len
    per_layer = tokens * (12 * config.d_model + 3 * config.d_ff) + 4 * batch_size * config.n_heads * seq_len ** 2
    outputs = config.vocab_size if task == "lm" else max(1, config.n_labels)
    logits = (tokens if task in ("lm", "ner") else batch_size) * outputs * 4
    return FLOAT * (4 * trainable + frozen + config.n_layers * per_layer + logits)


def check_run(model: torch.nn.Module, batch_size: int, seq_len: int, task: str, caps: RunCaps) -> int:
    """The estimate, or InputError naming the limit the run would pass."""
    tokens = batch_size * seq_len
    if tokens > caps.max_batch_tokens:
        raise InputError(f"A batch of {batch_size} x {seq_len} tokens ({tokens:,}) is over this demo's limit of "
                         f"{caps.max_batch_tokens:,} tokens per batch: use a batch size of at most "
                         f"{max(1, caps.max_batch_tokens // seq_len)}.")
    estimate = estimate_step_bytes(model, batch_size, seq_len, task)
    if estimate > caps.max_peak_bytes:
        raise InputError(f"This run would need about {estimate / 2**20:,.0f} MiB per training step; this demo "
                         f"allows {caps.max_peak_bytes / 2**20:,.0f} MiB. Use a smaller batch, fewer layers, a "
                         "narrower model or fewer vocabulary entries.")
    if caps.server_bytes is not None:
        held = resident_bytes()
        if held + estimate > caps.server_bytes:
            raise InputError(f"This demo's server holds {held / 2**20:,.0f} MiB now and this run would need about "
                             f"{estimate / 2**20:,.0f} MiB more, over its budget of {caps.server_bytes / 2**20:,.0f} "
                             "MiB. Use a smaller batch or model, or try again later.")
    return estimate
