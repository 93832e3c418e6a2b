"""The figure builders: right data in the right place, token text escaped, JSON-serialisable."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from attnviz.plots import (
    _plain,
    _token_label,
    attention_to_token_bar,
    candidates_figure,
    diff_heatmap,
    head_heatmap,
    mean_heatmap,
    model_view,
    offset_similarity,
    positional_curves,
    positional_heatmap,
    positional_similarity,
    probability_bar,
    training_chart,
    wavelength_figure,
)
from attnviz.plots.attention import _mosaic
from attnviz.nn.positional import sinusoidal_encoding, wavelengths
from attnviz.trace import AttentionTrace

TOKENS = ["the", "<script>", "cat", "saw", "the", "dog&co"]


def make_trace(tokens: list[str] = TOKENS, layers: int = 2, heads: int = 3, seed: int = 0,
               name: str = "tiny") -> AttentionTrace:
    """Softmax of random scores: a valid [layers, heads, T, T] trace."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(layers, heads, len(tokens), len(tokens)))
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return AttentionTrace(weights.astype(np.float32), tokens, model_name=name)


@pytest.fixture
def trace() -> AttentionTrace:
    return make_trace()


def serialises(fig: go.Figure) -> dict:
    assert isinstance(fig, go.Figure)
    payload = json.loads(fig.to_json())
    assert payload["layout"]["height"] > 0
    return payload


def test_plain_escapes_markup():
    assert _plain("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert _plain("a & b<br>") == "a &amp; b&lt;br&gt;"
    assert _plain("plain") == "plain"


def test_token_label_shows_whitespace():
    assert _token_label(" ") == "␣"
    assert _token_label("\n") == "⏎"
    assert _token_label(" the") == "␣the"
    assert _token_label("") == "∅"
    assert _token_label("<b>") == "&lt;b&gt;"


def test_head_heatmap_data_and_labels(trace):
    fig = head_heatmap(trace, 1, 2)
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z), trace.head(1, 2))
    assert (heat.zmin, heat.zmax) == (0.0, 1.0)
    assert fig.layout.title.text == "Layer 1, head 2"
    ticktext = list(fig.layout.xaxis.ticktext)
    assert ticktext == ["the", "&lt;script&gt;", "cat", "saw", "the", "dog&amp;co"]
    assert ticktext.count("the") == 2  # the repeated token keeps its own tick
    assert list(fig.layout.xaxis.tickvals) == list(range(len(TOKENS)))
    assert list(fig.layout.yaxis.ticktext) == ticktext
    assert fig.layout.yaxis.autorange == "reversed"
    assert heat.text[1][4] == "#1 &lt;script&gt; → #4 the"
    assert "<script>" not in fig.to_json()
    serialises(fig)


def test_head_heatmap_rejects_bad_head(trace):
    with pytest.raises(IndexError, match="head 3"):
        head_heatmap(trace, 0, 3)


def test_mean_heatmap_is_the_head_mean(trace):
    fig = mean_heatmap(trace, 0)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), trace.weights[0].mean(axis=0), rtol=1e-6)
    serialises(fig)


def test_model_view_mosaic_places_every_head(trace):
    fig = model_view(trace)
    assert len(fig.data) == 1
    heat = fig.data[0]
    z = np.asarray(heat.z, dtype=np.float64)
    n = len(TOKENS)
    gap = 1
    assert z.shape == (2 * (n + gap) - gap, 3 * (n + gap) - gap)
    for layer in range(2):
        for head in range(3):
            r, c = layer * (n + gap), head * (n + gap)
            np.testing.assert_allclose(z[r:r + n, c:c + n], trace.head(layer, head), rtol=1e-6)
    assert np.isnan(z[n, :]).all() and np.isnan(z[:, n]).all()  # gaps between blocks
    assert np.isfinite(z).sum() == trace.weights.size
    assert list(fig.layout.xaxis.ticktext) == ["H0", "H1", "H2"]
    assert list(fig.layout.yaxis.ticktext) == ["L0", "L1"]
    assert len(set(heat.x)) == len(heat.x) and len(set(heat.y)) == len(heat.y)  # no merged categories
    assert heat.x[n + gap + 1] == "H1 · #1 &lt;script&gt;"
    assert heat.y[n + gap + 4] == "L1 · #4 the"
    assert "<script>" not in fig.to_json()
    serialises(fig)


