"""Corpus search that scales: all layers in one pass, float16 per-layer caches, stop, faiss = numpy,
decoders skip position 0, a content word as the default query token."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.analysis import context_index as ci
from attnviz.analysis.context_index import ContextIndex, IndexStopped, build_layers
from attnviz.analysis.corpus import default_query_token
from attnviz.errors import InputError

CORPUS = ["the film is a charming , funny surprise .", "a dull , lifeless story about nothing .",
          "nobody in the cast seems to care .", "an actor gives the performance of his life .",
          "it rains all the time in this movie .", "the director knows exactly what she wants ."]


@pytest.fixture(scope="module")
def sentiment():
    return attnviz.load("sentiment")


def test_one_pass_gives_every_layer_as_a_single_layer_build_does(sentiment, tmp_path):
    every = build_layers(sentiment, CORPUS, cache=False, precision="float32")
    assert sorted(every) == list(range(sentiment.n_layers))
    for layer in (0, sentiment.n_layers - 1):
        alone = ContextIndex.build(sentiment, CORPUS, layer, cache=False, precision="float32")
        assert every[layer].vectors.dtype == np.float16
        np.testing.assert_array_equal(every[layer].sentence_ids, alone.sentence_ids)
        np.testing.assert_allclose(every[layer].vectors.astype(np.float32), alone.vectors.astype(np.float32),
                                   atol=2e-3)
    # independent computation: the hidden state after block `layer`, normalised
    batch = sentiment.forward_batch([CORPUS[0]], attentions=False, hidden=True)
    state = batch.hidden[0, 2, 1].numpy()
    row = int(np.flatnonzero((every[2].sentence_ids == 0) & (every[2].token_ids == 1))[0])
    np.testing.assert_allclose(every[2].vectors[row].astype(np.float32), state / np.linalg.norm(state), atol=2e-3)


def test_bfloat16_precision_keeps_the_neighbours(sentiment):
    exact = build_layers(sentiment, CORPUS, [3], cache=False, precision="float32")[3]
    fast = build_layers(sentiment, CORPUS, [3], cache=False, precision="bfloat16")[3]
    cosine = (exact.vectors.astype(np.float32) * fast.vectors.astype(np.float32)).sum(1)
    assert cosine.min() > 0.99
    assert fast.search(CORPUS[3], 5, 1)[0].token_index == 5


def test_auto_precision_follows_the_measured_probe_not_the_instruction_flags(sentiment, monkeypatch):
    """Regression: "auto" took bfloat16 wherever the CPU had AVX512-BF16; on one such machine (no AMX)
    it made the index build 1.8x slower and a query 52 ms instead of 13."""
    for faster, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(ci, "cpu_bf16_is_faster", lambda faster=faster: faster)
        assert ci.resolve_precision(sentiment, "auto") == expected
        assert ci.resolve_precision(sentiment, "float32") == "float32"
        assert ci.resolve_precision(sentiment, "bfloat16") == "bfloat16"


def test_the_probe_never_picks_bfloat16_without_native_instructions(monkeypatch):
    from attnviz import device
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: False)
    device.cpu_bf16_is_faster.cache_clear()
    try:
        assert device.cpu_bf16_is_faster() is False
    finally:
        device.cpu_bf16_is_faster.cache_clear()


def test_stop_ends_the_build_and_caches_nothing(sentiment, tmp_path):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(IndexStopped, match="Stopped after"):
        build_layers(sentiment, CORPUS * 20, cache_dir=tmp_path, batch_size=8, stop=stop)
    assert not any(tmp_path.rglob("*.safetensors"))
    seen = []
    build_layers(sentiment, CORPUS, cache=False, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(CORPUS), len(CORPUS))


def test_faiss_above_the_threshold_gives_the_numpy_answer(sentiment, monkeypatch):
    pytest.importorskip("faiss")
    index = build_layers(sentiment, CORPUS, [2], cache=False, precision="float32")[2]
    plain = index.search(CORPUS[1], 3, 6)
    monkeypatch.setattr(ci, "VECTOR_LIBRARY_AT", 1)
    fresh = build_layers(sentiment, CORPUS, [2], cache=False, precision="float32")[2]
    library = fresh.search(CORPUS[1], 3, 6)
    assert type(fresh._searcher).__name__.startswith("Index")
    assert [(h.sentence_index, h.token_index) for h in library] == [(h.sentence_index, h.token_index) for h in plain]
    np.testing.assert_allclose([h.similarity for h in library], [h.similarity for h in plain], atol=1e-5)


def test_a_decoder_skips_position_zero():
    bundle = attnviz.load("lm")
    assert bundle.causal
    index = build_layers(bundle, ["to be or not", "the king is"], [0], cache=False)[0]
    assert index.skip_first and 0 not in set(index.token_ids.tolist())
    with pytest.raises(InputError, match="Position 0"):
        index.search("to be", 0)
    assert index.search("to be", 1, 3)


def test_default_query_token_is_a_content_word():
    tokens = ["[CLS]", "the", "film", "is", "a", "charming", ",", "funny", "surprise", ".", "[SEP]"]
    special = [t in ("[CLS]", "[SEP]") for t in tokens]
    assert tokens[default_query_token(tokens, special)] == "film"
    assert default_query_token(["The", "Ġcat"], [False, False], skip_first=True) == 1
    assert default_query_token(["[CLS]", "of", ",", "[SEP]"], [True, False, False, True]) == 1
    pieces = ["[CLS]", "un", "##believ", "it", "[SEP]"]
    assert default_query_token(pieces, [True, False, False, False, True]) in (1, 3)


def test_the_memory_budget_keeps_the_first_sentences_that_fit(sentiment, tmp_path):
    d = ci.hidden_size(sentiment)
    tokens = [len(sentiment.encode(t).ids) for t in CORPUS]
    budget = (tokens[0] + tokens[1] + 1) * sentiment.n_layers * d * 2  # room for two sentences, not three
    indexes = build_layers(sentiment, CORPUS, cache_dir=tmp_path, max_bytes=budget)
    assert indexes[0].texts == CORPUS[:2] and set(indexes[0].sentence_ids.tolist()) == {0, 1}
    assert "Only the first 2 of 6 sentences" in indexes[0].cache_note
    again = build_layers(sentiment, CORPUS, cache_dir=tmp_path, max_bytes=budget)
    assert again[0].from_cache and "Only the first 2" in again[0].cache_note
    assert sum(v.vectors.nbytes for v in indexes.values()) <= budget
