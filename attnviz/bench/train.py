"""Benchmark of a training step: `python -m attnviz bench train [--json] [--steps N] [--threads N]`.

One encoder classifier configuration (4 layers, d_model 256, 4 heads, feed-forward 1024, batch 32 of
128 tokens, vocabulary 8,000, dropout 0.1), trained with AdamW exactly as the trainer does
(forward, cross-entropy, backward, clipping, step), in three implementations:

  attnviz        our model at the trainer's default precision on this machine (bf16 autocast on a
                 CPU with native bf16, fp32 otherwise; see attnviz.device.pick_precision)
  attnviz_fp32   our model in fp32
  torch_encoder  nn.Embedding + learned positions + nn.TransformerEncoder (post-norm, ReLU, same
                 sizes) + mean pooling + a linear head, fp32

The three run in one process and take turns step by step, so a machine shared with other work
slows them alike. tokens_per_s = batch * seq_len / the median step time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

IMPLS = ("attnviz", "attnviz_fp32", "torch_encoder")


@dataclass(frozen=True)
class BenchConfig:
    batch: int = 32
    seq_len: int = 128
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 1024
    vocab: int = 8000
    n_labels: int = 2
    dropout: float = 0.1


class TorchEncoderClassifier(nn.Module):
    """The reference: torch's own nn.TransformerEncoder with the same sizes as our classifier."""

    def __init__(self, c: BenchConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(c.vocab, c.d_model)
        self.positions = nn.Embedding(c.seq_len, c.d_model)
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.d_ff, c.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(c.d_model, c.n_labels)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids) + self.positions.weight[: ids.shape[1]]  # (B, T, d)
        return self.head(self.encoder(x).mean(dim=1))  # (B, n_labels)


def _ours(c: BenchConfig) -> nn.Module:
    from attnviz.nn.models import ModelConfig, build_model

    config = ModelConfig(kind="classifier", vocab_size=c.vocab, n_labels=c.n_labels, d_model=c.d_model,
                         n_heads=c.n_heads, n_layers=c.n_layers, d_ff=c.d_ff, max_len=c.seq_len,
                         dropout=c.dropout, positional="learned")
    return build_model(config)


class _Runner:
    """One implementation: its model, optimizer and autocast dtype; `step()` times one training step."""

    def __init__(self, impl: str, c: BenchConfig, precision: str) -> None:
        torch.manual_seed(0)
        self.impl, self.precision = impl, precision
        self.model = (TorchEncoderClassifier(c) if impl == "torch_encoder" else _ours(c)).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.times: list[float] = []

    def step(self, ids: torch.Tensor, targets: torch.Tensor) -> None:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            out = self.model(ids)
            logits = out if isinstance(out, torch.Tensor) else out.logits
        loss = F.cross_entropy(logits.float(), targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.times.append(time.perf_counter() - start)


def run(steps: int = 10, warmup: int = 2, config: BenchConfig | None = None,
        impls: tuple[str, ...] = IMPLS) -> list[dict]:
    """One row per implementation, on the CPU (where the trainer's precision choice matters most)."""
    from attnviz.device import pick_precision

    c = config or BenchConfig()
    default = pick_precision(torch.device("cpu"), "auto")
    precisions = {"attnviz": default, "attnviz_fp32": "fp32", "torch_encoder": "fp32"}
    runners = [_Runner(impl, c, precisions[impl]) for impl in impls]
    generator = torch.Generator().manual_seed(0)
    for i in range(warmup + steps):
        ids = torch.randint(0, c.vocab, (c.batch, c.seq_len), generator=generator)
        targets = torch.randint(0, c.n_labels, (c.batch,), generator=generator)
        for runner in runners:  # take turns, so background load hits every implementation alike
            runner.step(ids, targets)
    rows = []
    for runner in runners:
        median = statistics.median(runner.times[warmup:])
        rows.append({"impl": runner.impl, "precision": runner.precision,
                     "tokens_per_s": round(c.batch * c.seq_len / median, 1), "ms_per_step": round(median * 1000, 1),
                     "batch": c.batch, "seq_len": c.seq_len, "d_model": c.d_model, "n_layers": c.n_layers,
                     "threads": torch.get_num_threads(), "steps": steps})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz bench train",
                                     description="Tokens per second of a training step: ours at the default "
                                                 "precision, ours in fp32, and torch's nn.TransformerEncoder.")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per implementation (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.steps)
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return 0
    c = BenchConfig()
    print(f"training step, {c.n_layers} layers, d_model {c.d_model}, batch {c.batch} x {c.seq_len} tokens, "
          f"{torch.get_num_threads()} threads; median of {args.steps} steps")
    reference = next(r for r in rows if r["impl"] == "torch_encoder")["tokens_per_s"]
    for row in rows:
        print(f"{row['impl']:>14} {row['precision']:>5} {row['tokens_per_s']:>10.0f} tokens/s "
              f"{row['ms_per_step']:>8.1f} ms/step  {row['tokens_per_s'] / reference:.2f}x torch_encoder")
    return 0
