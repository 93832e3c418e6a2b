"""Activation patching (causal tracing): which site of the network carries the difference between two texts.

Run the corrupt text, but let one site take its value from the clean run; the metric m (default: the logit
of the clean prediction minus the logit of the corrupt one: the label for classifiers, the next token for
LMs, the tag of one token for taggers) then moves from m(corrupt) towards m(clean). The result is the
fraction of that gap restored: (m(patched) - m(corrupt)) / (m(clean) - m(corrupt)); 0 = nothing, 1 = all.
- site="residual": (layers + 1) x corrupt positions: the residual stream entering each block at one
  position (row n_layers: the last block's output, before any final norm);
- site="heads": layers x heads: one head's context vector (the site head ablation zeroes), at every position.
Texts of equal token count are patched position by position; when they tokenise to different lengths, tokens are aligned as `align_tokens` does and only aligned
positions are patched (unaligned residual cells are NaN; a head is patched at aligned positions only).
Every site of one layer goes through the model in one forward pass that starts as one sequence and widens
to one row per site at the patched layer (the layers below it are the corrupt run's, computed once).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.analysis.arguments import check_choice, check_optional_int, check_text
from attnviz.analysis.id_runs import encode_ids, run_ids
from attnviz.analysis.minimal_pairs import align_tokens
from attnviz.analysis.targets import require_prediction
from attnviz.errors import InputError
from attnviz.nn.edit import ActivationEdit

SITES = ("residual", "heads")
Metric = Callable[[torch.Tensor], torch.Tensor]  # logits (N, ...) -> (N,)


@dataclass(frozen=True)
class PatchResult:
    """restored: (layers + 1, positions) for residual, (layers, heads) for heads; tokens: the corrupt text's
    tokens; clean_score/corrupt_score: m on each run; aligned: number of patched positions; note: what was done."""

    site: str
    restored: np.ndarray
    tokens_clean: list[str]
    tokens_corrupt: list[str]
    clean_score: float
    corrupt_score: float
    metric: str
    aligned: int
    note: str


def _recorder(store: dict) -> ActivationEdit:
    def residual(layer: int, x: torch.Tensor) -> torch.Tensor:
        store[("residual", layer)] = x.detach().clone()
        return x

    def context(layer: int, c: torch.Tensor) -> torch.Tensor:
        store[("context", layer)] = c.detach().clone()
        return c
    return ActivationEdit(residual, context)


def default_metric(bundle, clean_logits: torch.Tensor, corrupt_logits: torch.Tensor, corrupt_position: int | None,
                   clean_position: int | None) -> tuple[Metric, Metric, str]:
    """logit(clean prediction) - logit(corrupt prediction) at the deciding slot of the corrupt run; when both
    predict the same, the clean prediction against its runner-up."""
    def row(logits, position):
        if logits.dim() == 1:
            return logits
        return logits[position] if position is not None else logits[-1]
    clean_row, corrupt_row = row(clean_logits, clean_position), row(corrupt_logits, corrupt_position)
    good = int(clean_row.argmax())
    bad = int(corrupt_row.argmax())
    if bad == good:
        bad = int(torch.topk(clean_row, 2).indices[1])
    names = bundle.labels if bundle.task != "lm" else None
    name = (lambda i: names[i]) if names else (lambda i: repr(bundle.tokenizer.decode([i]) if hasattr(
        bundle.tokenizer, "convert_ids_to_tokens") else bundle.tokenizer.id_to_token(i)))

    def at(position: int | None) -> Metric:
        def metric(logits: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (N,)
            chosen = logits if logits.dim() == 2 else logits[:, position if position is not None else -1]
            return (chosen[:, good] - chosen[:, bad]).double()
        return metric
    return at(corrupt_position), at(clean_position), f"logit({name(good)}) − logit({name(bad)})"


def _decision_position(bundle, clean_logits, corrupt_logits, pairs, position: int | None) -> tuple[int | None, int | None]:
    """(corrupt, clean) positions whose output decides: None for sentence labels, the last for LMs, for a
    tagger `position` (a corrupt position) or the first aligned token whose predicted tag differs."""
    if bundle.task == "ner":
        mapping = dict((b, a) for a, b in pairs)
        if position is None:
            changed = [b for a, b in pairs if int(clean_logits[a].argmax()) != int(corrupt_logits[b].argmax())]
            position = changed[0] if changed else (pairs[-1][1] if pairs else 0)
        if position not in mapping:
            raise InputError(f"token {position} of the corrupt text has no counterpart in the clean text")
        return position, mapping[position]
    if bundle.task == "lm":
        return -1, -1  # the next token after each text
    return None, None


def patch(bundle, clean: str, corrupt: str, site: str = "residual", metric: Metric | None = None,
          position: int | None = None, progress: Callable[[float, str], None] | None = None) -> PatchResult:
    """Patch each site of the corrupt run from the clean run (see the module docstring).

    metric: logits (N, ...) -> (N,), default the logit difference of the two predictions; position: a
    tagger's deciding token (index in the corrupt text)."""
    check_text("clean", clean)
    check_text("corrupt", corrupt)
    site = check_choice("site", site, SITES)
    position = check_optional_int("position", position, 0, 1_000_000)
    require_prediction(bundle)
    a, b = encode_ids(bundle, clean), encode_ids(bundle, corrupt)
    if len(a.ids) == len(b.ids):  # a minimal pair of equal length: position i patches position i
        pairs = [(i, i) for i in range(len(a.ids))]
    else:
        pairs, _ = align_tokens(a.tokens, b.tokens)
    if not pairs:
        raise InputError("the two texts share no token, so no position can be patched")
    store: dict = {}
    clean_logits = run_ids(bundle, [a.ids], None if a.cases is None else [a.cases], _recorder(store))[0]
    corrupt_logits = run_ids(bundle, [b.ids], None if b.cases is None else [b.cases])[0]
    where, where_clean = _decision_position(bundle, clean_logits, corrupt_logits, pairs, position)
    last_only = metric is None and bundle.task == "lm"  # the default metric reads the last position only
    if metric is None:
        metric, clean_metric, name = default_metric(bundle, clean_logits, corrupt_logits, where, where_clean)
    else:
        clean_metric, name = metric, getattr(metric, "__name__", "metric")
    clean_score = float(clean_metric(clean_logits[None])[0])
    corrupt_score = float(metric(corrupt_logits[None])[0])
    gap = clean_score - corrupt_score
    if abs(gap) < 1e-6 * max(1.0, abs(clean_score)):
        raise InputError(f"the two texts give the same {name} ({clean_score:.4f}): there is no gap for patching "
                         "to restore. Change a word that changes the prediction.")
    ia = torch.tensor([i for i, _ in pairs])
    ib = torch.tensor([j for _, j in pairs])
    cases = None if b.cases is None else b.cases
    n_layers = bundle.n_layers
    if site == "residual":
        restored = np.full((n_layers + 1, len(b.ids)), np.nan)
        for layer in range(n_layers + 1):
            source = store[("residual", layer)][0]  # (T_clean, d)

            def edit(at: int, x: torch.Tensor, layer=layer, source=source) -> torch.Tensor:
                if at != layer:
                    return x
                x = x.expand(len(ib), -1, -1).clone()  # (1, T, d) -> (N, T, d): one row per patched position
                x[torch.arange(len(ib)), ib] = source[ia].to(x.dtype)  # row k: position ib[k] from the clean run
                return x
            logits = run_ids(bundle, [b.ids], None if cases is None else [cases], ActivationEdit(residual=edit),
                             last_only=last_only)
            restored[layer, ib.numpy()] = (metric(logits).numpy() - corrupt_score) / gap
            if progress is not None:
                progress((layer + 1) / (n_layers + 1), f"residual stream entering layer {layer}")
    else:
        n_heads = bundle.n_heads
        restored = np.zeros((n_layers, n_heads))
        for layer in range(n_layers):
            source = store[("context", layer)][0]  # (H, T_clean, d_head)

            def edit(at: int, c: torch.Tensor, layer=layer, source=source) -> torch.Tensor:
                if at != layer:
                    return c
                c = c.expand(n_heads, -1, -1, -1).clone()  # (1, H, T, d_head) -> (H, H, T, d_head)
                for h in range(n_heads):  # row h: head h from the clean run at the aligned positions
                    c[h, h, ib] = source[h, ia].to(c.dtype)
                return c
            logits = run_ids(bundle, [b.ids], None if cases is None else [cases], ActivationEdit(context=edit),
                             last_only=last_only)
            restored[layer] = (metric(logits).numpy() - corrupt_score) / gap
            if progress is not None:
                progress((layer + 1) / n_layers, f"heads of layer {layer}")
    full = len(pairs) == len(a.ids) == len(b.ids)
    note = (f"Each cell: the corrupt text run with that one site taken from the clean text ({name}); "
            + ("every position is aligned." if full else
               f"the texts differ in length, so only the {len(pairs)} aligned positions were patched."))
    return PatchResult(site, restored, a.tokens, b.tokens, clean_score, corrupt_score, name, len(pairs), note)


