"""Corpus-index caches: never written through links, rebuilt (and said so) when damaged or poisoned,
read with the safe-file rules, evicted least recently used first (only our folders)."""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

import attnviz
from attnviz.analysis import index_cache
from attnviz.analysis.context_index import build_layers, corpus_hash, model_fingerprint

CORPUS = ["a charming , funny film .", "a dull story about nothing .", "the cast seems to care ."]


@pytest.fixture(scope="module")
def bundle():
    return attnviz.load("sentiment")


def _folder(bundle, root):
    return root / f"index-{model_fingerprint(bundle)}-{corpus_hash(CORPUS)}"


def _build(bundle, root, layers=(1,)):
    return build_layers(bundle, CORPUS, list(layers), cache_dir=root, precision="float32")


def test_a_link_planted_at_the_cache_file_is_replaced_not_followed(bundle, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    root = tmp_path / "cache"
    folder = _folder(bundle, root)
    folder.mkdir(parents=True)
    (folder / "index.json").symlink_to(victim)
    (folder / "L1.safetensors").symlink_to(victim)
    index = _build(bundle, root)[1]
    assert victim.read_text() == "precious"
    assert not (folder / "index.json").is_symlink() and not (folder / "L1.safetensors").is_symlink()
    assert _build(bundle, root)[1].from_cache and index.size > 0


def test_a_link_planted_at_the_cache_folder_is_refused(bundle, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "cache"
    root.mkdir()
    _folder(bundle, root).symlink_to(elsewhere, target_is_directory=True)
    index = _build(bundle, root)[1]
    assert list(elsewhere.iterdir()) == [] and not index.from_cache
    assert "could not be kept" in index.cache_note


def _meta(folder):
    return json.loads((folder / "index.json").read_text())


@pytest.mark.parametrize("damage", ["list", "no_tokens", "bad_ids", "deep", "nan", "int8", "not_unit",
                                    "missing_ids", "format_true"])
def test_a_damaged_or_poisoned_cache_is_rebuilt_and_said_so(bundle, tmp_path, damage):
    first = _build(bundle, tmp_path)[1]
    folder = _folder(bundle, tmp_path)
    layer = folder / "L1.safetensors"
    vectors = first.vectors.copy()
    ids = {"sentence_ids": first.sentence_ids, "token_ids": first.token_ids}
    if damage == "list":
        (folder / "index.json").write_text("[1, 2, 3]")
    elif damage == "no_tokens":
        meta = _meta(folder)
        del meta["tokens"]
        (folder / "index.json").write_text(json.dumps(meta))
    elif damage == "format_true":
        meta = _meta(folder)
        meta["format"] = True if index_cache.FORMAT == 1 else 2.0
        (folder / "index.json").write_text(json.dumps(meta))
    elif damage == "deep":
        (folder / "index.json").write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "bad_ids":
        save_file({"vectors": vectors, "sentence_ids": ids["sentence_ids"] + 1000, "token_ids": ids["token_ids"]},
                  str(layer))
    elif damage == "missing_ids":
        save_file({"vectors": vectors}, str(layer))
    elif damage == "nan":
        vectors[0] = np.nan
        save_file({"vectors": vectors, **ids}, str(layer))
    elif damage == "int8":
        save_file({"vectors": (vectors * 100).astype(np.int8), **ids}, str(layer))
    elif damage == "not_unit":
        save_file({"vectors": vectors * np.float16(1.086), **ids}, str(layer))
    again = _build(bundle, tmp_path)[1]
    assert not again.from_cache and "rebuilt" in again.cache_note
    hits = again.search(CORPUS[0], 2, 3)
    assert all(np.isfinite(h.similarity) and -1.001 <= h.similarity <= 1.001 for h in hits)
    assert _build(bundle, tmp_path)[1].from_cache  # the rebuilt cache is good


def test_a_fifo_or_a_link_to_dev_zero_is_never_read(bundle, tmp_path):
    _build(bundle, tmp_path)
    folder = _folder(bundle, tmp_path)
    os.unlink(folder / "index.json")
    os.mkfifo(folder / "index.json")
    finished = []
    worker = threading.Thread(target=lambda: finished.append(_build(bundle, tmp_path)[1]), daemon=True)
    worker.start()
    worker.join(60)
    assert finished and not finished[0].from_cache
    os.unlink(folder / "L1.safetensors")
    os.symlink("/dev/zero", folder / "L1.safetensors")
    again = _build(bundle, tmp_path)[1]
    assert not again.from_cache and "not a regular file" in again.cache_note


def test_eviction_is_least_recently_used_and_only_touches_our_folders(tmp_path):
    names = [f"index-{i:016x}-{i:016x}" for i in range(3)]
    for age, name in enumerate(names):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "L0.safetensors").write_bytes(b"x" * 1000)
        (folder / "index.json").write_text("{}")
        stamp = time.time() - 1000 * (3 - age)
        os.utime(folder / "index.json", (stamp, stamp))
    stranger = tmp_path / "my-notes"
    stranger.mkdir()
    (stranger / "big.bin").write_bytes(b"y" * 10_000)
    removed = index_cache.evict(tmp_path, 2_100)
    assert [p.name for p in removed] == [names[0]]
    assert stranger.exists() and (tmp_path / names[2]).exists()
