"""From per-piece tag probabilities to per-word tags and entity spans (shared by our and HF models).

Tags are decoded with BIO constraints (Viterbi): I-X may only follow B-X or I-X, so the tags always
read as whole entities. Label sets that are not BIO are decoded by argmax.
"""
from __future__ import annotations

import torch


def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not kind:
        raise ValueError(f"tag {tag!r} is not BIO (expected O, B-TYPE or I-TYPE)")
    return prefix, kind


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entities as (type, start, end_exclusive), with conlleval's reading of BIO2.

    B-X always starts an entity; I-X continues the entity before it only if that
    entity is of type X, otherwise it starts a new one; O ends the current one.
    """
    spans: list[tuple[str, int, int]] = []
    kind, start = "", -1  # current open entity, kind == "" when none
    for i, tag in enumerate(tags):
        prefix, tag_kind = _split_tag(tag)
        if kind and (prefix != "I" or tag_kind != kind):
            spans.append((kind, start, i))
            kind = ""
        if prefix != "O" and not kind:
            kind, start = tag_kind, i
    if kind:
        spans.append((kind, start, len(tags)))
    return spans


def _bio_parts(labels: list[str]) -> list[tuple[str, str]] | None:
    """[(prefix, type)] per label, or None when the labels are not all O / B-X / I-X."""
    parts = []
    for label in labels:
        if label == "O":
            parts.append(("O", ""))
            continue
        prefix, sep, kind = label.partition("-")
        if not sep or prefix not in ("B", "I") or not kind:
            return None
        parts.append((prefix, kind))
    return parts


def bio_allowed(labels: list[str]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(start (L,), transition (L, L)) booleans: which tag may open a sentence, which may follow which."""
    parts = _bio_parts(labels)
    if parts is None:
        return None
    start = torch.tensor([prefix != "I" for prefix, _ in parts])
    transition = torch.tensor([[prefix != "I" or (before[1] == kind and before[0] in ("B", "I"))
                                for prefix, kind in parts] for before in parts])  # (from, to)
    return start, transition


def bio_viterbi(log_probs: torch.Tensor, labels: list[str]) -> list[int]:
    """The tag sequence of highest total log-probability among valid BIO sequences.

    log_probs: (n, L) per-word log-probabilities. Non-BIO label sets: the argmax of each row.
    """
    allowed = bio_allowed(labels)
    if allowed is None or len(log_probs) == 0:
        return [int(i) for i in log_probs.argmax(-1)] if len(log_probs) else []
    start, transition = allowed
    scores = log_probs.double()
    blocked = torch.tensor(float("-inf"), dtype=torch.float64)
    best = torch.where(start, scores[0], blocked)  # (L,)
    back = []
    penalty = torch.where(transition, torch.tensor(0.0, dtype=torch.float64), blocked)  # (from, to)
    for row in scores[1:]:
        candidates = best[:, None] + penalty  # (from, to)
        best, previous = candidates.max(dim=0)  # (to,)
        best = best + row
        back.append(previous)
    path = [int(best.argmax())]
    for previous in reversed(back):
        path.append(int(previous[path[-1]]))
    return path[::-1]


def tag_words(words: list[str], word_ids: list[int | None], probs: torch.Tensor, labels: list[str]) -> dict:
    """Each word is tagged from its first piece (BIO-constrained Viterbi over the words);
    entities are the BIO spans over the words.

    probs: (T, n_labels) for the T pieces; word_ids[t] is the word piece t came from (None: special).
    """
    positions, tagged = [], []
    for position, word_id in enumerate(word_ids):
        if word_id is None or (tagged and tagged[-1] == word_id) or word_id in tagged:
            continue
        tagged.append(word_id)
        positions.append(position)
    first = probs[positions, : len(labels)] if positions else probs[:0, : len(labels)]  # (n_words, L)
    best = bio_viterbi(torch.log(first.float().clamp_min(1e-30)), labels)
    tags = [labels[i] for i in best]
    confidences = [float(first[row, i]) for row, i in enumerate(best)]
    kept_words = [words[i] for i in tagged]
    entities = [{"type": kind, "start": start, "end": end, "text": " ".join(kept_words[start:end])}
                for kind, start, end in entity_spans(tags)]
    return {"words": kept_words, "tags": tags, "confidences": confidences, "entities": entities}
