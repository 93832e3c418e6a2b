"""Plotly figures of attention weights, plus the label helpers every figure module shares.

Token labels are user text: they go into figures as data, and every label plotly renders
as HTML-ish text (tick labels, hover text) passes through `_token_label`/`_plain` first.
Token axes are numeric (0..n-1) with tick text set to the tokens, so a repeated token
("the" twice) keeps its own column instead of being merged as a plotly category would be.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from attnviz.text.display import readable_token
from attnviz.trace import AttentionTrace

TEMPLATE = "plotly_white"
MARGIN = dict(l=60, r=30, t=60, b=60)
ATTENTION_SCALE = "Blues"
DIFF_SCALE = "RdBu_r"
HEATMAP_HEIGHT = 520
BAR_HEIGHT = 380
HOVER_DECIMALS = 4
MAX_TICK_LABELS = 40          # more tokens than this: every k-th tick label (hover names each)
HOVER_TEXT_MAX_CELLS = 4_096  # bigger matrices get no per-cell hover strings
# A [query, key] heatmap sits in a half-page column (~470 px) with square cells, so its plot side is
# bounded by the column width: a taller figure only adds blank bands (and stretches the colour bar),
# and more labels than fit in ~320 px overlap. Hence a capped height and label budget.
MATRIX_MAX_HEIGHT = 560
MATRIX_TICK_LABELS = 25
TICK_LABEL_CHARS = 12         # longer tokens are cut to this many characters (+ "…") on the axes
DIFF_FLOOR = 0.1             # a difference map's colour range is at least -0.1..0.1
MOSAIC_MAX_CELLS = 200_000    # bigger all-heads grids are drawn as one pooled picture
PICTURE_MIN_CELLS = 128 * 128 # bigger [query, key] heatmaps are sent as a picture (PNG) with a hover layer
HOVER_SIDE = 64               # ... whose hover layer pools the weights into at most 64 x 64 patches
PICTURE_HEIGHT = 820          # a picture is shown at full width: a square of about this height


def _plain(text: object) -> str:
    """`text` as plain text for plotly labels: `&`, `<` and `>` escaped, so no tag is ever rendered."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _visible(text: str) -> str:
    """A token's display form (`readable_token`: "Ġthe" -> "␣the"), whitespace made visible: newlines
    as ⏎, tabs as ⇥, leading/trailing spaces as ␣, empty as ∅."""
    text = readable_token(text)
    if text == "":
        return "∅"
    text = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎").replace("\t", "⇥")
    stripped = text.strip(" ")
    if not stripped:
        return "␣" * len(text)
    lead = len(text) - len(text.lstrip(" "))
    trail = len(text) - len(text.rstrip(" "))
    return "␣" * lead + stripped + "␣" * trail


def _token_label(token: object) -> str:
    """A token as a safe, visible label: its display form, whitespace made visible, then HTML-escaped."""
    return _plain(_visible(str(token)))


def _finish(fig: go.Figure, title: str, height: int) -> go.Figure:
    """Apply the shared look: template, title, margins and a fixed height."""
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.02), height=height, margin=MARGIN)
    return fig


