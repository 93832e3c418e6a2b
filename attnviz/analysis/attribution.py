"""Attribution: how much each input token adds to one prediction.

f is the logit of the target (a label, the tag of one token, or the LM's next token). Methods:
- "integrated_gradients" (Sundararajan et al. 2017): scores_t = sum_d (x - x')_td * mean over the
  path x' + a (x - x') of df/dx_td, the path integral taken with Gauss-Legendre nodes on a in [0, 1].
  x are the token embeddings, the baseline x' is the padding token's embedding at every position.
  Completeness: sum(scores) = f(x) - f(x'); delta reports the gap left by the finite number of steps.
- "gradient_x_input": scores_t = sum_d x_td * df/dx_td at the input itself.
- "rollout": the attention rollout row (attnviz.analysis.rollout) of the position that decides:
  the mean of all rows for a mean-pooled classifier, the first token ([CLS]) for a HuggingFace
  encoder classifier, the last token for a decoder, the chosen token for a tagger.
- "attention": the raw attention of the last layer, averaged over heads, from the same row(s):
  what a reader of attention maps would take as the explanation, for comparison.
- "occlusion": the drop in the target's probability when each token is removed (attnviz.analysis.occlusion;
  perturb="mask" puts the mask token in its place instead): the perturbation reference.
Integrated gradients adapts its steps: while |delta| exceeds 5 % of |f(x) - f(x')| it doubles them, up to
256 (Attribution.steps reports the steps used).
Hand-written rather than Captum, so no runtime dependency; tested against the completeness axiom and
against Captum's IntegratedGradients (tests/test_analysis_attribution.py).
Gradients are taken with torch.autograd.grad, so nothing accumulates on the shared model's parameters.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from attnviz.analysis.rollout import rollout
from attnviz.analysis.targets import require_prediction, Attribution, Target, choose_target, slot_probabilities, target_logit  # noqa: F401 (re-exported)
from attnviz.analysis.arguments import MAX_STEPS, check_choice, check_int, check_optional_int, check_text
from attnviz.analysis.occlusion import PERTURBATIONS, occlusion
from attnviz.errors import InputError

METHODS = ("integrated_gradients", "gradient_x_input", "rollout", "attention", "occlusion")
METHOD_NAMES = {"integrated_gradients": "Integrated gradients", "gradient_x_input": "Gradient × input",
                "rollout": "Attention rollout", "attention": "Raw attention (last layer)",
                "occlusion": "Occlusion", "random": "Random order"}  # what people read, by method id
DEFAULT_STEPS = 32
ADAPTIVE_MAX_STEPS = 256  # doubling stops here
ADAPTIVE_TOLERANCE = 0.05  # |delta| / |gap| that is good enough
STEP_BATCH = 16  # interpolation points per forward pass


def integrated_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, baseline: torch.Tensor,
                         steps: int = DEFAULT_STEPS) -> tuple[np.ndarray, float, float]:
    """f: (N, T, d) -> (N,); x, baseline: (1, T, d). Returns per-token scores (T,), the completeness gap
    delta = sum(scores) - (f(x) - f(baseline)), and f(x) - f(baseline)."""
    steps = check_int("steps", steps, 1, MAX_STEPS)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)  # on [0, 1]
    alpha_weights = torch.tensor(weights / 2, dtype=x.dtype, device=x.device)  # they sum to 1
    difference = x - baseline  # (1, T, d)
    total = torch.zeros_like(x)
    with torch.enable_grad():
        for start in range(0, steps, STEP_BATCH):
            a = alphas[start:start + STEP_BATCH]
            points = (baseline + a[:, None, None] * difference).requires_grad_(True)  # (n, T, d)
            (grads,) = torch.autograd.grad(f(points).sum(), points)
            total = total + (alpha_weights[start:start + STEP_BATCH, None, None] * grads).sum(0, keepdim=True)
    scores = (difference * total)[0].sum(-1).detach().double().cpu().numpy()  # (T,)
    with torch.no_grad():
        ends = f(torch.cat([x, baseline])).double()  # (2,)
    gap = float(ends[0] - ends[1])
    return scores, float(scores.sum()) - gap, gap


def gradient_x_input(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> np.ndarray:
    """f: (N, T, d) -> (N,); x: (1, T, d). Per-token sum_d x * df/dx, shape (T,)."""
    with torch.enable_grad():
        point = x.clone().requires_grad_(True)
        (grads,) = torch.autograd.grad(f(point).sum(), point)
    return (x * grads)[0].sum(-1).detach().double().cpu().numpy()


def rollout_scores(bundle, text: str, rows: str | int, raw: bool = False) -> np.ndarray:
    """The last layer's rollout (raw=True: its plain attention, mean over heads) over the keys, seen
    from the deciding row(s) ("mean", "first", "last" or a token index)."""
    trace = bundle.trace(text)
    flow = trace.mean_over_heads(trace.n_layers - 1).astype(np.float64) if raw else rollout(trace)[-1]  # (Q, K)
    if rows == "mean":
        return flow.mean(axis=0)
    index = 0 if rows == "first" else (flow.shape[0] - 1 if rows == "last" else int(rows))
    return flow[index]


def adaptive_integrated_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                                  baseline: torch.Tensor, steps: int) -> tuple[np.ndarray, float, float, int]:
    """integrated_gradients, doubling the steps while |delta| > 5 % of |gap| (up to 256 steps, or the
    steps asked for when more). Returns scores, delta, gap and the steps used."""
    while True:
        scores, delta, gap = integrated_gradients(f, x, baseline, steps)
        if abs(delta) <= ADAPTIVE_TOLERANCE * abs(gap) or steps * 2 > max(ADAPTIVE_MAX_STEPS, steps):
            return scores, delta, gap, steps
        steps *= 2


def attribute(bundle, text: str, method: str = "integrated_gradients", target: int | str | None = None,
              position: int | None = None, steps: int = DEFAULT_STEPS, perturb: str = "delete") -> Attribution:
    """Scores per token for the bundle's prediction on `text` (see the module docstring).

    steps: integrated gradients' first number of steps (1..1024; doubled while the gap is > 5 %);
    perturb: occlusion's "delete" (the token leaves the id sequence) or "mask" (the mask token replaces it).
    """
    check_text("text", text)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}; method must be one of {list(METHODS)}")
    perturb = check_choice("perturb", perturb, PERTURBATIONS)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    position = check_optional_int("position", position, 0, 1_000_000)
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, str))):
        raise InputError(f"target must be a label or token (text) or its index, got {type(target).__name__}")
    require_prediction(bundle)
    if method == "occlusion":
        return occlusion(bundle, text, target, position, perturb)
    inputs = bundle.embedding_inputs(text)
    with torch.no_grad():
        logits = inputs.forward(inputs.embeds)[0].float()
    chosen = choose_target(bundle, logits, target, position)

    def f(points: torch.Tensor) -> torch.Tensor:
        return target_logit(inputs.forward(points), chosen)

    delta = gap = used = None
    if method == "integrated_gradients":
        scores, delta, gap, used = adaptive_integrated_gradients(f, inputs.embeds, inputs.baseline, steps)
    elif method == "gradient_x_input":
        scores = gradient_x_input(f, inputs.embeds)
    else:
        rows = chosen.position if chosen.position is not None and bundle.task == "ner" else inputs.pooling
        scores = rollout_scores(bundle, text, rows, raw=method == "attention")
    label = chosen.label if bundle.task != "ner" else f"{chosen.label} @ {inputs.tokens[chosen.position]}"
    return Attribution(list(inputs.tokens), np.asarray(scores, dtype=np.float64), label, delta, method,
                       chosen.position, gap, used)
