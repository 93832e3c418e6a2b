"""The identities the app relies on, as checks that return numbers and a verdict (the Verify page).

Every check is a pure function of its inputs, so a test can hand it a broken input and see it fail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from attnviz.nn.attention import MultiHeadSelfAttention
from attnviz.nn.positional import SINUSOID_BASE


@dataclass(frozen=True)
class CheckResult:
    """name: what is claimed; passed: whether the worst error is within tolerance; detail: one line."""

    name: str
    passed: bool
    worst_error: float
    tolerance: float
    detail: str = ""

    @property
    def mark(self) -> str:
        return "✓" if self.passed else "✗"


def _result(name: str, error: float, tolerance: float, detail: str = "") -> CheckResult:
    error = float(error) if np.isfinite(error) else float("inf")
    return CheckResult(name, error <= tolerance, error, tolerance, detail)


def pe_offset_check(pe: np.ndarray, max_offset: int = 16, tolerance: float = 1e-4) -> CheckResult:
    """PE·PEᵀ depends only on the offset: PE[p]·PE[p+k] is the same for every p (sinusoidal encodings).

    Worst error: the largest spread (max - min) over p of PE[p]·PE[p+k], for k = 0..max_offset.
    """
    pe = np.asarray(pe, dtype=np.float64)  # (positions, d)
    gram = pe @ pe.T  # (P, P)
    worst = 0.0
    for k in range(min(max_offset, pe.shape[0] - 1) + 1):
        diagonal = np.diagonal(gram, offset=k)
        worst = max(worst, float(diagonal.max() - diagonal.min()))
    return _result("PE·PEᵀ depends only on the offset", worst, tolerance,
                   f"largest spread of PE[p]·PE[p+k] over p, k ≤ {max_offset}: {worst:.2e}")


def pe_rotation_check(pe: np.ndarray, offset: int = 5, base: float = SINUSOID_BASE,
                      tolerance: float = 1e-4) -> CheckResult:
    """PE(p+k) is a fixed rotation of PE(p): for each pair (sin, cos) of frequency w_i = base^(-2i/d),
    (sin, cos)(p+k) = R(w_i k) (sin, cos)(p), the same rotation for every p."""
    pe = np.asarray(pe, dtype=np.float64)  # (P, d)
    positions, d_model = pe.shape
    if positions <= offset:
        raise ValueError(f"need more than {offset} positions, got {positions}")
    worst = 0.0
    for i in range(d_model // 2):
        angle = offset * base ** (-2 * i / d_model)
        cos, sin = math.cos(angle), math.sin(angle)
        s, c = pe[:-offset, 2 * i], pe[:-offset, 2 * i + 1]  # sin(w p), cos(w p)
        rotated_s, rotated_c = s * cos + c * sin, c * cos - s * sin  # sin(w(p+k)), cos(w(p+k))
        error = max(np.abs(rotated_s - pe[offset:, 2 * i]).max(), np.abs(rotated_c - pe[offset:, 2 * i + 1]).max())
        worst = max(worst, float(error))
    return _result(f"PE(p+{offset}) is a fixed rotation of PE(p) per frequency pair", worst, tolerance,
                   f"largest error over {d_model // 2} pairs and {positions - offset} positions: {worst:.2e}")


def copied_attention_pair(d_model: int = 32, n_heads: int = 4, seed: int = 0
                          ) -> tuple[MultiHeadSelfAttention, nn.MultiheadAttention]:
    """Our attention and torch.nn.MultiheadAttention with the same (random) weights, in eval mode."""
    torch.manual_seed(seed)
    reference = nn.MultiheadAttention(d_model, n_heads, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_bias.normal_()
        reference.out_proj.bias.normal_()
    ours = MultiHeadSelfAttention(d_model, n_heads).eval()
    ours.load_from_torch(reference)
    return ours, reference


def mha_parity_check(ours: MultiHeadSelfAttention, reference: nn.MultiheadAttention, x: torch.Tensor,
                     tolerance: float = 1e-5) -> CheckResult:
    """Our attention equals torch.nn.MultiheadAttention (outputs and every head's weights), x: (B, T, d)."""
    with torch.no_grad():
        mine = ours(x, need_weights=True)
        fused = ours(x).output
        theirs, weights = reference(x, x, x, need_weights=True, average_attn_weights=False)
    errors = {"output": float((mine.output - theirs).abs().max()), "weights": float((mine.weights - weights).abs().max()),
              "fused path": float((fused - theirs).abs().max())}
    detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    return _result("our attention equals torch.nn.MultiheadAttention on copied weights", max(errors.values()),
                   tolerance, f"largest difference: {detail}")


def row_sum_check(weights: np.ndarray, tolerance: float = 1e-4) -> CheckResult:
    """Every attention row (over keys) sums to 1; weights: (..., T_query, T_key)."""
    sums = np.asarray(weights, dtype=np.float64).sum(axis=-1)
    worst = float(np.abs(sums - 1).max())
    return _result("every trace row sums to 1", worst, tolerance,
                   f"{sums.size} rows; the worst is off by {worst:.2e}")


def causal_check(weights: np.ndarray, tolerance: float = 0.0) -> CheckResult:
    """A causal model never attends to a later token: every weight above the diagonal is 0."""
    weights = np.asarray(weights, dtype=np.float64)
    upper = np.triu(np.ones(weights.shape[-2:], dtype=bool), k=1)
    worst = float(np.abs(weights[..., upper]).max()) if upper.any() else 0.0
    return _result("the causal model's upper triangle is 0", worst, tolerance,
                   f"largest weight on a later token: {worst:.2e}")


def hide_special_check(trace, hide: Callable, specials=None, tolerance: float = 1e-4) -> CheckResult:
    """Hiding special tokens renormalises: each remaining row still sums to 1 (or is all 0 when a row had
    given everything to special tokens). `hide` is display.hide_special_tokens or a stand-in."""
    name = "hide-special renormalisation keeps rows at 1"
    try:
        shown = hide(trace, specials)
    except ValueError as error:  # AttentionTrace refuses rows that do not sum to 1
        return CheckResult(name, False, float("inf"), tolerance, f"the result is not a valid trace: {error}")
    sums = np.asarray(shown.weights, dtype=np.float64).sum(axis=-1)
    sums = sums[sums > 0]  # a row with nothing left is shown empty, by design
    worst = float(np.abs(sums - 1).max()) if sums.size else 0.0
    hidden = len(trace.tokens) - len(shown.tokens)
    return _result(name, worst, tolerance, f"{hidden} special token(s) hidden; worst row off by {worst:.2e}")


def reference_attentions(bundle, text: str) -> np.ndarray:
    """transformers' own attentions for the text, (L, H, T, T): the tokenizer and model called directly."""
    inputs = bundle.tokenizer(text, return_tensors="pt", truncation=True, max_length=bundle.max_len)
    with torch.inference_mode():
        output = bundle.model(**inputs.to(bundle.device), output_attentions=True)
    return torch.stack([a[0] for a in output.attentions]).float().cpu().numpy()


def trace_parity_check(weights: np.ndarray, reference: np.ndarray, tolerance: float = 1e-5) -> CheckResult:
    """A trace's weights equal the reference attentions (same shape, same numbers)."""
    name = "MiniLM's trace equals transformers' own attentions"
    weights, reference = np.asarray(weights), np.asarray(reference)
    if weights.shape != reference.shape:
        return CheckResult(name, False, float("inf"), tolerance,
                           f"shapes differ: trace {weights.shape}, transformers {reference.shape}")
    worst = float(np.abs(weights - reference).max())
    return _result(name, worst, tolerance, f"{weights.size:,} weights of shape {weights.shape}; "
                                           f"largest difference {worst:.1e}")
