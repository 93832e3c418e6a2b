"""Occlusion: the drop in the target's probability when one token is taken away.

score_t = p(x) - p(x without token t), p the probability (not the logit) of the explained target (a
label, the tag of one token, the LM's next token). perturb="delete" removes the token from the id
sequence (the text gets one token shorter); perturb="mask" puts the mask token ([MASK], else the
unknown token) in its place. Special tokens ([CLS], [SEP]...) are never removed and score 0. For a
tagger the explained token itself is always masked, never deleted (its tag must still be read).
All perturbed texts go through the model in one padded batch.
"""
from __future__ import annotations

import numpy as np

from attnviz.analysis.id_runs import Encoding, encode_ids, logits_for, mask_id
from attnviz.analysis.targets import Attribution, Target, choose_target, probability_of

PERTURBATIONS = ("delete", "mask")


def perturbed(encoding: Encoding, drop: set[int], perturb: str, mask: int, keep_position: int | None = None
              ) -> tuple[list[int], list[int] | None, int | None]:
    """The ids (and case ids) with the positions in `drop` deleted or masked, and where
    `keep_position` (the tagger's explained token) ends up."""
    ids, cases = list(encoding.ids), None if encoding.cases is None else list(encoding.cases)
    if perturb == "mask":
        for i in drop:
            ids[i] = mask
        return ids, cases, keep_position
    keep = [i for i in range(len(ids)) if i not in drop or i == keep_position]
    if keep_position is not None and keep_position in drop:
        ids[keep_position] = mask
    new_position = None if keep_position is None else keep.index(keep_position)
    return [ids[i] for i in keep], None if cases is None else [cases[i] for i in keep], new_position


def occlusion_scores(bundle, encoding: Encoding, target: Target, perturb: str = "delete") -> tuple[np.ndarray, float]:
    """Per-token drop in p(target) (T,), and p(target) on the full text."""
    mask = mask_id(bundle)
    where = [i for i, special in enumerate(encoding.special) if not special]
    runs = [perturbed(encoding, set(), perturb, mask, target.position)]
    runs += [perturbed(encoding, {i}, perturb, mask, target.position) for i in where]
    logits = logits_for(bundle, [r[0] for r in runs], None if encoding.cases is None else [r[1] for r in runs])
    probs = [probability_of(l, target, r[2]) for l, r in zip(logits, runs)]
    scores = np.zeros(len(encoding.ids))
    scores[where] = probs[0] - np.asarray(probs[1:])
    return scores, probs[0]


def occlusion(bundle, text: str, target: int | str | None = None, position: int | None = None,
              perturb: str = "delete") -> Attribution:
    """attnviz.analysis.attribute(bundle, text, method="occlusion") (see the module docstring)."""
    encoding = encode_ids(bundle, text)
    full = logits_for(bundle, [encoding.ids], None if encoding.cases is None else [encoding.cases])[0]
    chosen = choose_target(bundle, full, target, position)
    scores, _ = occlusion_scores(bundle, encoding, chosen, perturb)
    label = chosen.label if bundle.task != "ner" else f"{chosen.label} @ {encoding.tokens[chosen.position]}"
    return Attribution(encoding.tokens, scores, label, None, "occlusion", chosen.position, None)
