"""Learning-rate schedules, as multipliers of the optimizer's peak rate for LambdaLR.

The Transformer paper's rate is d_model^-0.5 * min(step^-0.5, step * warmup^-1.5): it rises
linearly for `warmup` steps and then decays as 1/sqrt(step). LambdaLR multiplies the
optimizer's base rate by the lambda, so the optimizer is given the peak rate (not 0, the
seed's mistake, which kept the rate at 0 for ever) and the lambda gives the shape, 1 at the peak.
"""
from __future__ import annotations

import math
from typing import Callable

SCHEDULES = ("transformer", "linear", "constant")


def transformer_peak_lr(d_model: int, warmup_steps: int) -> float:
    """The paper's rate at the end of warm-up: d_model^-0.5 * warmup^-0.5."""
    return d_model ** -0.5 * warmup_steps ** -0.5


def lr_multiplier(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """step (0-based, as LambdaLR counts) -> factor of the peak rate."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    warmup = max(1, warmup_steps)

    def factor(step: int) -> float:
        s = step + 1  # the paper counts steps from 1; a rate of 0 at the first step trains nothing
        if s < warmup:
            return s / warmup
        if schedule == "transformer":
            return math.sqrt(warmup / s)
        if schedule == "linear":
            remaining = max(1, total_steps - warmup)
            return max(0.0, 1.0 - (s - warmup) / remaining)
        return 1.0

    return factor