def empty_figure(title: str, message: str, height: int) -> go.Figure:
    """A blank figure saying why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _finish(fig, title, height)


def _thin(n: int, max_labels: int = MAX_TICK_LABELS) -> list[int]:
    """Positions that get a tick label: all of them up to max_labels, else every k-th."""
    step = max(1, math.ceil(n / max_labels))
    return list(range(0, n, step))


def _tick_label(token: object) -> str:
    """A token as a short axis label: cut to TICK_LABEL_CHARS characters (the hover has it whole)."""
    text = _visible(str(token))
    return _plain(text if len(text) <= TICK_LABEL_CHARS else text[:TICK_LABEL_CHARS - 1] + "…")


def _token_axes(fig: go.Figure, keys: list[str], queries: list[str]) -> None:
    """Numeric key (x) and query (y, top to bottom) axes labelled with the escaped, shortened tokens
    (every k-th one past MATRIX_TICK_LABELS tokens: the hover names every cell)."""
    shown_keys = _thin(len(keys), MATRIX_TICK_LABELS)
    shown_queries = _thin(len(queries), MATRIX_TICK_LABELS)
    fig.update_xaxes(title="key", tickmode="array", tickvals=shown_keys,
                     ticktext=[_tick_label(keys[i]) for i in shown_keys], showgrid=False, constrain="domain")
    fig.update_yaxes(title="query", tickmode="array", tickvals=shown_queries,
                     ticktext=[_tick_label(queries[i]) for i in shown_queries], showgrid=False,
                     autorange="reversed", scaleanchor="x", constrain="domain")


def matrix_height(n_rows: int) -> int:
    """Taller for more tokens (about 14 px a row), from HEATMAP_HEIGHT up to MATRIX_MAX_HEIGHT: the
    square plot of a half-page column is no taller than the column is wide, whatever the token count."""
    return int(np.clip(160 + 14 * n_rows, HEATMAP_HEIGHT, MATRIX_MAX_HEIGHT))


def _pair_text(queries: list[str], keys: list[str]) -> list[list[str]]:
    """Hover text per cell: `#q query → #k key` (positions tell repeated tokens apart)."""
    q_labels = [f"#{i} {_token_label(t)}" for i, t in enumerate(queries)]
    k_labels = [f"#{i} {_token_label(t)}" for i, t in enumerate(keys)]
    return [[f"{q} → {k}" for k in k_labels] for q in q_labels]


def _check_layer(trace: AttentionTrace, layer: int, head: int | None = None) -> None:
    """Raise IndexError with a clear message for an out-of-range layer or head."""
    if not 0 <= layer < trace.n_layers:
        raise IndexError(f"layer {layer} out of range: the trace has {trace.n_layers} layers")
    if head is not None and not 0 <= head < trace.n_heads:
        raise IndexError(f"head {head} out of range: the trace has {trace.n_heads} heads")


def _matrix_figure(matrix: np.ndarray, queries: list[str], keys: list[str], title: str,
                   zmin: float, zmax: float, colorscale: str = ATTENTION_SCALE,
                   zmid: float | None = None, colorbar_title: str = "weight") -> go.Figure:
    """A [query, key] heatmap on numeric token axes. Hover names both tokens: per-cell strings for
    small matrices, for big ones the token labels sit in a per-row and a per-column array
    (`customdata` can only be per cell, so x/y carry them) to keep the figure light."""
    n_query, n_key = matrix.shape
    if n_query * n_key > PICTURE_MIN_CELLS and zmid is None:
        return _picture_figure(matrix, queries, keys, title, zmax, colorscale, colorbar_title)
    if n_query * n_key <= HOVER_TEXT_MAX_CELLS:
        hover = f"%{{text}}: %{{z:.{HOVER_DECIMALS}f}}<extra></extra>"
        heatmap = go.Heatmap(z=matrix, text=_pair_text(queries, keys), hovertemplate=hover,
                             colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid,
                             colorbar=dict(title=dict(text=colorbar_title)))
    else:
        hover = f"%{{y}} → %{{x}}: %{{z:.{HOVER_DECIMALS}f}}<extra></extra>"
        heatmap = go.Heatmap(z=np.asarray(matrix, dtype=np.float32), hovertemplate=hover,
                             x=[f"#{i} {_token_label(t)}" for i, t in enumerate(keys)],
                             y=[f"#{i} {_token_label(t)}" for i, t in enumerate(queries)],
                             colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid,
                             colorbar=dict(title=dict(text=colorbar_title)))
    fig = go.Figure(heatmap)
    _token_axes(fig, keys, queries)
    if n_query * n_key > HOVER_TEXT_MAX_CELLS:  # category axes: tick values are the unique labels
        fig.update_xaxes(type="category", tickvals=[heatmap.x[i] for i in _thin(n_key, MATRIX_TICK_LABELS)])
        fig.update_yaxes(type="category", tickvals=[heatmap.y[i] for i in _thin(n_query, MATRIX_TICK_LABELS)])
    return _finish(fig, title, matrix_height(n_query))


def _picture_figure(matrix: np.ndarray, queries: list[str], keys: list[str], title: str, zmax: float,
                    colorscale: str, colorbar_title: str) -> go.Figure:
    """A big [query, key] matrix as one PNG (every weight a pixel: ~0.2 MB for 512 x 512 instead of
    ~1.5 MB of numbers) under an invisible heatmap of its p x p patch means (at most HOVER_SIDE a
    side) that names the tokens and the mean weight on hover; the exact numbers are in the downloads."""
    from attnviz.plots.grid import matrix_png, pool_blocks

    n_query, n_key = matrix.shape
    pool = max(1, math.ceil(max(n_query, n_key) / HOVER_SIDE))
    patches = pool_blocks(np.asarray(matrix, dtype=np.float32)[None, None], pool)[0, 0]  # (ceil(Q/p), ceil(K/p))

    def patch_labels(tokens: list[str]) -> list[str]:
        starts = range(0, len(tokens), pool)
        return [f"#{a}-{min(a + pool, len(tokens)) - 1} {_token_label(tokens[a])} … "
                f"{_token_label(tokens[min(a + pool, len(tokens)) - 1])}" for a in starts]

    fig = go.Figure(go.Image(source=matrix_png(matrix, zmax, colorscale), x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"))
    # the hover layer: category axes laid over the pixel axes, one category per p tokens (so category
    # c's centre is pixel (c + 0.5) p - 0.5, the centre of its patch)
    fig.add_heatmap(z=np.round(patches, 4), x=patch_labels(keys), y=patch_labels(queries), opacity=0.0,
                    showscale=False, name="patches", xaxis="x2", yaxis="y2",
                    hovertemplate="%{y} → %{x}: mean weight %{z:.4f}<extra></extra>")
    fig.update_layout(xaxis2=dict(overlaying="x", type="category", visible=False, range=[-0.5, n_key / pool - 0.5]),
                      yaxis2=dict(overlaying="y", type="category", visible=False,
                                  range=[n_query / pool - 0.5, -0.5]))
    fig.add_scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                    marker=dict(colorscale=colorscale, cmin=0.0, cmax=zmax, color=[0.0], showscale=True,
                                colorbar=dict(title=dict(text=colorbar_title))))
    _token_axes(fig, keys, queries)
    fig.update_xaxes(range=[-0.5, n_key - 0.5])
    fig.update_yaxes(range=[n_query - 0.5, -0.5], autorange=False)
    fig.update_layout(hovermode="closest")
    return _finish(fig, title, PICTURE_HEIGHT)


def is_picture(n_query: int, n_key: int) -> bool:
    """Whether a [query, key] heatmap of this size is sent as a picture (see _picture_figure)."""
    return n_query * n_key > PICTURE_MIN_CELLS


def head_heatmap(trace: AttentionTrace, layer: int, head: int, zmax: float = 1.0) -> go.Figure:
    """One head's [query, key] pattern; colour scale 0..zmax (1 by default)."""
    _check_layer(trace, layer, head)
    title = f"Layer {layer}, head {head}"
    return _matrix_figure(trace.head(layer, head), trace.query_tokens, trace.tokens, title, 0.0, zmax)