def test_mosaic_with_wider_gap_and_rectangular_blocks():
    weights = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    z = _mosaic(weights, gap=2)
    assert z.shape == (2 * 4 - 2, 2 * 5 - 2)
    np.testing.assert_array_equal(z[4:6, 5:8], weights[1, 1])


def test_diff_of_trace_with_itself_is_zero(trace):
    fig = diff_heatmap(trace, trace, 1, 0)
    heat = fig.data[0]
    np.testing.assert_array_equal(np.asarray(heat.z), np.zeros((len(TOKENS), len(TOKENS))))
    assert heat.zmid == 0
    serialises(fig)


def test_diff_subtracts_b_from_a(trace):
    other = make_trace(seed=1, name="other")
    fig = diff_heatmap(trace, other, 0, 1, limit=0.5)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), trace.head(0, 1) - other.head(0, 1), atol=1e-6)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-0.5, 0.5)


def test_diff_rejects_different_lengths(trace):
    shorter = make_trace(tokens=TOKENS[:4])
    with pytest.raises(ValueError, match="different lengths"):
        diff_heatmap(trace, shorter, 0, 0)


def test_attention_to_token_bar(trace):
    fig = attention_to_token_bar(trace, query_index=1, layer=1)
    bar, dots = fig.data
    np.testing.assert_allclose(np.asarray(bar.y), trace.weights[1, :, 1, :].mean(axis=0), rtol=1e-6)
    assert len(dots.y) == trace.n_heads * len(TOKENS)
    assert list(fig.layout.xaxis.ticktext)[1] == "&lt;script&gt;"
    assert "&lt;script&gt;" in fig.layout.title.text
    with pytest.raises(IndexError):
        attention_to_token_bar(trace, query_index=len(TOKENS), layer=0)
    serialises(fig)


@pytest.mark.parametrize("d_model", [7, 16])
def test_positional_figures(d_model):
    pe = sinusoidal_encoding(12, d_model)
    fig = positional_heatmap(pe)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), pe.numpy(), atol=1e-6)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-1.0, 1.0)
    serialises(fig)

    fig = positional_curves(pe.numpy(), [0, d_model - 1])
    assert [t.name for t in fig.data] == ["dim 0", f"dim {d_model - 1}"]
    np.testing.assert_allclose(np.asarray(fig.data[1].y), pe.numpy()[:, d_model - 1], atol=1e-6)
    serialises(fig)

    fig = positional_similarity(pe)
    gram = pe.numpy().astype(np.float64) @ pe.numpy().T.astype(np.float64)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), gram, atol=1e-5)
    serialises(fig)

    fig = wavelength_figure(d_model)
    np.testing.assert_allclose(np.asarray(fig.data[0].y), wavelengths(d_model).numpy(), rtol=1e-6)
    assert fig.layout.yaxis.type == "log"
    serialises(fig)


def test_offset_similarity_depends_on_offset_only():
    pe = sinusoidal_encoding(30, 16).numpy()
    fig = offset_similarity(pe)
    curves = {int(t.x[0]): dict(zip(np.asarray(t.x).tolist(), np.asarray(t.y))) for t in fig.data}
    assert sorted(curves) == [-20, -10, 0]  # references 0, 10, 20
    for k in range(-10, 10):
        np.testing.assert_allclose(curves[-10][k], curves[-20][k], atol=1e-4)
    serialises(offset_similarity(sinusoidal_encoding(9, 5)))


