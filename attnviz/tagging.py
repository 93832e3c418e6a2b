"""From per-piece tag probabilities to per-word tags and entity spans (shared by our and HF models)."""
from __future__ import annotations

import torch

from attnviz.metrics import entity_spans


def tag_words(words: list[str], word_ids: list[int | None], probs: torch.Tensor, labels: list[str]) -> dict:
    """Each word takes the tag of its first piece; entities are the BIO spans over the words.

    probs: (T, n_labels) for the T pieces; word_ids[t] is the word piece t came from (None: special).
    """
    tags, confidences, tagged = [], [], []
    for position, word_id in enumerate(word_ids):
        if word_id is None or (tagged and tagged[-1] == word_id) or word_id in tagged:
            continue
        tagged.append(word_id)
        best = int(probs[position].argmax())
        tags.append(labels[best])
        confidences.append(float(probs[position, best]))
    kept_words = [words[i] for i in tagged]
    entities = [{"type": kind, "start": start, "end": end, "text": " ".join(kept_words[start:end])}
                for kind, start, end in entity_spans(tags)]
    return {"words": kept_words, "tags": tags, "confidences": confidences, "entities": entities}