def mean_heatmap(trace: AttentionTrace, layer: int, zmax: float = 1.0) -> go.Figure:
    """The layer's pattern averaged over its heads; colour scale 0..zmax."""
    _check_layer(trace, layer)
    title = f"Layer {layer}, mean of {trace.n_heads} heads"
    return _matrix_figure(trace.mean_over_heads(layer), trace.query_tokens, trace.tokens, title, 0.0, zmax)


def diff_heatmap(trace_a: AttentionTrace, trace_b: AttentionTrace, layer: int, head: int,
                 limit: float | None = None) -> go.Figure:
    """Head (layer, head) of trace_a minus the same head of trace_b, diverging colours centred at 0.

    The traces must have as many query and key tokens as each other; where a token differs the
    label shows both (`a / b`). The colour range is symmetric, -limit..limit; by default limit is the
    largest difference but never less than DIFF_FLOOR, so tiny differences stay pale.
    """
    a_shape, b_shape = trace_a.weights.shape[2:], trace_b.weights.shape[2:]
    if a_shape != b_shape:
        raise ValueError(f"cannot compare traces of different lengths: {a_shape[0]}x{a_shape[1]} vs "
                         f"{b_shape[0]}x{b_shape[1]} (query x key tokens); use the same sentence and tokenizer")
    _check_layer(trace_a, layer, head)
    _check_layer(trace_b, layer, head)
    diff = trace_a.head(layer, head) - trace_b.head(layer, head)

    def merged(a: list[str], b: list[str]) -> list[str]:
        return [x if x == y else f"{x} / {y}" for x, y in zip(a, b)]

    names = f"{_plain(trace_a.model_name or 'A')} − {_plain(trace_b.model_name or 'B')}"
    if limit is None:
        limit = max(DIFF_FLOOR, float(np.abs(diff).max(initial=0.0)))
    zmin, zmax = -limit, limit
    title = f"Layer {layer}, head {head}: {names}"
    return _matrix_figure(diff, merged(trace_a.query_tokens, trace_b.query_tokens),
                          merged(trace_a.tokens, trace_b.tokens), title, zmin, zmax,
                          colorscale=DIFF_SCALE, zmid=0.0, colorbar_title="difference")


def _mosaic(weights: np.ndarray, gap: int) -> np.ndarray:
    """[layers, heads, Q, K] -> one 2-D array of blocks (rows = layers, cols = heads), NaN between."""
    n_layers, n_heads, n_query, n_key = weights.shape
    padded = np.full((n_layers, n_query + gap, n_heads, n_key + gap), np.nan, dtype=np.float32)
    padded[:, :n_query, :, :n_key] = weights.transpose(0, 2, 1, 3)
    flat = padded.reshape(n_layers * (n_query + gap), n_heads * (n_key + gap))
    return flat[: flat.shape[0] - gap, : flat.shape[1] - gap]


