"""The scalable figures: the pooled grid picture, head picking, thinned labels, the line view and
the numbering of candidate windows."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from attnviz import plots
from attnviz.plots.grid import LEVELS, grid_figure, grid_picture, picked_head, pool_blocks
from attnviz.plots.lines import line_view
from attnviz.trace import AttentionTrace


def random_trace(n_layers: int = 2, n_heads: int = 3, n: int = 10, seed: int = 0) -> AttentionTrace:
    rng = np.random.default_rng(seed)
    weights = rng.random((n_layers, n_heads, n, n)).astype(np.float32)
    weights /= weights.sum(axis=-1, keepdims=True)
    return AttentionTrace(weights, [f"t{i}" for i in range(n)], model_name="m")


def test_pooling_is_the_mean_of_each_patch_edges_included():
    trace = random_trace(n=11)
    pooled = pool_blocks(trace.weights, 4)
    assert pooled.shape == (2, 3, 3, 3)
    w = trace.weights[1, 2]
    assert pooled[1, 2, 0, 0] == pytest.approx(w[:4, :4].mean(), rel=1e-5)
    assert pooled[1, 2, 2, 1] == pytest.approx(w[8:, 4:8].mean(), rel=1e-5)  # a 3-row edge patch
    assert pooled[1, 2, 2, 2] == pytest.approx(w[8:, 8:].mean(), rel=1e-5)


def test_grid_picture_places_each_head_and_outlines_the_chosen_one():
    trace = random_trace(n=10)
    picture = grid_picture(trace)
    png = Image.open(io.BytesIO(base64.b64decode(picture.source.split(",", 1)[1])))
    assert png.size == (picture.width, picture.height)
    pixels = np.asarray(png.convert("RGB")).astype(int)
    # darker pixel = more weight: inside head (1, 2) the order of brightness follows the weights
    x0, y0 = 2 * (picture.block_w + picture.gap), 1 * (picture.block_h + picture.gap)
    block = pixels[y0:y0 + 10, x0:x0 + 10].sum(axis=-1)
    w = trace.weights[1, 2]
    assert block[np.unravel_index(w.argmax(), w.shape)] == block.min()
    assert block[np.unravel_index(w.argmin(), w.shape)] == block.max()
    fig = grid_figure(picture, "t", selected=(1, 2))
    shape = fig.layout.shapes[0]
    cx, cy = picture.centre(1, 2)
    assert shape.x0 < cx < shape.x1 and shape.y0 < cy < shape.y1
    assert list(fig.layout.xaxis.ticktext) == ["H0", "H1", "H2"]
    assert [list(c) for c in fig.data[1].customdata][5] == [1, 2]


def test_long_texts_are_pooled_to_a_small_picture():
    trace = random_trace(n_layers=1, n_heads=2, n=500)
    picture = grid_picture(trace)
    assert picture.pool == 8 and picture.block_w == 63
    assert len(picture.source) < 200_000


def test_a_pooled_grid_colours_each_head_to_its_own_maximum():
    """Regression (issue 19): pooled 512-token grids were nearly white on the 0..1 scale."""
    from PIL import Image
    trace = random_trace(n_layers=1, n_heads=2, n=500)
    trace.weights[0, 1] *= 0.5  # head 1 weaker everywhere (rows no longer sum to 1: fine for a picture)
    picture = grid_picture(trace)
    assert picture.per_head
    levels = np.asarray(Image.open(io.BytesIO(base64.b64decode(picture.source.split(",", 1)[1]))))
    for head in range(2):
        x0 = head * (picture.block_w + picture.gap)
        assert levels[:picture.block_h, x0:x0 + picture.block_w].max() == LEVELS - 1  # darkest colour reached
    assert not grid_picture(random_trace(n_layers=1, n_heads=2, n=20)).per_head  # unpooled: the 0..1 scale


def test_picked_head_reads_the_selection_event():
    event = {"selection": {"points": [{"customdata": [1, 2]}], "point_indices": [5]}}
    assert picked_head(event, 2, 3) == (1, 2)
    assert picked_head(event, 1, 3) is None  # out of range
    assert picked_head({"selection": {"points": []}}, 2, 3) is None
    assert picked_head(None, 2, 3) is None


def test_long_heatmaps_thin_their_labels_but_name_every_token_on_hover():
    """Between 64 and 128 tokens: numbers, thinned tick labels, every token named in the hover."""
    trace = random_trace(n_layers=1, n_heads=1, n=100)
    fig = plots.head_heatmap(trace, 0, 0)
    assert fig.data[0].type == "heatmap"
    assert len(fig.layout.xaxis.ticktext) == 25 and fig.layout.xaxis.ticktext[1] == "t4"
    assert len(fig.layout.yaxis.ticktext) == 25
    assert len(fig.data[0].x) == 100 and fig.data[0].x[7] == "#7 t7"
    assert fig.data[0].text is None
    assert fig.layout.height > plots.head_heatmap(random_trace(n=10), 0, 0).layout.height


def test_a_long_text_head_is_a_light_picture_with_a_hover_layer_and_short_labels():
    """Regression (issue 19): 512 x 512 weights went out as ~1.5 MB of numbers in a 280 x 440 px plot.
    Now every weight is a pixel of a PNG, and a hover layer names the tokens of each small patch."""
    from PIL import Image
    tokens = ["[CLS]", "antidisestablishment"] + [f"w{i}" for i in range(509)] + ["[SEP]"]
    weights = np.random.default_rng(0).dirichlet(np.full(512, 0.05), size=(1, 1, 512)).astype(np.float32)
    fig = plots.head_heatmap(AttentionTrace(tokens=tokens, weights=weights), 0, 0)
    image, hover = fig.data[0], fig.data[1]
    assert image.type == "image" and hover.type == "heatmap"
    picture = Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1])))
    assert picture.size == (512, 512)
    pixel = np.asarray(picture.convert("RGB"))
    darkest = np.unravel_index(weights[0, 0].argmax(), (512, 512))
    assert pixel[darkest].sum() < pixel[weights[0, 0] == weights[0, 0].min()][0].sum()  # more weight, darker
    assert len(fig.to_json()) < 600_000
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert len(axis.tickvals) == len(axis.ticktext) <= 25
        assert max(len(t) for t in axis.ticktext) <= 12
    assert np.asarray(hover.z).shape == (64, 64)
    assert hover.x[0] == "#0-7 [CLS] … w5" and "antidisestablishment" not in hover.x[0]
    np.testing.assert_allclose(np.asarray(hover.z)[0, 0], weights[0, 0, :8, :8].mean(), atol=1e-4)
    assert fig.layout.height >= 800  # shown at full width


def test_line_view_draws_exactly_the_strong_weights_of_the_chosen_heads():
    trace = random_trace(n=6)
    fig, note = line_view(trace, 1, [0, 2], min_weight=0.2)
    assert note is None
    for head in (0, 2):
        drawn = set()
        for t in fig.data:
            if t.mode == "lines" and t.legendgroup == f"h{head}" and t.x[0] is not None:
                drawn |= {(t.y[i], t.y[i + 1]) for i in range(0, len(t.y), 3)}
        expected = {(q, k) for q, k in zip(*np.nonzero(trace.weights[1, head] >= 0.2))}
        assert drawn == expected


def test_candidate_windows_keep_the_run_numbers():
    steps = [{"chosen": "a", "candidates": [("a", 0.6), ("b", 0.4)]}] * 3
    fig = plots.candidates_figure(steps, first_step=25)
    assert list(fig.layout.xaxis.ticktext) == ["25: a", "26: a", "27: a"]
    assert list(fig.data[0].x) == [25, 26, 27]


def test_training_chart_clamps_a_unit_metric_and_marks_few_steps():
    history = [{"step": s, "loss": 1.0 / s, "lr": 1e-3, "dev_metric": 0.5 + s / 10} for s in (1, 2, 3)]
    fig = plots.training_chart(history, "accuracy")
    assert list(fig.layout.yaxis2.range) == [0, 1] and fig.layout.yaxis2.tickformat == ".2f"
    assert "markers" in fig.data[0].mode
    loss_only = plots.training_chart([{"step": 1, "loss": 3.0, "dev_metric": 12.5}], "perplexity")
    assert loss_only.layout.yaxis2.range is None  # not a unit metric: its own range


def test_positional_charts_with_one_position_show_points():
    from attnviz.nn.positional import sinusoidal_encoding
    pe = sinusoidal_encoding(1, 16).numpy()
    assert "markers" in plots.positional_curves(pe, [0, 1]).data[0].mode
    assert "markers" in plots.offset_similarity(pe).data[0].mode


def test_a_big_model_view_becomes_the_pooled_picture():
    small = plots.model_view(random_trace(n=10))
    assert small.data[0].type == "heatmap"
    big = plots.model_view(random_trace(n_layers=2, n_heads=4, n=300))
    assert big.data[0].type == "image" and len(big.to_json()) < 500_000
    assert list(big.layout.xaxis.ticktext) == ["H0", "H1", "H2", "H3"]


def test_query_key_panels_carry_their_own_titles():
    """Each drawn cell is titled, the title centred over its own x axis (they were off by one row)."""
    from attnviz.bundles.query_key import QueryKey
    from attnviz.plots import qk as plots_qk
    rng = np.random.default_rng(0)
    vectors = QueryKey(q=rng.normal(size=(4, 8)).astype(np.float32), k=rng.normal(size=(4, 8)).astype(np.float32),
                       tokens=["a", "b", "c", "d"], layer=0, head=1, causal=False)
    fig = plots_qk.query_key_figure(vectors, 2)
    titles = {a.text: a.x for a in fig.layout.annotations}
    assert list(titles) == list(plots_qk.PANEL_TITLES)
    for title, axis in zip(plots_qk.PANEL_TITLES[1:], ("xaxis2", "xaxis3", "xaxis4", "xaxis5")):
        low, high = fig.layout[axis].domain
        assert titles[title] == pytest.approx((low + high) / 2), title


def test_probability_labels_fit_right_of_a_full_bar():
    """Regression (issue 19): "1.00(" and "0.998" were cut at the plot's right edge."""
    fig = plots.probability_bar(["positive", "negative"], [0.998, 0.002])
    assert fig.data[0].textposition == "outside" and fig.data[0].text[0] == "0.998"
    assert fig.layout.xaxis.range[1] >= 0.998 + 0.15  # ~5 characters at the bars' scale
    assert max(fig.layout.xaxis.tickvals) == 1.0