def test_positional_rejects_bad_input():
    pe = sinusoidal_encoding(5, 4)
    with pytest.raises(ValueError, match="out of range"):
        positional_curves(pe, [4])
    with pytest.raises(ValueError, match="positions"):
        positional_heatmap(np.zeros(3))


def test_probability_bar_keeps_duplicates_and_escapes():
    fig = probability_bar(["pos", "<i>neg</i>", "pos"], [0.5, 0.3, 0.2])
    bar = fig.data[0]
    assert list(bar.x) == [0.5, 0.3, 0.2]
    assert list(fig.layout.yaxis.ticktext) == ["pos", "&lt;i&gt;neg&lt;/i&gt;", "pos"]
    assert fig.layout.xaxis.range[0] == 0 and max(fig.layout.xaxis.tickvals) == 1.0  # the scale is 0..1
    with pytest.raises(ValueError):
        probability_bar(["a"], [0.5, 0.5])
    serialises(fig)


def test_candidates_figure():
    steps = [
        {"chosen": " the", "candidates": [(" the", 0.6), (" a", 0.3), ("\n", 0.1)]},
        {"chosen": "<b>", "candidates": [("cat", 0.5), ("<b>", 0.4)]},
    ]
    fig = candidates_figure(steps)
    heat = fig.data[0]
    z = np.asarray(heat.z, dtype=np.float64)
    assert z.shape == (3, 2)
    np.testing.assert_allclose(z[:, 0], [0.6, 0.3, 0.1])
    assert np.isnan(z[2, 1])
    assert heat.text[2][0] == "⏎"
    assert heat.text[0][0] == "␣the"  # the space is visible
    assert heat.text[1][1] == "&lt;b&gt;"
    outlined = {(shape.x0 + 0.5, shape.y0 + 0.5) for shape in fig.layout.shapes}
    assert outlined == {(0, 0), (1, 1)}  # the chosen cells
    assert list(fig.layout.xaxis.ticktext) == ["0: ␣the", "1: &lt;b&gt;"]
    serialises(fig)
    serialises(candidates_figure([]))


def test_training_chart():
    history = [
        {"step": 0, "loss": 2.0, "lr": 1e-3},
        {"step": 10, "loss": 1.5, "lr": 1e-3, "dev_metric": 0.6},
        {"step": 20, "loss": 1.0, "lr": 5e-4, "dev_metric": None},
        {"step": 30, "loss": 0.8, "lr": 5e-4, "dev_metric": 0.75},
    ]
    fig = training_chart(history)
    loss, dev = fig.data
    assert list(loss.y) == [2.0, 1.5, 1.0, 0.8]
    assert list(dev.x) == [10, 30] and list(dev.y) == [0.6, 0.75]
    assert dev.yaxis == "y2" and fig.layout.yaxis2.overlaying == "y"
    serialises(fig)
    assert len(training_chart(history[:1]).data) == 1
    serialises(training_chart([]))


def test_diff_scale_is_symmetric_with_a_floor(trace):
    shifted = make_trace(seed=1, name='other').weights
    tiny = dataclasses.replace(trace, weights=0.999 * trace.weights + 0.001 * shifted)
    fig = diff_heatmap(trace, tiny, 0, 1)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-0.1, 0.1)  # a difference of 0.001 or less stays pale
    other = make_trace(seed=1, name="other")
    big = float(np.abs(trace.head(0, 1) - other.head(0, 1)).max())
    fig = diff_heatmap(trace, other, 0, 1)
    assert fig.data[0].zmax == pytest.approx(max(0.1, big)) and fig.data[0].zmin == -fig.data[0].zmax


def test_axes_show_byte_level_tokens_readably():
    from attnviz.plots.attention import _token_label

    assert _token_label("Ġthe") == "␣the" and _token_label("Ċ") == "⏎" and _token_label("<b>") == "&lt;b&gt;"
