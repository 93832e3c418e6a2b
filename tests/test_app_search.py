"""AppTest of the Corpus search page: content-word default token, the sentence cap, hosted typed-corpus caps."""
from __future__ import annotations

import pytest

from tests.test_app import assert_clean, open_page
from tests.test_app_heads import dataframe


@pytest.fixture(autouse=True)
def _cache_and_data(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("ATTNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTNVIZ_DATA", str(shared_data))


def test_default_token_is_a_content_word_and_the_dev_set_is_capped():
    at = open_page("search", model="sentiment", text="The film is a charming, funny surprise.")
    assert_clean(at)
    token = at.selectbox(key="search_token_11")
    assert token.value == 2  # "film", not [CLS] (0) nor "the" (1)
    assert at.number_input(key="search_cap_SST-2 dev").value == 872  # SST-2 dev has 872 sentences (< 2,000)
    assert dataframe(at, "context")["token"].iloc[0] != "[CLS]"


@pytest.mark.parametrize("page", ["search", "heads"])
def test_opened_without_a_model_the_page_takes_a_word_level_one(page):
    """Issue 19: Corpus search opened on the char LM (listed first), whose hits all scored alike."""
    at = open_page(page)
    assert_clean(at)
    assert at.selectbox(key=f"{page}_model").value == "sentiment"
    assert at.query_params["model"] == "sentiment"


def test_a_bigger_corpus_gets_its_own_default_cap_not_the_smaller_ones():
    at = open_page("search", model="lm", text="To be or not to be")
    assert at.number_input(key="search_cap_SST-2 dev").value == 872
    at.radio(key="search_corpus").set_value("WikiANN dev").run(timeout=120)
    assert not at.exception
    assert at.number_input(key="search_cap_WikiANN dev").value == 2000  # not SST-2's 872


def test_hosted_typed_corpus_is_capped_in_characters(monkeypatch):
    monkeypatch.setenv("ATTNVIZ_HOSTED", "1")
    at = open_page("search", model="sentiment", text="a dull story")
    at.radio(key="search_corpus").set_value("sentences I type").run()
    at.text_area(key="search_typed").set_value("\n".join(["word " * 300] * 50)).run()
    assert not at.exception
    assert any("the limit is 20,000" in w.value for w in at.warning)