def test_a_long_line_view_starts_at_its_first_token_with_no_blank_band():
    """Regression (issue 19): at 512 tokens the line view left ~500 px blank above its lines."""
    trace = random_trace(n_layers=1, n_heads=1, n=512)
    fig, _ = line_view(trace, 0, [0])
    assert list(fig.layout.yaxis.range) == [511.5, -0.5] and fig.layout.yaxis.autorange is False
    assert fig.layout.height == 9000


def test_titles_start_below_the_toolbar_strip():
    import plotly.graph_objects as go

    from attnviz.plots.toolbar_room import TOOLBAR_PX, leave_room_for_toolbar

    fig = leave_room_for_toolbar(go.Figure(layout=dict(title="Layer 3, head 7<br>second line", height=400,
                                                         margin=dict(t=40))))
    assert fig.layout.title.pad.t == TOOLBAR_PX and fig.layout.title.yanchor == "top"
    assert fig.layout.margin.t >= TOOLBAR_PX + 2 * 22  # two lines of title under the strip
    assert fig.layout.height == 400 + fig.layout.margin.t - 40  # the plot area keeps its height
    bare = leave_room_for_toolbar(go.Figure(layout=dict(height=300, margin=dict(t=10))))
    assert bare.layout.margin.t == 10 and bare.layout.height == 300  # no title: nothing moves


