"""Attention sinks (Xiao et al. 2023): the sink score on a hand-made attention tensor, and hiding sinks."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz.analysis.head_stats import head_statistics_from_weights
from attnviz.text.display import hide_sinks
from attnviz.trace import AttentionTrace

ROWS = np.array([[1.0, 0.0, 0.0, 0.0],
                 [0.5, 0.5, 0.0, 0.0],
                 [0.2, 0.3, 0.5, 0.0],
                 [0.1, 0.2, 0.3, 0.4]])
TOKENS = ["The", "Ġcat", "<|endoftext|>", "Ġsat"]


def test_sink_score_by_hand():
    weights = np.stack([ROWS, np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]])[None]  # (1, 2, 4, 4)
    frame = head_statistics_from_weights([weights], [[False, False, True, False]], causal=True)
    # head 0: rows 1..3 put 0.5, 0.2 + 0.5 and 0.1 + 0.3 on the first token and the special token
    assert frame.loc[0, "sink"] == pytest.approx((0.5 + 0.7 + 0.4) / 3)
    assert frame.loc[0, "role"] == "sink"
    # head 1 (uniform causal rows): 1/2, 2/3 (first + special), 1/2
    assert frame.loc[1, "sink"] == pytest.approx((1 / 2 + 2 / 3 + 2 / 4) / 3)
    no_special = head_statistics_from_weights([weights], [[False] * 4], causal=True)
    assert no_special.loc[0, "sink"] == pytest.approx((0.5 + 0.2 + 0.1) / 3)
    assert no_special.loc[0, "role"] != "sink"


def test_hide_sinks_divides_each_row_by_the_mass_left():
    trace = AttentionTrace(ROWS[None, None].astype(np.float32), TOKENS, causal=True)
    shown = hide_sinks(trace)
    assert shown.tokens == ["Ġcat", "Ġsat"] and shown.query_tokens == ["Ġcat", "Ġsat"]
    np.testing.assert_allclose(shown.weights[0, 0], [[1.0, 0.0], [0.2 / 0.6, 0.4 / 0.6]], atol=1e-6)
    assert "Sinks hidden" in shown.notes[-1] and "special" in shown.notes[-1]
