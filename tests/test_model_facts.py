"""Home's model facts come from the files alone and agree with the loaded models."""
from __future__ import annotations

import attnviz
from attnviz.bundles import registry
from attnviz.bundles.model_facts import model_facts


def test_facts_from_files_match_the_loaded_models():
    entries = registry.available_models()
    assert entries, "no model found"
    for entry in entries:
        facts = model_facts(entry)
        described = attnviz.load(entry.source).describe()
        assert (facts["layers"], facts["heads"]) == (described["layers"], described["heads"]), entry.name
        assert facts["parameters"] == described["parameters"], entry.name
        assert facts["metrics"] == described["metrics"], entry.name
