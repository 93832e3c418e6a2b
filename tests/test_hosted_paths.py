"""H5: hosted mode shows no server paths or error details; every page body sits in one error boundary."""
from __future__ import annotations

import streamlit as st

from tests.test_app import TIMEOUT, AppTest, open_page


def failing_page() -> None:
    import streamlit as st

    from attnviz import ui

    with ui.error_boundary():
        st.write("before")
        {}["no such key"]  # noqa: B018  (an unexpected bug in a page body)
    st.write("after")


def test_an_unexpected_error_in_a_page_body_is_one_short_message():
    at = AppTest.from_function(failing_page, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert len(at.error) == 1 and "KeyError" in at.error[0].value and "Traceback" not in at.error[0].value
    assert "/" not in at.error[0].value  # no file paths
    assert [m.value for m in at.markdown] == ["before", "after"]


def test_hosted_train_page_shows_no_absolute_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTNVIZ_HOSTED", "1")
    monkeypatch.setenv("ATTNVIZ_USER_MODELS", str(tmp_path / "user_models"))
    at = open_page("train")
    assert not at.exception
    shown = " ".join(str(e.value) for kind in ("caption", "markdown", "info", "warning", "success")
                     for e in at.get(kind))
    assert str(tmp_path) not in shown and "/work" not in shown and "user models" in shown, shown
    assert st.get_option("client.showErrorDetails") in ("none", False)
