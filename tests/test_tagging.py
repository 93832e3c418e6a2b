"""BIO-constrained Viterbi decoding, checked against brute force over every tag sequence."""
from __future__ import annotations

import itertools

import pytest
import torch

from attnviz.training.metrics import entity_spans
from attnviz.nn.tagging import bio_viterbi, tag_words

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def _valid(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def _brute_force(log_probs: torch.Tensor, labels: list[str]) -> list[int]:
    best, best_score = None, float("-inf")
    for path in itertools.product(range(len(labels)), repeat=len(log_probs)):
        if not _valid([labels[i] for i in path]):
            continue
        score = float(sum(log_probs[t, i] for t, i in enumerate(path)))
        if score > best_score:
            best, best_score = list(path), score
    return best


@pytest.mark.parametrize("seed", range(12))
def test_viterbi_matches_brute_force(seed):
    generator = torch.Generator().manual_seed(seed)
    n = 1 + seed % 4
    log_probs = torch.log_softmax(torch.randn(n, len(LABELS), generator=generator) * 3, -1)
    assert bio_viterbi(log_probs, LABELS) == _brute_force(log_probs, LABELS)


def test_viterbi_repairs_an_orphan_inside_tag():
    # argmax would read I-ORG after O (an entity without a beginning); the best valid reading is B-ORG
    probs = torch.tensor([[0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01],
                          [0.05, 0.05, 0.05, 0.35, 0.4, 0.05, 0.05]])
    assert [LABELS[i] for i in probs.argmax(-1)] == ["O", "I-ORG"]
    assert [LABELS[i] for i in bio_viterbi(probs.log(), LABELS)] == ["O", "B-ORG"]


def test_viterbi_keeps_a_valid_argmax_and_handles_edge_cases():
    probs = torch.tensor([[0.1, 0.8, 0.02, 0.02, 0.02, 0.02, 0.02], [0.1, 0.02, 0.8, 0.02, 0.02, 0.02, 0.02]])
    assert bio_viterbi(probs.log(), LABELS) == [1, 2]
    assert bio_viterbi(torch.zeros(0, len(LABELS)), LABELS) == []
    other = ["NEG", "POS", "I-"]  # not a BIO label set: argmax
    assert bio_viterbi(torch.tensor([[0.1, 0.2, 0.7]]).log(), other) == [2]


def test_tag_words_decodes_first_pieces_with_constraints():
    # pieces: [CLS] new york ##er [SEP]; words 0 and 1; word 1 has two pieces
    probs = torch.full((5, len(LABELS)), 0.01)
    probs[1, LABELS.index("I-LOC")] = 0.6
    probs[1, LABELS.index("B-LOC")] = 0.3
    probs[2, LABELS.index("I-LOC")] = 0.9
    probs[3, LABELS.index("O")] = 0.99  # a later piece: ignored
    result = tag_words(["new", "yorker"], [None, 0, 1, 1, None], probs, LABELS)
    assert result["tags"] == ["B-LOC", "I-LOC"]
    assert entity_spans(result["tags"]) == [("LOC", 0, 2)]
    assert result["entities"][0]["text"] == "new yorker"
    assert result["confidences"] == pytest.approx([0.3, 0.9])
