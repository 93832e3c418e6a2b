"""Plotly figures of positional encodings: the table, single dimensions, similarities, wavelengths.

Every function takes the encoding as an array [positions, dimensions] (numpy or torch).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.plots.attention import _finish
from attnviz.nn.positional import SINUSOID_BASE, wavelengths

POSITIONAL_HEIGHT = 440


def _as_table(pe: object) -> np.ndarray:
    """The encoding as a float64 numpy array [positions, dimensions] (a torch tensor is fine)."""
    if hasattr(pe, "detach"):
        pe = pe.detach().cpu().numpy()
    table = np.asarray(pe, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError(f"a positional encoding must be a non-empty [positions, dimensions] array, "
                         f"got shape {table.shape}")
    return table


def positional_heatmap(pe: np.ndarray) -> go.Figure:
    """The encoding table: positions top to bottom, dimensions left to right, RdBu over -1..1."""
    table = _as_table(pe)
    fig = go.Figure(go.Heatmap(z=table, colorscale="RdBu", zmin=-1.0, zmax=1.0, zmid=0.0,
                               hovertemplate="position %{y}, dim %{x}: %{z:.4f}<extra></extra>",
                               colorbar=dict(title=dict(text="value"))))
    fig.update_xaxes(title="dimension", showgrid=False)
    fig.update_yaxes(title="position", autorange="reversed", showgrid=False)
    n_pos, n_dim = table.shape
    return _finish(fig, f"Positional encoding ({n_pos} positions × {n_dim} dimensions)", POSITIONAL_HEIGHT)


def _line_mode(n_points: int) -> str:
    """Lines, with markers when there are too few points for a line to show (one position)."""
    return "lines" if n_points > 12 else "lines+markers"


def positional_curves(pe: np.ndarray, dims: Sequence[int]) -> go.Figure:
    """One line per chosen dimension, its value over position (low dims wiggle fast, high dims slowly)."""
    table = _as_table(pe)
    bad = [d for d in dims if not 0 <= d < table.shape[1]]
    if bad:
        raise ValueError(f"dimensions {bad} out of range: the encoding has {table.shape[1]} dimensions")
    positions = np.arange(table.shape[0])
    fig = go.Figure()
    for d in dims:
        fig.add_scatter(x=positions, y=table[:, d], mode=_line_mode(len(positions)), name=f"dim {d}",
                        hovertemplate=f"dim {d}, position %{{x}}: %{{y:.4f}}<extra></extra>")
    fig.update_xaxes(title="position")
    fig.update_yaxes(title="value", range=[-1.05, 1.05])
    return _finish(fig, "Positional encoding: chosen dimensions over position", POSITIONAL_HEIGHT)


def positional_similarity(pe: np.ndarray) -> go.Figure:
    """PE @ PE.T: the dot product of every pair of positions (brightest on the diagonal)."""
    table = _as_table(pe)
    gram = table @ table.T
    fig = go.Figure(go.Heatmap(z=gram, colorscale="Viridis",
                               hovertemplate="positions %{y} · %{x}: %{z:.3f}<extra></extra>",
                               colorbar=dict(title=dict(text="dot product"))))
    fig.update_xaxes(title="position", showgrid=False, constrain="domain")
    fig.update_yaxes(title="position", autorange="reversed", showgrid=False, scaleanchor="x", constrain="domain")
    return _finish(fig, "Similarity of positions (PE · PEᵀ)", POSITIONAL_HEIGHT)


def offset_similarity(pe: np.ndarray, positions: Sequence[int] | None = None) -> go.Figure:
    """PE[p] · PE[p + k] against the offset k for a few reference positions p.

    For the sinusoidal encoding the curves lie on top of each other: the dot product depends on
    the offset only (and is symmetric in k), not on where in the sentence the pair sits.
    Default references: 0, a third and two thirds of the way along.
    """
    table = _as_table(pe)
    n_pos = table.shape[0]
    refs = sorted({0, n_pos // 3, 2 * n_pos // 3}) if positions is None else list(positions)
    bad = [p for p in refs if not 0 <= p < n_pos]
    if bad:
        raise ValueError(f"reference positions {bad} out of range: the encoding has {n_pos} positions")
    fig = go.Figure()
    for p in refs:
        offsets = np.arange(-p, n_pos - p)
        fig.add_scatter(x=offsets, y=table @ table[p], mode=_line_mode(n_pos), name=f"p = {p}",
                        hovertemplate=f"p = {p}, offset %{{x}}: %{{y:.3f}}<extra></extra>")
    fig.update_xaxes(title="offset k", zeroline=True)
    fig.update_yaxes(title="PE[p] · PE[p + k]")
    return _finish(fig, "Similarity depends on the offset only", POSITIONAL_HEIGHT)


def wavelength_figure(d_model: int, base: float = SINUSOID_BASE) -> go.Figure:
    """Wavelength (in positions) of every dimension of the sinusoidal encoding, on a log axis."""
    lengths = wavelengths(d_model, base).numpy().astype(np.float64)
    fig = go.Figure(go.Scatter(x=np.arange(d_model), y=lengths, mode="lines+markers",
                               marker=dict(size=4), name="wavelength",
                               hovertemplate="dim %{x}: %{y:.1f} positions<extra></extra>"))
    fig.update_xaxes(title="dimension")
    fig.update_yaxes(title="wavelength (positions)", type="log")
    return _finish(fig, f"Wavelength per dimension (d_model = {d_model})", POSITIONAL_HEIGHT)
