"""Both bundles satisfy the ModelBundle protocol, with the same keyword-only per-call options."""
from __future__ import annotations

import inspect

import pytest

import attnviz
from attnviz.bundles.bundle import Bundle
from attnviz.bundles.hf_bundle import HFBundle
from attnviz.bundles.protocol import FORWARD_OPTIONS, ModelBundle
from tiny_hf import tiny_classifier  # noqa: F401  (fixture)

METHODS = [name for name, value in vars(ModelBundle).items()
           if callable(value) and not name.startswith("_")]


def test_both_bundles_are_model_bundles(tiny_classifier):
    assert isinstance(attnviz.load("sentiment"), ModelBundle)
    assert isinstance(tiny_classifier, ModelBundle)
    assert not isinstance(object(), ModelBundle)


@pytest.mark.parametrize("cls", [Bundle, HFBundle])
@pytest.mark.parametrize("name", METHODS)
def test_methods_have_the_protocols_parameters(cls, name):
    wanted = inspect.signature(getattr(ModelBundle, name)).parameters
    have = inspect.signature(getattr(cls, name)).parameters
    for parameter in wanted.values():
        assert parameter.name in have, f"{cls.__name__}.{name} lacks {parameter.name}"
        assert have[parameter.name].kind == parameter.kind, f"{cls.__name__}.{name}({parameter.name})"
        if parameter.name in FORWARD_OPTIONS:
            assert have[parameter.name].default is None


def test_the_protocol_lists_the_per_call_methods():
    assert {"encode", "trace", "predict", "logits", "generate", "embedding_inputs"} <= set(METHODS)
