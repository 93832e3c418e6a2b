"""A long text's heads as pictures (attnviz/plots/head_pictures.py): each pixel's colour names its
weight to within half a colour step, checked by decoding the PNGs independently; and the browser side
(head_flipper.js) never reads a token as HTML."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnviz.plots.grid import LEVELS, palette_hex
from attnviz.plots.head_pictures import layer_pictures, weight_of_level
from attnviz.trace import AttentionTrace


def _trace(n_tokens: int = 40, seed: int = 0) -> AttentionTrace:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, 3, n_tokens, n_tokens)) * 3
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # rows sum to 1
    tokens = [f"t{i}" for i in range(n_tokens)]
    return AttentionTrace(tokens=tokens, weights=weights.astype(np.float32), model_name="random")


def _decode(png: bytes) -> np.ndarray:
    """A palette PNG -> [rows, cols, 3] RGB, by Pillow (not by the code under test)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_each_pixel_names_its_weight_within_half_a_step():
    trace = _trace()
    pictures = layer_pictures(trace, 1)
    colour_level = {tuple(int(hex_[i:i + 2], 16) for i in (1, 3, 5)): level
                    for level, hex_ in enumerate(palette_hex())}
    assert len(pictures.pngs) == trace.n_heads == len(pictures.tops)
    for head, png in enumerate(pictures.pngs):
        weights = trace.weights[1, head]
        assert pictures.tops[head] == pytest.approx(float(weights.max()))
        rgb = _decode(png)
        assert rgb.shape == (40, 40, 3)
        levels = np.vectorize(lambda r, g, b: colour_level[(r, g, b)])(rgb[..., 0], rgb[..., 1], rgb[..., 2])
        read = weight_of_level(levels, pictures.tops[head])  # what the browser's readout shows
        half_step = pictures.tops[head] / (LEVELS - 1) / 2
        assert np.abs(read - weights).max() <= half_step + 1e-7
        assert levels.max() == LEVELS - 1  # the head's largest weight is the darkest colour


def test_a_layer_outside_the_model_is_refused():
    with pytest.raises(ValueError, match="layer 5"):
        layer_pictures(_trace(), 5)


def test_the_browser_side_sets_tokens_as_text_only():
    source = (Path(__file__).resolve().parents[1] / "attnviz" / "ui" / "head_flipper.js").read_text()
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert unsafe not in source, unsafe
    assert "textContent" in source


def test_packed_lines_are_the_line_views_own_lines():
    """The browser's line view reads the same lines as the plotly one draws (strongest_lines)."""
    from attnviz.plots.layer_views import pack_lines, unpack_lines
    from attnviz.plots.lines import strongest_lines

    trace = _trace(60, seed=3)
    for rows in (None, [7]):
        heads = unpack_lines(pack_lines(trace, 1, rows, min_weight=0.05, max_lines=50))
        assert len(heads) == trace.n_heads
        for head, (queries, keys, weights) in enumerate(heads):
            want_q, want_k, want_w, _ = strongest_lines(trace.weights[1, head], rows or list(range(60)), 0.05, 50)
            assert np.array_equal(queries, want_q) and np.array_equal(keys, want_k)
            assert np.allclose(weights, want_w)
            assert np.allclose(weights, trace.weights[1, head][queries, keys])
            assert len(weights) <= 50 and (weights >= 0.05).all()


def test_packed_query_keys_hold_every_head_in_half_precision():
    from attnviz.bundles.query_key import QueryKey
    from attnviz.plots.layer_views import pack_query_keys

    rng = np.random.default_rng(1)
    vectors = [QueryKey([f"t{i}" for i in range(9)], rng.normal(size=(9, 4)), rng.normal(size=(9, 4)), True, 2, h)
               for h in range(3)]
    data = pack_query_keys(vectors)
    assert list(np.frombuffer(data, "<u4", 4)) == [3, 9, 4, 1]  # heads, tokens, d_head, causal
    halves = np.frombuffer(data, "<f2", offset=16).astype(np.float32).reshape(2, 3, 9, 4)
    for h, v in enumerate(vectors):
        assert np.allclose(halves[0, h], v.q, atol=2e-3) and np.allclose(halves[1, h], v.k, atol=2e-3)
