"""Which explanation to believe: ERASER-style faithfulness of each attribution method (DeYoung et al. 2020).

For every text, p is the probability of the class predicted on the full text (a tagger: the tag of the
chosen token, by default its most confident entity token; an LM: the next token at the last position).
The n ordinary tokens (special tokens are never ranked or removed; nor is a tagger's explained token)
are ranked by each method's signed score toward that class; top-k = max(1, round(k * n)).
- comprehensiveness@k = p(x) - p(x without the top-k tokens)      (higher: the method found what matters)
- sufficiency@k       = p(x) - p(only the top-k tokens kept)        (lower: those tokens suffice)
- comprehensiveness_aopc / sufficiency_aopc: their mean over k in {1, 5, 10, 20, 50} %
- deletion_aopc: the mean drop p(x) - p(...) over the 11-point deletion curve (top 0, 10, ..., 100 % of
  the tokens deleted, round(q * n) tokens each); `curves` holds the mean probability at those points.
Tokens are deleted from the id sequence (the text gets shorter; perturb="mask" puts the mask token in their
place instead); a text left with no token is read as one padding token. A `random` row (a seeded random
order) is the floor. Means come with 95 % percentile bootstrap intervals (2,000 seeded resamples, the same
resamples for every method so `compare` is paired). Perturbed texts go through the model in padded batches.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attnviz.analysis.arguments import MAX_STEPS, check_choice, check_fractions, check_int, check_texts
from attnviz.analysis.attribution import DEFAULT_STEPS, METHOD_NAMES, METHODS, attribute
from attnviz.analysis.bootstrap import mean_interval, resample_indices
from attnviz.analysis.id_runs import Encoding, encode_ids, logits_for, mask_id
from attnviz.analysis.occlusion import PERTURBATIONS, perturbed
from attnviz.analysis.targets import require_prediction, Target, choose_target, probability_of
from attnviz.errors import InputError

AOPC_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)
CURVE = tuple(np.round(np.linspace(0, 1, 11), 2))
RANDOM = "random"
CHUNK = 16  # texts whose perturbations share padded batches
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TextResult:
    """One text, one method: the metric values and the deletion curve (11 probabilities)."""

    values: dict[str, float]
    curve: np.ndarray


@dataclass(frozen=True)
class FaithfulnessReport:
    """table: method, metric, value, ci_low, ci_high, n (table.attrs["seconds_per_sentence"]: per method);
    curves: method -> mean probability after deleting the top 0, 10, ..., 100 % of tokens;
    per_text: method -> metric -> values per scored text; texts: how many texts were scored (n)."""

    table: pd.DataFrame
    curves: dict[str, np.ndarray]
    per_text: dict[str, dict[str, np.ndarray]]
    seconds: dict[str, float]
    seed: int = 0
    skipped: list[str] = field(default_factory=list)

    def compare(self, a: str, b: str) -> pd.DataFrame:
        """Paired difference a - b per metric: metric, difference, ci_low, ci_high, n."""
        for name in (a, b):
            if name not in self.per_text:
                raise InputError(f"no method {name!r} in this report; it has {list(self.per_text)}")
        rows = []
        for metric, values in self.per_text[a].items():
            diff = values - self.per_text[b][metric]
            mean, low, high = mean_interval(diff, resample_indices(len(diff), self.seed))
            rows.append({"metric": metric, "difference": mean, "ci_low": low, "ci_high": high, "n": len(diff)})
        return pd.DataFrame(rows)

    def verdict(self) -> str:
        """One line in words: the most faithful method by comprehensiveness AOPC, against random."""
        rows = self.table[self.table.metric == "comprehensiveness_aopc"].set_index("method")
        ranked = rows.drop(index=RANDOM, errors="ignore").sort_values("value", ascending=False)
        if ranked.empty:
            return "No method was scored."
        best, row = ranked.index[0], ranked.iloc[0]
        name = lambda method: METHOD_NAMES.get(method, method).lower().replace("(last layer)", "of the last layer")  # noqa: E731
        floor = f", against {rows.loc[RANDOM, 'value']:.2f} for random order" if RANDOM in rows.index else ""
        worst = f"; the least faithful is {name(ranked.index[-1])} ({ranked.iloc[-1].value:.2f})" if len(ranked) > 1 else ""
        return (f"Most faithful here: {name(best)} — deleting its top tokens lowers the prediction's probability by "
                f"{row.value:.2f} on average (comprehensiveness AOPC, 95 % CI {row.ci_low:.2f}–{row.ci_high:.2f}, "
                f"n = {int(row.n)}){floor}{worst}.")


def ranking(scores: np.ndarray, candidates: list[int]) -> list[int]:
    """Candidate positions, highest signed score first (ties: earlier position first)."""
    return sorted(candidates, key=lambda i: (-float(scores[i]), i))


def _plan(encoding: Encoding, order: list[int], fractions: Sequence[float], perturb: str, mask: int,
          position: int | None) -> dict[str, tuple]:
    """The perturbed inputs one text needs for one ranking, by name."""
    n = len(order)
    top = lambda k: max(1, round(k * n))  # noqa: E731
    keep_only = lambda count: set(range(len(encoding.ids))) - {i for i in order[:count]} - {  # noqa: E731
        i for i, s in enumerate(encoding.special) if s}
    plan = {}
    for k in sorted(set(fractions) | set(AOPC_BINS)):
        plan[f"comp{k}"] = perturbed(encoding, set(order[:top(k)]), perturb, mask, position)
        plan[f"suff{k}"] = perturbed(encoding, keep_only(top(k)) - {position}, perturb, mask, position)
    for q in CURVE:
        plan[f"curve{q}"] = perturbed(encoding, set(order[:round(q * n)]), perturb, mask, position)
    return plan


def _metrics(p: float, probs: dict[str, float], fractions: Sequence[float]) -> TextResult:
    values = {}
    for k in fractions:
        values[f"comprehensiveness@{k:g}"] = p - probs[f"comp{k}"]
        values[f"sufficiency@{k:g}"] = p - probs[f"suff{k}"]
    values["comprehensiveness_aopc"] = float(np.mean([p - probs[f"comp{k}"] for k in AOPC_BINS]))
    values["sufficiency_aopc"] = float(np.mean([p - probs[f"suff{k}"] for k in AOPC_BINS]))
    curve = np.array([probs[f"curve{q}"] for q in CURVE])
    values["deletion_aopc"] = float(np.mean(p - curve))
    return TextResult(values, curve)


def score_method(bundle, items: list[tuple[Encoding, Target, float]], orders: list[list[int]],
                 fractions: Sequence[float], perturb: str) -> list[TextResult]:
    """Run every perturbation of these texts for one method's rankings (deduplicated, batched)."""
    mask = mask_id(bundle)
    plans = [_plan(enc, order, fractions, perturb, mask, target.position)
             for (enc, target, _), order in zip(items, orders)]
    unique: dict[tuple, int] = {}
    runs = []
    for plan in plans:
        for ids, cases, _ in plan.values():
            key = (tuple(ids), None if cases is None else tuple(cases))
            if key not in unique:
                unique[key] = len(runs)
                runs.append((ids, cases))
    has_cases = items[0][0].cases is not None
    logits = logits_for(bundle, [r[0] for r in runs], [r[1] for r in runs] if has_cases else None)
    results = []
    for (enc, target, p), plan in zip(items, plans):
        probs = {name: probability_of(logits[unique[(tuple(ids), None if cases is None else tuple(cases))]],
                                      target, where) for name, (ids, cases, where) in plan.items()}
        results.append(_metrics(p, probs, fractions))
    return results


