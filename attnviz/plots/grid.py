"""The all-heads grid drawn as ONE picture: light to send and quick to draw at any length.

Every head's [query, key] pattern becomes a block of a mosaic (rows = layers, columns = heads);
long texts are pooled (each pixel the mean of an f x f patch of weights) so a block is at most
`max_block` pixels a side. The mosaic is coloured with the attention colour scale and sent as a
PNG inside the figure, so 6 x 12 heads of 500 tokens weigh some hundred KB instead of tens of MB.
Above it lies one invisible marker per head: hovering a block names its layer and head, and
clicking it (Streamlit selection events) picks that head; the chosen head gets an outline.
"""
from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from attnviz.trace import AttentionTrace

GRID_SCALE = "Blues"
MAX_BLOCK = 64       # pixels per head block side, at most (about its size on screen: 12 heads in ~900 px)
OUTLINE = "#d62728"
WHITE_INDEX = 255    # palette index of the white gaps between blocks
LEVELS = 64          # colour steps of a picture: finer steps are invisible and compress far worse


@dataclass(frozen=True)
class GridPicture:
    """A pooled, coloured mosaic: `source` is a PNG data URI; blocks are `block_h` x `block_w` pixels
    with `gap` blank pixels between them; `pool` tokens per pixel side (1 = every weight)."""

    source: str
    n_layers: int
    n_heads: int
    block_h: int
    block_w: int
    gap: int
    pool: int
    per_head: bool = False  # each block coloured 0..its own largest weight (pooled grids)

    @property
    def width(self) -> int:
        return self.n_heads * (self.block_w + self.gap) - self.gap

    @property
    def height(self) -> int:
        return self.n_layers * (self.block_h + self.gap) - self.gap

    def centre(self, layer: int, head: int) -> tuple[float, float]:
        """(x, y) pixel centre of a head's block."""
        return (head * (self.block_w + self.gap) + (self.block_w - 1) / 2,
                layer * (self.block_h + self.gap) + (self.block_h - 1) / 2)


def pool_blocks(weights: np.ndarray, factor: int) -> np.ndarray:
    """[L, H, Q, K] -> [L, H, ceil(Q/f), ceil(K/f)]: the mean of each f x f patch (edge patches
    average over the weights they hold)."""
    if factor <= 1:
        return weights.astype(np.float32)
    n_layers, n_heads, n_query, n_key = weights.shape
    rows, cols = math.ceil(n_query / factor), math.ceil(n_key / factor)
    padded = np.zeros((n_layers, n_heads, rows * factor, cols * factor), dtype=np.float32)
    padded[:, :, :n_query, :n_key] = weights
    sums = padded.reshape(n_layers, n_heads, rows, factor, cols, factor).sum(axis=(3, 5))  # (L, H, r, c)
    row_counts = np.minimum(factor, n_query - factor * np.arange(rows))  # weights per patch row
    col_counts = np.minimum(factor, n_key - factor * np.arange(cols))
    return (sums / np.outer(row_counts, col_counts)).astype(np.float32)


def _colour_table(scale: str, levels: int = 256) -> np.ndarray:
    """levels x 3 uint8 RGB colours sampled along a plotly colour scale."""
    colours = sample_colorscale(scale, list(np.linspace(0.0, 1.0, levels)), colortype="tuple")
    return np.clip(np.round(np.asarray(colours) * 255), 0, 255).astype(np.uint8)


def grid_picture(trace: AttentionTrace, zmax: float = 1.0, max_block: int = MAX_BLOCK) -> GridPicture:
    """The mosaic of every head as a PNG (white between blocks)."""
    n_layers, n_heads, n_query, n_key = trace.weights.shape
    pool = max(1, math.ceil(max(n_query, n_key) / max_block))
    blocks = pool_blocks(trace.weights, pool)  # (L, H, bq, bk)
    block_h, block_w = blocks.shape[2], blocks.shape[3]
    gap = max(1, round(max(block_h, block_w) / 15))
    per_head = pool > 1  # pooling averages the peaks away: 0..1 would leave the grid nearly white
    top = blocks.max(axis=(2, 3), keepdims=True) if per_head else np.float32(zmax)  # (L, H, 1, 1)
    levels = np.clip(np.round(blocks / np.maximum(top, 1e-6) * (LEVELS - 1)), 0, LEVELS - 1).astype(np.uint8)
    canvas = np.full((n_layers, block_h + gap, n_heads, block_w + gap), WHITE_INDEX, dtype=np.uint8)
    canvas[:, :block_h, :, :block_w] = levels.transpose(0, 2, 1, 3)  # (L, bq, H, bk)
    canvas = canvas.reshape(n_layers * (block_h + gap), n_heads * (block_w + gap))
    canvas = canvas[: canvas.shape[0] - gap, : canvas.shape[1] - gap]
    source = _palette_png(canvas, GRID_SCALE)
    return GridPicture(source, n_layers, n_heads, block_h, block_w, gap, pool, per_head)


