"""Activation patching: the identities (everything -> 1, nothing -> 0, equal texts -> a clear message), the
batched sweep equal to one site patched alone, and HuggingFace models (hooks removed afterwards)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.analysis.id_runs import encode_ids, run_ids
from attnviz.analysis.patching import patch, patch_everything
from attnviz.errors import InputError
from attnviz.nn.edit import ActivationEdit
from tiny_hf import tiny_gpt2, tiny_gpt2_folder, tiny_llama  # noqa: F401  (fixtures)

CLEAN, CORRUPT = "The film was good and the acting was great.", "The film was bad and the acting was great."


@pytest.fixture(scope="module")
def sentiment():
    return attnviz.load("sentiment")


def test_patching_the_whole_first_layer_restores_exactly_one(sentiment):
    assert patch_everything(sentiment, CLEAN, CORRUPT, layer=0) == pytest.approx(1.0, abs=1e-6)


def test_patching_nothing_restores_zero(sentiment):
    result = patch(sentiment, CLEAN, CORRUPT)
    a, b = encode_ids(sentiment, CLEAN), encode_ids(sentiment, CORRUPT)
    untouched = run_ids(sentiment, [b.ids], edit=ActivationEdit(residual=lambda layer, x: x))[0]
    clean = run_ids(sentiment, [a.ids])[0]
    good, bad = int(clean.argmax()), int(untouched.argmax())
    assert float(untouched[good] - untouched[bad]) == pytest.approx(result.corrupt_score, abs=1e-5)
    assert result.restored.shape == (sentiment.n_layers + 1, len(b.ids))
    # the positions the two texts share carry nothing at the first layer: patching them restores 0
    shared = [i for i, (x, y) in enumerate(zip(a.ids, b.ids)) if x == y]
    assert np.allclose(result.restored[0, shared], 0.0, atol=1e-6)


def test_equal_texts_have_no_gap_and_say_so(sentiment):
    with pytest.raises(InputError, match="no gap"):
        patch(sentiment, CLEAN, CLEAN)


def restored_alone(bundle, result, kind: str, layer: int, index: int) -> float:
    """One site patched by hand, unbatched: residual position `index` or head `index` of `layer` from the
    clean run into the corrupt one -> the share of the gap restored (positive minus negative logit)."""
    a, b = encode_ids(bundle, CLEAN), encode_ids(bundle, CORRUPT)
    store = {}
    run_ids(bundle, [a.ids], edit=ActivationEdit(**{kind: lambda at, t: store.setdefault(at, t.clone()) * 0 + t}))

    def one(at, t):
        if at == layer:
            t = t.clone()
            t[0, index] = store[layer][0, index]  # residual (1, T, d): a position; context (1, H, T, d): a head
        return t
    patched = run_ids(bundle, [b.ids], edit=ActivationEdit(**{kind: one}))[0]
    return (float(patched[1] - patched[0]) - result.corrupt_score) / (result.clean_score - result.corrupt_score)


def test_batched_sweep_equals_one_site_patched_alone(sentiment):
    result = patch(sentiment, CLEAN, CORRUPT, site="residual")
    assert result.restored[2, 4] == pytest.approx(restored_alone(sentiment, result, "residual", 2, 4), abs=1e-4)
    # the edited word at the first layer carries the whole decision (the other positions are identical)
    assert result.restored[0, 4] == pytest.approx(1.0, abs=1e-5)


def test_heads_site_equals_one_head_patched_alone(sentiment):
    result = patch(sentiment, CLEAN, CORRUPT, site="heads")
    assert result.restored.shape == (6, 12)
    assert result.restored[3, 9] == pytest.approx(restored_alone(sentiment, result, "context", 3, 9), abs=1e-4)


def test_different_lengths_patch_aligned_positions_only(sentiment):
    result = patch(sentiment, "The film was good.", "The film was not good.")
    assert "aligned" in result.note
    assert np.isnan(result.restored[:, result.tokens_corrupt.index("not")]).all()


@pytest.mark.parametrize("model", ["tiny_gpt2", "tiny_llama"])
def test_hf_models_patch_and_leave_no_hook(model, request):
    bundle = request.getfixturevalue(model)
    hooks = lambda: sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in bundle.model.modules())  # noqa: E731
    installed = hooks()
    clean, corrupt = "the cat sat on the mat", "the dog sat on the mat"
    assert patch_everything(bundle, clean, corrupt) == pytest.approx(1.0, abs=1e-5)
    before = bundle.logits(corrupt)
    result = patch(bundle, clean, corrupt, site="heads")
    assert result.restored.shape == (bundle.n_layers, bundle.n_heads)
    residual = patch(bundle, clean, corrupt)
    changed = [i for i, (x, y) in enumerate(zip(residual.tokens_clean, residual.tokens_corrupt)) if x != y]
    assert residual.restored[0, changed[0]] == pytest.approx(1.0, abs=1e-4)  # the only differing token
    assert torch.equal(before, bundle.logits(corrupt))  # nothing left installed
    assert hooks() == installed


@pytest.mark.parametrize("model", ["tiny_gpt2", "tiny_llama"])
@pytest.mark.parametrize("kind", ["residual", "context"])
def test_hf_sweep_equals_one_site_patched_alone(model, kind, request):
    """Each layer's sweep widens one corrupt sequence into one row per site at the patched layer; a cell
    must equal that one site patched on its own in an ordinary batch-of-one run."""
    bundle = request.getfixturevalue(model)
    clean, corrupt = "the cat sat on the mat", "the dog sat on the mat"

    def metric(logits):  # (N, T, V) -> (N,): two fixed next-token logits at the last position
        return (logits[:, -1, 5] - logits[:, -1, 7]).double()
    result = patch(bundle, clean, corrupt, site="residual" if kind == "residual" else "heads", metric=metric)
    a, b = encode_ids(bundle, clean), encode_ids(bundle, corrupt)
    store = {}
    run_ids(bundle, [a.ids], edit=ActivationEdit(**{kind: lambda at, t: store.setdefault(at, t.clone()) * 0 + t}))
    layer = bundle.n_layers - 1  # the last block; position 2, or the last head
    index = 2 if kind == "residual" else bundle.n_heads - 1

    def one(at, t):
        if at == layer:
            t = t.clone()
            t[0, index] = store[layer][0, index]  # residual (1, T, d): a position; context (1, H, T, d): a head
        return t
    alone = float(metric(run_ids(bundle, [b.ids], edit=ActivationEdit(**{kind: one})))[0])
    expected = (alone - result.corrupt_score) / (result.clean_score - result.corrupt_score)
    assert result.restored[layer, index] == pytest.approx(expected, abs=1e-4)


def test_wrong_arguments_name_themselves(sentiment):
    with pytest.raises(InputError, match="site"):
        patch(sentiment, CLEAN, CORRUPT, site="mlp")
    with pytest.raises(InputError, match="clean"):
        patch(sentiment, None, CORRUPT)


def test_tagger_pair_of_different_lengths():
    ner = attnviz.load("ner")
    result = patch(ner, "John lives in Paris.", "John lives in the park.")
    assert result.restored.shape[0] == ner.n_layers + 1 and result.clean_score != result.corrupt_score
