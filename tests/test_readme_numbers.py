"""The README's example numbers come from the shipped models (issue 11: it showed 0.97 where the model
gives 0.851). If a checkpoint is retrained, this says which README line to update."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import attnviz

README = Path(__file__).resolve().parents[1] / "README.md"
PREDICT = re.compile(r"""sentiment\.predict\(\[(?P<text>"[^"]*")\]\)\n# \[\{'label': '(?P<label>\w+)', """
                     r"""'probabilities': (?P<probs>\{[^}]*\})""")


def test_the_predict_example_shows_what_the_model_gives():
    found = PREDICT.search(README.read_text())
    assert found, "the README lost its sentiment.predict example"
    text, label, shown = ast.literal_eval(found["text"]), found["label"], ast.literal_eval(found["probs"])
    result = attnviz.load("checkpoints/sentiment").predict([text])[0]
    assert result["label"] == label
    for name, value in shown.items():
        digits = len(str(value).split(".")[1])
        assert round(result["probabilities"][name], digits) == pytest.approx(value), (name, result["probabilities"])
