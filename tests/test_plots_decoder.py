"""The decoder figures carry the analysis numbers they are drawn from."""
from __future__ import annotations

import math

import numpy as np
import pytest

import attnviz
from attnviz.analysis.logit_lens import logit_lens
from attnviz.analysis.surprisal import surprisal
from attnviz.plots.decoder import _cell, logit_lens_figure, step_confidence_figure, surprisal_figure

TEXT = "ROMEO:\nBut soft"


@pytest.fixture(scope="module")
def lm():
    return attnviz.load("lm")


def test_lens_figure_colours_by_the_final_prediction(lm):
    lens = logit_lens(lm, TEXT)
    fig = logit_lens_figure(lens, 2, 9)
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z), lens.final_prob[:, 2:9])
    assert list(fig.layout.yaxis.ticktext) == lens.layers
    assert [row[0] for row in heat.text] == [_cell(t) for t in lens.top_tokens[:, 2, 0]]
    assert "rank 1" in heat.customdata[-1][0]
    assert list(fig.layout.xaxis.ticktext)[0] == "M"  # the token at position 2 of "ROMEO:"


def test_surprisal_figure_is_the_bits_with_a_blank_first_token(lm):
    result = surprisal(lm, TEXT)
    fig = surprisal_figure(result, per_line=5)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (math.ceil(len(result.tokens) / 5), 5)
    assert np.isnan(z[0, 0])
    np.testing.assert_allclose(z.ravel()[1:len(result.tokens)], result.bits[1:])
    assert fig.data[0].text[1][1] == "⏎"  # token 6 is the new line, shown visibly


def test_confidence_figure():
    fig = step_confidence_figure([0.5, 0.25], [1.0, 2.0], ["a", " b"], step=1)
    assert list(fig.data[0].y) == [0.5, 0.25] and list(fig.data[1].y) == [1.0, 2.0]
    assert list(fig.data[0].customdata) == ["a", "␣b"]