def patch_everything(bundle, clean: str, corrupt: str, layer: int = 0) -> float:
    """The identity check: the corrupt run with its whole residual stream entering `layer` taken from the clean
    run (same token count required) -> the fraction restored (exactly 1 for layer 0 up to float rounding)."""
    a, b = encode_ids(bundle, clean), encode_ids(bundle, corrupt)
    if len(a.ids) != len(b.ids):
        raise InputError("patching everything needs two texts of the same token count")
    store: dict = {}
    clean_logits = run_ids(bundle, [a.ids], None if a.cases is None else [a.cases], _recorder(store))[0]
    corrupt_logits = run_ids(bundle, [b.ids], None if b.cases is None else [b.cases])[0]
    pairs = list(zip(range(len(a.ids)), range(len(b.ids))))
    where, where_clean = _decision_position(bundle, clean_logits, corrupt_logits, pairs, None)
    metric, clean_metric, _ = default_metric(bundle, clean_logits, corrupt_logits, where, where_clean)
    source = store[("residual", layer)]
    edit = ActivationEdit(residual=lambda at, x: source.to(x.dtype) if at == layer else x)
    patched = run_ids(bundle, [b.ids], None if b.cases is None else [b.cases], edit)
    clean_score, corrupt_score = float(clean_metric(clean_logits[None])[0]), float(metric(corrupt_logits[None])[0])
    return (float(metric(patched)[0]) - corrupt_score) / (clean_score - corrupt_score)
