"""Every head of one layer as a picture, for switching heads in the browser without a server round trip.

Each head's [query, key] pattern becomes one palette PNG, one pixel per weight, coloured from 0 to that
head's own largest weight (`top`) in LEVELS steps. A pixel's colour therefore names its weight to
within half a step: weight ~ level / (LEVELS - 1) x top (`weight_of_level`), which is what the
browser's hover readout shows. A 512-token MiniLM layer is 0.3-0.6 MB of PNG for all 12 heads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.plots.grid import GRID_SCALE, LEVELS, matrix_levels, png_bytes
from attnviz.trace import AttentionTrace


@dataclass(frozen=True)
class LayerPictures:
    """One PNG per head of `layer` (`pngs[h]`), coloured 0..`tops[h]`; the picture is
    n_query pixels tall and n_key wide."""

    layer: int
    pngs: tuple[bytes, ...]
    tops: tuple[float, ...]
    n_query: int
    n_key: int


def layer_pictures(trace: AttentionTrace, layer: int, scale: str = GRID_SCALE) -> LayerPictures:
    """Every head of `layer` as a picture (see the module docstring)."""
    if not 0 <= layer < trace.n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0 to {trace.n_layers - 1}")
    weights = np.asarray(trace.weights[layer], dtype=np.float32)  # (H, Q, K)
    tops = [float(max(weights[h].max(), 1e-6)) for h in range(weights.shape[0])]
    pngs = tuple(png_bytes(matrix_levels(weights[h], tops[h]), scale) for h in range(weights.shape[0]))
    return LayerPictures(layer, pngs, tuple(tops), weights.shape[1], weights.shape[2])


def weight_of_level(level: int, top: float) -> float:
    """The weight a picture's colour level stands for (the centre of its step)."""
    return level / (LEVELS - 1) * top