def grid_figure(picture: GridPicture, title: str, selected: tuple[int, int] | None = None,
                zmax: float = 1.0) -> go.Figure:
    """The picture with L0../H0.. ticks, a colour bar, one hover/click target per head
    (customdata [layer, head]) and an outline around `selected` (layer, head)."""
    fig = go.Figure(go.Image(source=picture.source, hoverinfo="skip"))
    heads = [(layer, head) for layer in range(picture.n_layers) for head in range(picture.n_heads)]
    centres = [picture.centre(layer, head) for layer, head in heads]
    fig.add_scatter(x=[c[0] for c in centres], y=[c[1] for c in centres], mode="markers",
                    customdata=[list(h) for h in heads], showlegend=False, name="heads",
                    marker=dict(size=max(8, min(40, picture.block_w // 2)), color="rgba(0,0,0,0)"),
                    hovertemplate="layer %{customdata[0]}, head %{customdata[1]}: click to look closer"
                                  "<extra></extra>")
    fig.add_scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                    marker=dict(colorscale=GRID_SCALE, cmin=0.0, cmax=zmax, color=[0.0], showscale=True,
                                # under the grid, not beside it: on a phone the heads get the whole width
                                colorbar=dict(title=dict(text="share of the head's max" if picture.per_head
                                                         else "weight", side="top"),
                                              orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top",
                                              len=0.6, thickness=12)))
    if selected is not None:
        x, y = picture.centre(*selected)
        half_w, half_h = picture.block_w / 2 + 0.5, picture.block_h / 2 + 0.5
        fig.add_shape(type="rect", x0=x - half_w, x1=x + half_w, y0=y - half_h, y1=y + half_h,
                      line=dict(color=OUTLINE, width=3), name="chosen head")
    fig.update_xaxes(tickmode="array", side="top", showgrid=False, zeroline=False, constrain="domain",
                     tickvals=[picture.centre(0, h)[0] for h in range(picture.n_heads)],
                     ticktext=[f"H{h}" for h in range(picture.n_heads)],
                     range=[-0.5, picture.width - 0.5])
    fig.update_yaxes(tickmode="array", showgrid=False, zeroline=False, constrain="domain",
                     scaleanchor="x", autorange=False, range=[picture.height - 0.5, -0.5],
                     tickvals=[picture.centre(layer, 0)[1] for layer in range(picture.n_layers)],
                     ticktext=[f"L{layer}" for layer in range(picture.n_layers)])
    height = int(np.clip(900 * picture.height / picture.width + 120, 320, 1400)) + 50  # + the colour bar
    fig.update_layout(template="plotly_white", title=dict(text=title, x=0.02), height=height,
                      margin=dict(l=40, r=20, t=60, b=80), hovermode="closest", hoverdistance=-1,
                      clickmode="event+select", dragmode=False)
    return fig


def picked_head(selection: object, n_layers: int, n_heads: int) -> tuple[int, int] | None:
    """(layer, head) of the point chosen in a Streamlit plotly selection event, or None.

    selection: the value st.plotly_chart(on_select=...) stores ({"selection": {"points": [...]}}).
    """
    try:
        points = selection["selection"]["points"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    for point in reversed(list(points or [])):
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, (list, tuple)) and len(data) == 2:
            layer, head = int(data[0]), int(data[1])
            if 0 <= layer < n_layers and 0 <= head < n_heads:
                return layer, head
    return None


def png_bytes(levels: np.ndarray, scale: str) -> bytes:
    """A [rows, cols] uint8 array of colour levels (0..LEVELS-1 along `scale`, WHITE_INDEX white) as a
    palette PNG: one byte a pixel before compression, about a third of RGB's size."""
    from PIL import Image

    palette = np.vstack([_colour_table(scale, levels=LEVELS),
                         np.full((256 - LEVELS, 3), 255, dtype=np.uint8)])  # (256, 3): the rest white
    image = Image.fromarray(levels, "P")
    image.putpalette(palette.ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # fast: optimize=True took ~30x longer for ~5 % less
    return buffer.getvalue()


def _palette_png(levels: np.ndarray, scale: str) -> str:
    """`png_bytes` as a data URI (for a picture inside a plotly figure)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(levels, scale)).decode("ascii")


def palette_hex(scale: str = GRID_SCALE) -> list[str]:
    """The LEVELS colours of a picture's palette as "#rrggbb", level 0 first (a picture's pixel colour
    names its level: weight ~ level / (LEVELS - 1) x the picture's top)."""
    return ["#%02x%02x%02x" % tuple(int(c) for c in row) for row in _colour_table(scale, levels=LEVELS)]


def matrix_levels(matrix: np.ndarray, zmax: float = 1.0) -> np.ndarray:
    """[rows, cols] weights -> uint8 colour levels 0..LEVELS-1 on the scale 0..zmax (rounded)."""
    scaled = np.asarray(matrix, dtype=np.float32) / max(float(zmax), 1e-12) * (LEVELS - 1)
    return np.clip(np.round(scaled), 0, LEVELS - 1).astype(np.uint8)


def matrix_png(matrix: np.ndarray, zmax: float = 1.0, scale: str = GRID_SCALE) -> str:
    """One [rows, cols] matrix as a PNG data URI, one pixel per weight, coloured 0..zmax."""
    return _palette_png(matrix_levels(matrix, zmax), scale)
