"""The Verify page's explanation identities pass on the shipped models and on a HuggingFace model."""
from __future__ import annotations

import pytest

import attnviz
from attnviz.analysis import verify_explain
from tiny_hf import tiny_gpt2, tiny_gpt2_folder  # noqa: F401  (fixtures)

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.mark.parametrize("name", ["sentiment", "ner", "lm"])
def test_explanation_identities_hold(name):
    bundle = attnviz.load(name)
    for check in (verify_explain.ig_completeness_check(bundle, TEXT), verify_explain.ablate_nothing_check(bundle, TEXT),
                  verify_explain.patch_everything_check(bundle, TEXT),
                  verify_explain.rollout_formula_check(bundle.trace(TEXT))):
        assert check.passed, check


def test_a_wrong_rollout_fails_the_formula_check():
    trace = attnviz.load("sentiment").trace(TEXT)
    assert not verify_explain.rollout_formula_check(trace, residual=0.5, tolerance=-1.0).passed
    assert verify_explain.rollout_formula_check(trace, residual=0.2).passed


def test_hf_logits_against_transformers(tiny_gpt2):
    assert verify_explain.hf_logits_check(tiny_gpt2, "the cat sat").passed
