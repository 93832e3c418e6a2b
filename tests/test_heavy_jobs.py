"""Hosted mode: one heavy job (corpus index, head statistics) per visitor at a time."""
from __future__ import annotations

import pytest

from attnviz.errors import InputError
from attnviz.ui.heavy import heavy_job


def test_a_second_heavy_job_of_the_same_visitor_is_refused_until_the_first_ends():
    with heavy_job("building a corpus index", visitor="ip:1.2.3.4", hosted=True):
        with pytest.raises(InputError, match="already building a corpus index"):
            with heavy_job("computing head statistics", visitor="ip:1.2.3.4", hosted=True):
                pass
        with heavy_job("computing head statistics", visitor="ip:5.6.7.8", hosted=True):  # someone else
            pass
    with heavy_job("computing head statistics", visitor="ip:1.2.3.4", hosted=True):  # the slot was freed
        pass


def test_the_slot_is_freed_when_the_job_fails():
    with pytest.raises(ValueError):
        with heavy_job("building a corpus index", visitor="v", hosted=True):
            raise ValueError("boom")
    with heavy_job("building a corpus index", visitor="v", hosted=True):
        pass


def test_locally_there_is_no_limit():
    with heavy_job("a", visitor="v", hosted=False):
        with heavy_job("b", visitor="v", hosted=False):
            pass


def heads_while_busy_script() -> None:
    import streamlit as st

    from attnviz.bundles.registry import ModelEntry
    from attnviz.errors import InputError
    from attnviz.ui import analysis_views as av
    from attnviz.ui.heavy import heavy_job

    entry = ModelEntry("lm", "lm", "lm", "shipped")
    with heavy_job("building a corpus index"):
        try:
            av.head_table(entry, ["To be or not to be.", "All the world's a stage."])
            st.write("computed")
        except InputError as error:
            st.write(f"refused: {error}")


def test_head_statistics_take_the_visitors_slot_when_hosted(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ATTNVIZ_HOSTED", "1")
    at = AppTest.from_function(heads_while_busy_script).run(timeout=60)
    assert not at.exception
    assert at.markdown[0].value.startswith("refused: You are already building a corpus index")
    monkeypatch.delenv("ATTNVIZ_HOSTED")
    at = AppTest.from_function(heads_while_busy_script).run(timeout=60)
    assert at.markdown[0].value == "computed"