def model_view(trace: AttentionTrace, zmax: float = 1.0) -> go.Figure:
    """Every head of every layer as a small heatmap in one grid (rows = layers L0.., cols = heads H0..).

    One heatmap trace over a mosaic array with NaN gaps (fast and light). Past MOSAIC_MAX_CELLS
    weights it is the pooled picture of attnviz.plots.grid instead (hover names the head only). Its axes are categorical
    with one unique label per row/column ("L2 · #4 the", "H3 · #7 cat"), so hover shows the layer,
    head and both tokens without a per-cell string; tick labels show only L0.. and H0...
    """
    n_layers, n_heads, n_query, n_key = trace.weights.shape
    if trace.weights.size > MOSAIC_MAX_CELLS:  # too heavy as numbers: one pooled picture instead
        from attnviz.plots.grid import grid_figure, grid_picture
        title = f"All heads: {_plain(trace.model_name)}" if trace.model_name else "All heads"
        return grid_figure(grid_picture(trace, zmax=zmax), title, zmax=zmax)
    gap = max(1, round(max(n_query, n_key) / 15))
    z = _mosaic(trace.weights, gap)
    keys = [f"#{k} {_token_label(t)}" for k, t in enumerate(trace.tokens)]
    queries = [f"#{q} {_token_label(t)}" for q, t in enumerate(trace.query_tokens)]
    x: list[str] = []
    for h in range(n_heads):
        x += [f"H{h} · {k}" for k in keys]
        x += [f"·gap {h}.{g}" for g in range(gap)] if h < n_heads - 1 else []
    y: list[str] = []
    for layer in range(n_layers):
        y += [f"L{layer} · {q}" for q in queries]
        y += [f"·gap {layer}.{g}" for g in range(gap)] if layer < n_layers - 1 else []
    hover = f"%{{y}} → %{{x}}: %{{z:.{HOVER_DECIMALS}f}}<extra></extra>"
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, hovertemplate=hover, hoverongaps=False,
                               colorscale=ATTENTION_SCALE, zmin=0.0, zmax=zmax,
                               colorbar=dict(title=dict(text="weight"))))
    fig.update_xaxes(type="category", tickmode="array", side="top", showgrid=False, constrain="domain",
                     tickvals=[x[h * (n_key + gap) + n_key // 2] for h in range(n_heads)],
                     ticktext=[f"H{h}" for h in range(n_heads)])
    fig.update_yaxes(type="category", tickmode="array", autorange="reversed", showgrid=False,
                     scaleanchor="x", constrain="domain",
                     tickvals=[y[layer * (n_query + gap) + n_query // 2] for layer in range(n_layers)],
                     ticktext=[f"L{layer}" for layer in range(n_layers)])
    title = f"All heads: {_plain(trace.model_name)}" if trace.model_name else "All heads"
    # Cells are square, so a fixed height that fits a ~900 px wide plot avoids blank bands.
    height = int(np.clip(900 * z.shape[0] / z.shape[1] + 120, 320, 1400))
    return _finish(fig, title, height)


def attention_to_token_bar(trace: AttentionTrace, query_index: int, layer: int) -> go.Figure:
    """What one query token attends to in a layer: mean over heads as bars, each head as a dot."""
    _check_layer(trace, layer)
    if not 0 <= query_index < len(trace.query_tokens):
        raise IndexError(f"query_index {query_index} out of range: "
                         f"there are {len(trace.query_tokens)} query tokens")
    per_head = trace.weights[layer, :, query_index, :]  # [heads, key]
    keys = [_token_label(t) for t in trace.tokens]
    positions = np.arange(len(keys))
    query = _token_label(trace.query_tokens[query_index])
    is_self = trace.query_tokens == trace.tokens  # then the query's own key column is marked red
    colors = ["#d62728" if is_self and k == query_index else "#1f77b4" for k in positions]
    fig = go.Figure()
    fig.add_bar(x=positions, y=per_head.mean(axis=0), name="mean over heads", marker_color=colors,
                customdata=[f"#{k} {t}" for k, t in enumerate(keys)],
                hovertemplate=f"#{query_index} {query} → %{{customdata}}: "
                              f"%{{y:.{HOVER_DECIMALS}f}}<extra>mean</extra>")
    fig.add_scatter(x=np.repeat(positions[None], trace.n_heads, axis=0).ravel(), y=per_head.ravel(),
                    mode="markers", name="single head",
                    marker=dict(size=5, color="rgba(0,0,0,0.45)"),
                    customdata=np.repeat(np.arange(trace.n_heads), len(keys)),
                    hovertemplate=f"H%{{customdata}}: %{{y:.{HOVER_DECIMALS}f}}<extra></extra>")
    fig.update_xaxes(title="key", tickmode="array", tickvals=positions.tolist(), ticktext=keys)
    fig.update_yaxes(title="weight", range=[0, 1])
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return _finish(fig, f"Layer {layer}: where #{query_index} {query} looks", BAR_HEIGHT)
