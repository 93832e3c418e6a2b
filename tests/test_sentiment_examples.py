"""Honest examples (issue 19): the Sentiment page's own examples are ones the shipped model gets
right; its "where this model fails" set holds only sentences it gets wrong, each labelled."""
from __future__ import annotations

import pytest

import attnviz
from attnviz.ui.examples import SENTIMENT_EXAMPLES, SENTIMENT_FAILURES
from test_app import assert_clean, open_page


@pytest.fixture(scope="module")
def predictions() -> dict[str, str]:
    texts = [e.text for e in SENTIMENT_EXAMPLES + SENTIMENT_FAILURES]
    return {t: r["label"] for t, r in zip(texts, attnviz.load("sentiment").predict(texts))}


def test_the_examples_are_predicted_right(predictions):
    wrong = [(e.text, predictions[e.text]) for e in SENTIMENT_EXAMPLES if predictions[e.text] != e.label]
    assert wrong == []


def test_the_failure_set_holds_only_real_failures_each_with_its_kind(predictions):
    right = [e.text for e in SENTIMENT_FAILURES if predictions[e.text] == e.label]
    assert right == []
    assert all(e.kind for e in SENTIMENT_FAILURES)
    assert {"sarcasm"} <= {e.kind for e in SENTIMENT_FAILURES}
    assert any("negation" in e.kind for e in SENTIMENT_FAILURES)


def test_the_page_says_when_a_labelled_example_is_wrong():
    at = open_page("sentiment")
    failure = next(b for b in at.button if b.key == "sentiment_text_failure_2")
    failure.click().run()
    assert_clean(at)
    captions = [c.value for c in at.caption]
    assert any("a person reads it as negative; the model is wrong (sarcasm)" in c for c in captions), captions


def test_the_model_card_lists_the_failure_kinds_found_on_dev():
    from pathlib import Path
    card = (Path(__file__).resolve().parents[1] / "checkpoints" / "sentiment" / "README.md").read_text()
    section = card.split("## Where it fails", 1)[1]
    assert "SST-2 dev, 872 sentences" in section
    for kind in ("negation word", "contrast", "sarcasm"):
        assert kind in section, kind
