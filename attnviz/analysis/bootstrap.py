"""Percentile bootstrap intervals for means of per-text values (paired across methods by reusing one
seeded set of resampled indices)."""
from __future__ import annotations

import numpy as np

RESAMPLES = 2000


def resample_indices(n: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """(resamples, n) indices drawn with replacement, the same for every method (paired)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def mean_interval(values: np.ndarray, indices: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of `values` and its percentile bootstrap interval over the resampled `indices`."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    means = values[indices].mean(axis=1)  # (resamples,)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)
