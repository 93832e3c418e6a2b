"""Run by tests/test_cli.py under `torchrun --nproc_per_node 2`: trains a tiny classifier with
DistributedDataParallel (gloo on CPU) and writes this process's final weights for comparison."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from attnviz.training.data import read_classification_tsv
from attnviz.nn.models import ModelConfig, build_model
from attnviz.text.tokenize import build_word_tokenizer
from attnviz.training.train import TrainConfig, train


def main(data_dir: str, out_dir: str) -> None:
    rows = read_classification_tsv(Path(data_dir) / "sst2" / "train.tsv")[:128]
    tokenizer = build_word_tokenizer([t for t, _ in rows])
    torch.manual_seed(0)  # the same initial weights in every process
    model = build_model(ModelConfig(kind="classifier", vocab_size=tokenizer.vocab_size, d_model=16, n_heads=2,
                                    n_layers=1, d_ff=32, max_len=64))
    train(model, tokenizer, TrainConfig(task="sentiment", epochs=2, batch_size=8, lr=1e-3, device="cpu"), rows)
    rank = dist.get_rank()
    state = {name: t.contiguous() for name, t in model.state_dict().items()}
    save_file(state, str(Path(out_dir) / f"rank{rank}.safetensors"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
