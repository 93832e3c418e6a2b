"""The app with a prepared llama-architecture model (a tiny offline stand-in for SmolLM2, with GQA):
generation, explorer and comparison pages."""
from __future__ import annotations

import pytest

from attnviz.bundles import prepare
from tests.test_app import _generate, assert_clean, charts, open_page
from tests.test_smollm2 import build_tiny_llama

NAME = prepare.SMOLLM2.name


@pytest.fixture
def prepared(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("prepared")
    build_tiny_llama(root / prepare.SMOLLM2.folder_name)
    monkeypatch.setenv("ATTNVIZ_MODELS", str(root))
    return root


def test_generation_page_runs_the_prepared_decoder(prepared):
    at = open_page("generation", model=NAME)
    assert_clean(at)
    assert at.sidebar.selectbox(key="generation_model").value == NAME
    first = _generate(at, max_new=5, temperature=1.0, seed=1)
    assert first == _generate(at, seed=1)
    greedy = _generate(at, temperature=0.0)
    assert greedy == _generate(at, seed=7)
    figures = charts(at)
    assert {"generation_candidates", "generation_head"} <= set(figures)
    heads = [s for s in at.slider if s.label == "Head"]
    assert heads and heads[0].max == 3  # 4 query heads (0-3), though only 2 key/value heads


def test_explorer_and_compare_show_the_prepared_decoder(prepared):
    at = open_page("explorer", model=NAME, text="the cat sat on the mat")
    assert_clean(at)
    assert charts(at)
    at = open_page("compare", model=NAME, model2=NAME, text="the cat sat on the mat")
    assert_clean(at)
    assert charts(at)
