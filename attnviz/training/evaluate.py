"""Metrics of a model on a data set: accuracy, entity F1, or nats per character."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attnviz.training.batching import IGNORE_INDEX, collate, encode_ner, encode_sentiment
from attnviz.training.metrics import accuracy, entity_scores
from attnviz.nn.tagging import bio_viterbi
from attnviz.text.tokenize import TextTokenizer


@torch.no_grad()
def predict_batches(model: nn.Module, examples: list, pad_id: int, batch_size: int = 64) -> list[torch.Tensor]:
    """Logits for every example, in order, sorted into length buckets for speed."""
    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    results: list[torch.Tensor | None] = [None] * len(examples)
    for start in range(0, len(order), batch_size):
        chunk = order[start: start + batch_size]
        batch = collate([examples[i] for i in chunk], pad_id)
        logits = model(batch["ids"].to(device), batch["mask"].to(device),
                       case_ids=batch["case_ids"].to(device)).logits.float().cpu()
        for row, index in enumerate(chunk):
            results[index] = logits[row]
    return results


def evaluate_sentiment(model: nn.Module, tokenizer: TextTokenizer, rows: list[tuple[str, int]]) -> dict:
    examples = encode_sentiment(tokenizer, rows, model.config.max_len)
    logits = predict_batches(model, examples, tokenizer.pad_id)
    predictions = [int(l.argmax()) for l in logits]
    return {"task": "sentiment", "accuracy": accuracy([e[1] for e in examples], predictions), "n": len(examples)}


def evaluate_ner(model: nn.Module, tokenizer: TextTokenizer, sentences: list[tuple[list[str], list[str]]],
                 labels: list[str], *, decoding: str = "viterbi") -> dict:
    """Entity-level exact match (conlleval): a word is tagged by its first piece; words cut off by
    the context length count as O. decoding: "viterbi" (BIO-constrained, as the app tags) or "argmax"."""
    if decoding not in ("viterbi", "argmax"):
        raise ValueError(f"unknown decoding {decoding!r}; choose viterbi or argmax")
    examples = encode_ner(tokenizer, sentences, labels, model.config.max_len)
    logits = predict_batches(model, examples, tokenizer.pad_id)
    gold, predicted = [], []
    kept = [s for s in sentences if tokenizer.encode_words(s[0], model.config.max_len).ids]
    for (words, tags), (_, targets, _), sentence_logits in zip(kept, examples, logits):
        first_pieces = [i for i, t in enumerate(targets) if t != IGNORE_INDEX]
        word_logits = sentence_logits[first_pieces, : len(labels)]  # (n_words, L)
        best = (bio_viterbi(torch.log_softmax(word_logits, -1), labels) if decoding == "viterbi"
                else [int(i) for i in word_logits.argmax(-1)])
        tagged = [labels[i] for i in best]
        predicted.append(tagged + ["O"] * (len(tags) - len(tagged)))
        gold.append(list(tags))
    scores = entity_scores(gold, predicted)
    return {"task": "ner", "f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            "n": len(gold)}


@torch.no_grad()
def evaluate_lm(model: nn.Module, tokenizer: TextTokenizer, text: str, batch_size: int = 32) -> dict:
    """Mean cross-entropy in nats per character over the whole text. Every character after the
    first is predicted once, with up to a full context of the characters before it (windows of
    max_len, stride max_len/2, scoring only the part not scored before)."""
    device = next(model.parameters()).device
    ids = torch.tensor(tokenizer.encode(text).ids, dtype=torch.long)
    if len(ids) < 2:
        raise ValueError("the text needs at least two characters to measure a language model")
    context = model.config.max_len
    stride = max(1, context // 2)
    # window = inputs ids[begin:end], targets ids[begin+1:end+1]; skip the targets scored before
    last = len(ids) - 1
    end = min(context, last)
    windows = [(0, end, 0)]
    while end < last:
        new_end = min(end + stride, last)
        begin = max(0, new_end - context)
        windows.append((begin, new_end, end - begin))
        end = new_end
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        group = windows[i: i + batch_size]
        same_length = [w for w in group if w[1] - w[0] == group[0][1] - group[0][0]]
        for chunk in (same_length, [w for w in group if w not in same_length]):
            if not chunk:
                continue
            if len({e - b for b, e, _ in chunk}) > 1:
                chunk_list = [[w] for w in chunk]
            else:
                chunk_list = [chunk]
            for part in chunk_list:
                inputs = torch.stack([ids[b:e] for b, e, _ in part]).to(device)  # (n, T)
                targets = torch.stack([ids[b + 1: e + 1] for b, e, _ in part]).to(device)  # (n, T)
                logits = model(inputs).logits.float()  # (n, T, vocab)
                for row, (_, _, skip) in enumerate(part):
                    total += float(F.cross_entropy(logits[row, skip:], targets[row, skip:], reduction="sum"))
                    count += int(targets[row, skip:].numel())
    loss = total / count
    return {"task": "lm", "loss": loss, "perplexity": math.exp(loss), "n": count}
