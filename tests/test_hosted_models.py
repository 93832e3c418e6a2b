"""Hosted mode leaves the prepared models (SmolLM2, ~560 MiB) out unless asked, so a server with every
model loaded stays under 1.5 GB; the sidebar shows bare model names with their kind said below."""
from __future__ import annotations

from attnviz import hosted
from attnviz.bundles import registry
from attnviz.bundles.registry import ModelEntry


def test_large_models_are_off_unless_the_variable_says_so():
    assert not hosted.large_models_from_env({})
    assert not hosted.large_models_from_env({hosted.LARGE_MODELS_VAR: "0"})
    assert hosted.large_models_from_env({hosted.LARGE_MODELS_VAR: "yes"})


def test_registry_leaves_prepared_models_out_on_request(monkeypatch):
    fake = ModelEntry("SmolLM2-135M", "/nowhere/smollm2", "lm", "pretrained")
    monkeypatch.setattr(registry, "prepared_models", lambda: [fake])
    assert fake in registry.available_models("lm")
    assert fake not in registry.available_models("lm", prepared=False)
    assert [e for e in registry.available_models(prepared=False) if e.task == "lm"]  # the char LM stays


def picker_script() -> None:
    from attnviz import ui

    entry = ui.model_picker("lm")
    import streamlit as st
    st.write(f"chosen: {entry.name if entry else None}; offered: {[e.name for e in ui.listed_models('lm')]}")


def test_hosted_app_offers_no_prepared_model_and_names_fit(monkeypatch):
    from streamlit.testing.v1 import AppTest

    fake = ModelEntry("SmolLM2-135M", "/nowhere/smollm2", "lm", "pretrained")
    monkeypatch.setattr(registry, "prepared_models", lambda: [fake])
    monkeypatch.setenv(hosted.ENV_VAR, "1")
    at = AppTest.from_function(picker_script).run()
    assert not at.exception
    assert "SmolLM2-135M" not in at.markdown[-1].value
    monkeypatch.setenv(hosted.LARGE_MODELS_VAR, "1")
    at = AppTest.from_function(picker_script).run()
    assert "SmolLM2-135M" in at.markdown[-1].value
    box = at.sidebar.selectbox[0]
    assert all("(" not in option for option in box.options)  # bare names: no "(pretrained)" to cut off
    at = box.set_value("SmolLM2-135M").run()
    assert any("Pretrained elsewhere" in c.value for c in at.sidebar.caption)
