"""Full-vocabulary init from all-MiniLM-L6-v2 with frozen word embeddings: the checkpoint leaves the
embeddings out (base-referenced) and loads them back from the package; --train-file picks the set."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import attnviz
from attnviz.cli import build_parser, _job_spec
from attnviz.bundles.hf import minilm_folder
from attnviz.training.train import TrainConfig
from attnviz.training.training_job import JobSpec, run_job


def test_full_vocab_frozen_embeddings_checkpoint_references_the_base(shared_data, tmp_path):
    spec = JobSpec(task="sentiment", out=str(tmp_path / "ckpt"),
                   train=TrainConfig(task="sentiment", epochs=1, max_steps=2, batch_size=4, lr=1e-4,
                                     precision="bf16", eval_limit=8),
                   train_file=str(shared_data / "sst2" / "train_phrases.tsv"), data_root=str(shared_data),
                   dev_from_data_root=True, init="all-MiniLM-L6-v2", init_layers=1, max_vocab=0,
                   freeze_embeddings=True, train_limit=16, save_dtype="float16")
    folder, result, dev = run_job(spec)
    assert result.precision == "bf16" and dev["n"] == 872
    document = json.loads((folder / "config.json").read_text())
    assert document["model"]["vocab_size"] == 30522
    assert document["metadata"]["hardware"]["precision"] == "bf16"
    assert list(document["base"]["tensors"]) == ["encoder.token_embedding.weight"]
    stored = load_file(str(folder / "model.safetensors"))
    assert "encoder.token_embedding.weight" not in stored
    assert "encoder.blocks.0.attention.qkv.weight" in stored  # fine-tuned: stored
    base = load_file(str(minilm_folder() / "model.safetensors"))
    table = next(v for k, v in base.items() if k.endswith("embeddings.word_embeddings.weight"))
    bundle = attnviz.load(folder)
    assert torch.equal(bundle.model.encoder.token_embedding.weight, table)
    # the full vocabulary reads whole words that a pruned one split up
    tokens = bundle.tokenizer.encode("Apple opened a store on Tuesday").tokens
    assert {"apple", "tuesday"} <= set(tokens)


def test_train_file_flag(shared_data, tmp_path):
    args = build_parser().parse_args(["train", "--task", "sentiment", "--data", str(shared_data), "--train-file",
                                      str(shared_data / "sst2" / "train_phrases.tsv"), "--out", str(tmp_path / "x"),
                                      "--max-vocab", "0", "--freeze-embeddings", "--precision", "bf16"])
    spec = _job_spec(args, [])
    assert spec.train_file.endswith("train_phrases.tsv") and spec.dev_from_data_root
    assert spec.data_root == str(shared_data) and spec.max_vocab == 0 and spec.freeze_embeddings
    with pytest.raises(FileNotFoundError, match="--train-file"):
        _job_spec(build_parser().parse_args(["train", "--task", "sentiment", "--train-file",
                                             str(tmp_path / "none.tsv"), "--out", str(tmp_path / "y")]), [])