def prepare(bundle, text: str) -> tuple[Encoding, Target, float, list[int]] | None:
    """The text's ids, target, p(x) and rankable positions; None when nothing can be ranked."""
    encoding = encode_ids(bundle, text)
    full = logits_for(bundle, [encoding.ids], None if encoding.cases is None else [encoding.cases])[0]
    target = choose_target(bundle, full)
    candidates = [i for i, s in enumerate(encoding.special) if not s and i != target.position]
    if not candidates:
        return None
    return encoding, target, probability_of(full, target, target.position), candidates


def faithfulness(bundle, texts: Sequence[str] | str, methods: Sequence[str] | None = None,
                 fractions: Sequence[float] = (0.1, 0.2, 0.5), seed: int = 0, perturb: str = "delete",
                 steps: int = DEFAULT_STEPS, progress: Progress | None = None) -> FaithfulnessReport:
    """Score attribution methods on texts (see the module docstring); methods: default all, plus random."""
    texts = check_texts("texts", texts)
    methods = list(METHODS) if methods is None else [check_choice("methods", m, (*METHODS, RANDOM)) for m in methods]
    methods = list(dict.fromkeys([*methods, RANDOM]))
    fractions = check_fractions("fractions", fractions)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    perturb = check_choice("perturb", perturb, PERTURBATIONS)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    require_prediction(bundle)
    per_text: dict[str, list[TextResult]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    skipped: list[str] = []
    scored = 0
    for start in range(0, len(texts), CHUNK):
        items, kept = [], []
        for text in texts[start:start + CHUNK]:
            try:
                prepared = prepare(bundle, text)
            except InputError:
                prepared = None
            if prepared is None:
                skipped.append(text)
                continue
            items.append(prepared[:3])
            kept.append((text, prepared[3]))
        for m_index, method in enumerate(methods):
            began = time.perf_counter()
            orders = []
            for (text, candidates), (_, target, _) in zip(kept, items):
                if method == RANDOM:
                    rng = np.random.default_rng([seed, start + len(orders)])
                    orders.append([candidates[i] for i in rng.permutation(len(candidates))])
                else:
                    scores = attribute(bundle, text, method, position=target.position, steps=steps,
                                       perturb=perturb).scores
                    orders.append(ranking(scores, candidates))
            if items:
                per_text[method] += score_method(bundle, items, orders, fractions, perturb)
            seconds[method] += time.perf_counter() - began
            if progress is not None:
                done = (start + (m_index + 1) / len(methods) * min(CHUNK, len(texts) - start)) / len(texts)
                progress(min(done, 1.0), f"{method}: {min(start + CHUNK, len(texts))} of {len(texts)} texts")
        scored += len(items)
    if not scored:
        raise InputError("none of the texts has a token to rank (or, for a tagger, an entity to explain)")
    return build_report(per_text, {m: s / scored for m, s in seconds.items()}, seed, skipped)


def build_report(per_text: dict[str, list[TextResult]], seconds: dict[str, float], seed: int,
                 skipped: list[str]) -> FaithfulnessReport:
    n = len(next(iter(per_text.values())))
    indices = resample_indices(n, seed)
    rows, arrays, curves = [], {}, {}
    for method, results in per_text.items():
        arrays[method] = {metric: np.array([r.values[metric] for r in results]) for metric in results[0].values}
        curves[method] = np.mean([r.curve for r in results], axis=0)
        for metric, values in arrays[method].items():
            value, low, high = mean_interval(values, indices)
            rows.append({"method": method, "metric": metric, "value": value, "ci_low": low, "ci_high": high, "n": n})
    table = pd.DataFrame(rows, columns=["method", "metric", "value", "ci_low", "ci_high", "n"])
    table.attrs["seconds_per_sentence"] = dict(seconds)
    return FaithfulnessReport(table, curves, arrays, dict(seconds), seed, skipped)


def text_curves(bundle, text: str, methods: Sequence[str] = METHODS, perturb: str = "delete",
                attributions: dict | None = None) -> dict[str, np.ndarray]:
    """For one text: each method's deletion curve (p after deleting its top 0, 10, ..., 100 % of tokens).
    attributions: already computed Attribution per method (the Why page has them), else computed here."""
    prepared = prepare(bundle, text)
    if prepared is None:
        raise InputError("the text has no token to delete")
    encoding, target, p, candidates = prepared
    out = {}
    for method in [*methods, RANDOM]:
        if method == RANDOM:
            order = [candidates[i] for i in np.random.default_rng(0).permutation(len(candidates))]
        else:
            found = (attributions or {}).get(method)
            scores = found.scores if found is not None else attribute(bundle, text, method, position=target.position,
                                                                       perturb=perturb).scores
            order = ranking(scores, candidates)
        out[method] = score_method(bundle, [(encoding, target, p)], [order], (0.1,), perturb)[0].curve
    return out