def test_a_long_title_is_wrapped_and_a_legend_above_the_plot_gets_its_own_row():
    """Regression (390 px): the Sentiment page's pooled-attention title ran past the chart's edge and
    its horizontal legend was drawn over it."""
    import plotly.graph_objects as go

    from attnviz.plots.titles import TITLE_CHARS
    from attnviz.plots.toolbar_room import LEGEND_PX, LINE_PX, TOOLBAR_PX, leave_room_for_toolbar

    title = "Layer 5, averaged over queries: attention each token receives"
    legend = dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom")
    fig = go.Figure([go.Bar(x=[1], y=[1], name="mean"), go.Scatter(x=[1], y=[1], name="head")],
                    layout=dict(title=title, legend=legend, height=400, margin=dict(t=40)))
    fig = leave_room_for_toolbar(fig)
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) == 2 and all(len(line) <= TITLE_CHARS for line in lines) and " ".join(lines) == title
    assert fig.layout.margin.t >= TOOLBAR_PX + 2 * LINE_PX + LEGEND_PX
    alone = leave_room_for_toolbar(go.Figure([go.Bar(x=[1], y=[1])], layout=dict(title=title, legend=legend,
                                                                                   margin=dict(t=40))))
    assert alone.layout.margin.t == fig.layout.margin.t - LEGEND_PX  # one trace: plotly shows no legend


@pytest.mark.parametrize("n_keys, kind", [(6, "bar"), (300, "scatter")])
def test_query_key_scores_and_weights_match_the_vectors(n_keys, kind):
    """The score and weight panels carry q·k/√d and its softmax for every key: bars for a short text,
    one step line each for a long one (a causal model's hidden keys are gaps or grey zero bars)."""
    from attnviz.bundles.query_key import QueryKey
    from attnviz.plots import qk as plots_qk
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(n_keys, 8)).astype(np.float32), rng.normal(size=(n_keys, 8)).astype(np.float32)
    vectors = QueryKey(q=q, k=k, tokens=[f"t{i}" for i in range(n_keys)], layer=0, head=0, causal=True)
    query = n_keys // 2
    fig = plots_qk.query_key_figure(vectors, query)
    score_trace, weight_trace = fig.data[3], fig.data[4]
    assert score_trace.type == weight_trace.type == kind
    expected = k[: query + 1] @ q[query] / np.sqrt(8)
    np.testing.assert_allclose(np.asarray(score_trace.x, dtype=float)[: query + 1], expected, rtol=1e-5)
    softmax = np.exp(expected - expected.max()) / np.exp(expected - expected.max()).sum()
    np.testing.assert_allclose(np.asarray(weight_trace.x, dtype=float)[: query + 1], softmax, rtol=1e-5)
    assert np.asarray(weight_trace.x, dtype=float).sum() == pytest.approx(1.0)
    hidden = np.asarray(score_trace.x, dtype=float)[query + 1:]
    assert (np.isnan(hidden) if kind == "scatter" else hidden == 0).all()
