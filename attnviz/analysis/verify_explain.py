"""Live identity checks of the explanation tools (the Verify page): integrated-gradient completeness, ablating
nothing, patching everything, rollout against its formula, and a HuggingFace model's logits against
transformers called directly. Each returns a CheckResult with its worst error."""
from __future__ import annotations

from functools import reduce

import numpy as np
import torch

from attnviz.analysis.attribution import attribute
from attnviz.analysis.id_runs import encode_ids, mask_id, run_ids
from attnviz.analysis.patching import _recorder, default_metric
from attnviz.analysis.rollout import rollout
from attnviz.analysis.verify import CheckResult, _result
from attnviz.nn.edit import ActivationEdit


def ig_completeness_check(bundle, text: str, tolerance: float = 0.05) -> CheckResult:
    """Integrated gradients: sum(scores) = f(x) - f(baseline), up to 5 % of the gap (steps adapt)."""
    result = attribute(bundle, text, "integrated_gradients")
    share = abs(result.delta) / abs(result.target_gap) if result.target_gap else float("inf")
    return _result("Integrated gradients add up to f(x) − f(baseline)", share, tolerance,
                   f"target {result.target!r}; gap {result.target_gap:.4f}, sum off by {result.delta:.2e} "
                   f"({share:.1%}) with {result.steps} steps")


def ablate_nothing_check(bundle, text: str) -> CheckResult:
    """Switching no head off gives the very same logits."""
    worst = float((bundle.logits(text, ablate=[]) - bundle.logits(text)).abs().max())
    return _result("Switching no head off changes nothing", worst, 0.0, f"largest logit difference {worst:.1e}")


def patch_everything_check(bundle, text: str, tolerance: float = 1e-4) -> CheckResult:
    """The text with its first ordinary token masked (corrupt), its whole residual stream entering layer 0
    taken from the text itself (clean): the fraction of the gap restored is 1."""
    clean = encode_ids(bundle, text)
    ordinary = [i for i, special in enumerate(clean.special) if not special]
    corrupt = list(clean.ids)
    corrupt[ordinary[0]] = mask_id(bundle)
    store: dict = {}
    cases = None if clean.cases is None else [clean.cases]
    clean_logits = run_ids(bundle, [clean.ids], cases, _recorder(store))[0]
    corrupt_logits = run_ids(bundle, [corrupt], cases)[0]
    position = ordinary[-1] if bundle.task == "ner" else (len(corrupt) - 1 if bundle.task == "lm" else None)
    metric, clean_metric, name = default_metric(bundle, clean_logits, corrupt_logits, position, position)
    gap = float(clean_metric(clean_logits[None])[0] - metric(corrupt_logits[None])[0])
    source = store[("residual", 0)]
    patched = run_ids(bundle, [corrupt], cases, ActivationEdit(residual=lambda at, x: source if at == 0 else x))[0]
    restored = float(metric(patched[None])[0] - metric(corrupt_logits[None])[0]) / gap if gap else float("nan")
    return _result("Patching the whole residual stream restores everything", abs(restored - 1.0), tolerance,
                   f"{name}: gap {gap:.4f} (first token masked), restored {restored:.6f}")


def rollout_formula_check(trace, residual: float = 0.5, tolerance: float = 1e-9) -> CheckResult:
    """rollout(trace)[-1] equals the product A'_L ... A'_1 written out, A'_l = rows-normalised r I + (1 - r) mean_h A_l."""
    weights = np.asarray(trace.weights, dtype=np.float64)  # (L, H, T, T)
    eye = np.eye(weights.shape[-1])
    mixed = [residual * eye + (1 - residual) * layer.mean(axis=0) for layer in weights]
    mixed = [m / m.sum(axis=1, keepdims=True) for m in mixed]
    expected = reduce(lambda acc, m: m @ acc, mixed[1:], mixed[0])
    worst = float(np.abs(rollout(trace, residual)[-1] - expected).max())
    return _result("Rollout equals its formula (product of mixed attention)", worst, tolerance,
                   f"{len(mixed)} layers, {weights.shape[-1]} tokens; largest difference {worst:.1e}")


def hf_logits_check(bundle, text: str, tolerance: float = 1e-4) -> CheckResult:
    """A HuggingFace bundle's logits equal transformers' own (tokenizer and model called directly)."""
    inputs = bundle.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        reference = bundle.model(**inputs.to(bundle.device)).logits[0].float().cpu()
    ours = bundle.logits(text)
    if ours.shape != reference.shape:
        return CheckResult(f"{bundle.name}'s logits equal transformers' own", False, float("inf"), tolerance,
                           f"shapes differ: {tuple(ours.shape)} and {tuple(reference.shape)}")
    worst = float((ours - reference).abs().max())
    return _result(f"{bundle.name}'s logits equal transformers' own", worst, tolerance,
                   f"{ours.numel():,} logits; largest difference {worst:.1e}")
