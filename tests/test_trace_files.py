"""Exact weights as files: one head's gzip CSV/JSON are that head's rows of the whole-trace export."""
from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pandas as pd
import pytest

from attnviz.store.trace_files import head_csv_gz, head_json_gz, trace_csv
from attnviz.trace import AttentionTrace


def _trace() -> AttentionTrace:
    weights = np.random.default_rng(3).dirichlet(np.ones(4), size=(2, 3, 4)).astype(np.float32)  # (2, 3, 4, 4)
    return AttentionTrace(weights=weights, tokens=["[CLS]", "Ġthe", "cat", "[SEP]"], model_name="toy")


def test_a_heads_csv_is_its_rows_of_the_whole_csv():
    trace = _trace()
    whole = pd.read_csv(io.StringIO(trace_csv(trace)), keep_default_na=False)
    one = pd.read_csv(io.BytesIO(head_csv_gz(trace, 1, 2)), compression="gzip", keep_default_na=False)
    expected = whole[(whole["layer"] == 1) & (whole["head"] == 2)].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, expected)
    assert len(one) == 16 and np.allclose(one.groupby("query_index")["weight"].sum(), 1.0, atol=1e-6)


def test_a_heads_json_holds_its_exact_weights_and_both_token_forms():
    trace = _trace()
    data = json.loads(gzip.decompress(head_json_gz(trace, 0, 1)))
    np.testing.assert_array_equal(np.asarray(data["weights"], dtype=np.float32), trace.weights[0, 1])
    assert (data["layer"], data["head"], data["model"]) == (0, 1, "toy")
    assert data["tokens"][1] == "Ġthe" and data["display_tokens"][1] == "␣the"


@pytest.mark.parametrize("layer, head", [(2, 0), (0, 3), (-1, 0)])
def test_a_head_outside_the_trace_is_refused(layer, head):
    with pytest.raises(ValueError, match="does not exist"):
        head_csv_gz(_trace(), layer, head)
    with pytest.raises(ValueError, match="does not exist"):
        head_json_gz(_trace(), layer, head)
