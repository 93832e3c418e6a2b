"""Turn task data into padded tensors: ids (B, T), attention_mask (B, T), targets."""
from __future__ import annotations

import torch

from attnviz.text.tokenize import TextTokenizer

IGNORE_INDEX = -100  # targets the loss skips: padding, special tokens, later pieces of a word


def pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad a list of id lists into a (B, T_max) tensor."""
    longest = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (longest - len(s)) for s in sequences], dtype=torch.long)


Example = tuple[list[int], object, list[int]]  # (ids, target: a label or one per token, case ids)


def encode_sentiment(tokenizer: TextTokenizer, rows: list[tuple[str, int]], max_len: int) -> list[Example]:
    """(sentence, label) -> (ids, label, case ids); sentences that give no token are dropped."""
    encoded = [(tokenizer.encode(text, max_len), label) for text, label in rows]
    return [(e.ids, label, e.case_ids) for e, label in encoded if e.ids]


def encode_ner(tokenizer: TextTokenizer, sentences: list[tuple[list[str], list[str]]], labels: list[str],
               max_len: int) -> list[Example]:
    """(words, tags) -> (ids, target per token, case ids): a word's tag goes to its first piece only."""
    label_id = {label: i for i, label in enumerate(labels)}
    out = []
    for words, tags in sentences:
        encoded = tokenizer.encode_words(words, max_len)
        targets, previous = [], None
        for word_id in encoded.word_ids:
            first_piece = word_id is not None and word_id != previous
            targets.append(label_id[tags[word_id]] if first_piece else IGNORE_INDEX)
            previous = word_id
        if encoded.ids:
            out.append((encoded.ids, targets, encoded.case_ids))
    return out


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """A batch: ids, mask and case ids (B, T) and targets, (B,) for labels or (B, T) per token."""
    ids = pad([e[0] for e in examples], pad_id)
    mask = pad([[1] * len(e[0]) for e in examples], 0).bool()
    cases = pad([e[2] if e[2] is not None else [0] * len(e[0]) for e in examples], 0)
    if isinstance(examples[0][1], list):
        targets = pad([e[1] for e in examples], IGNORE_INDEX)
    else:
        targets = torch.tensor([e[1] for e in examples], dtype=torch.long)
    return {"ids": ids, "mask": mask, "targets": targets, "case_ids": cases}


def lm_windows(ids: torch.Tensor, seq_len: int, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random windows of a long id stream: inputs (B, T) and next-token targets (B, T)."""
    starts = torch.randint(0, len(ids) - seq_len - 1, (batch_size,), generator=generator)
    windows = torch.stack([ids[s: s + seq_len + 1] for s in starts.tolist()])  # (B, T+1)
    return {"ids": windows[:, :-1], "mask": None, "targets": windows[:, 1:], "case_ids": None}
