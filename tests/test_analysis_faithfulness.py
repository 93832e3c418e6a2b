"""Occlusion against captum's FeatureAblation, the faithfulness scoreboard against a few independent lines,
adaptive integrated-gradient steps, and the analysis API's argument checks (issue 20, C5)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.analysis import attribute, faithfulness, head_importance, minimal_pair, normalize_heads, rollout
from attnviz.analysis.faithfulness import AOPC_BINS
from attnviz.errors import InputError

TEXTS = ["The film was not good at all.", "A gripping, beautifully acted film.", "Dull and far too long."]


@pytest.fixture(scope="module")
def sentiment():
    return attnviz.load("sentiment")


def test_occlusion_with_mask_equals_captum_feature_ablation(sentiment):
    captum = pytest.importorskip("captum.attr")
    text = TEXTS[0]
    result = attribute(sentiment, text, method="occlusion", perturb="mask")
    encoded = sentiment.encode(text)
    ids = torch.tensor([encoded.ids])
    label = int(sentiment.logits(text).argmax())

    def probability(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(sentiment.model(batch).logits.double(), -1)[:, label]
    ablation = captum.FeatureAblation(probability)
    expected = ablation.attribute(ids, baselines=sentiment.tokenizer.unk_id).double()[0].numpy()
    ordinary = [i for i, t in enumerate(encoded.tokens) if t not in ("[CLS]", "[SEP]")]
    np.testing.assert_allclose(result.scores[ordinary], expected[ordinary], atol=2e-5)
    assert (result.scores[[0, -1]] == 0).all()  # special tokens are never removed


def test_occlusion_deletes_tokens_by_default(sentiment):
    text = TEXTS[1]
    result = attribute(sentiment, text, method="occlusion")
    ids = sentiment.encode(text).ids
    label = int(sentiment.logits(text).argmax())
    p = lambda seq: float(torch.softmax(sentiment.model(torch.tensor([seq])).logits[0].double(), -1)[label])  # noqa: E731
    with torch.no_grad():
        expected = [p(ids) - p(ids[:i] + ids[i + 1:]) for i in range(1, len(ids) - 1)]
    np.testing.assert_allclose(result.scores[1:-1], expected, atol=2e-5)


def test_scoreboard_numbers_match_an_independent_computation(sentiment):
    report = faithfulness(sentiment, TEXTS, methods=["occlusion"], fractions=(0.2,))
    table = report.table.set_index(["method", "metric"])
    comp, suff, curves = [], [], []
    with torch.no_grad():
        for text in TEXTS:
            ids = sentiment.encode(text).ids
            body = list(range(1, len(ids) - 1))  # everything but [CLS] and [SEP]
            label = int(sentiment.logits(text).argmax())
            prob = lambda seq: float(torch.softmax(sentiment.model(torch.tensor([seq])).logits[0].double(), -1)[label])  # noqa: E731
            scores = attribute(sentiment, text, method="occlusion").scores
            order = sorted(body, key=lambda i: (-scores[i], i))
            drop = lambda gone: [ids[i] for i in range(len(ids)) if i not in gone]  # noqa: E731
            p = prob(ids)
            tops = {k: max(1, round(k * len(body))) for k in AOPC_BINS}
            comp.append(np.mean([p - prob(drop(set(order[:tops[k]]))) for k in AOPC_BINS]))
            suff.append(np.mean([p - prob(drop(set(order[tops[k]:]))) for k in AOPC_BINS]))
            curves.append([prob(drop(set(order[:round(q * len(body))]))) for q in np.linspace(0, 1, 11)])
    assert table.loc[("occlusion", "comprehensiveness_aopc"), "value"] == pytest.approx(np.mean(comp), abs=1e-4)
    assert table.loc[("occlusion", "sufficiency_aopc"), "value"] == pytest.approx(np.mean(suff), abs=1e-4)
    np.testing.assert_allclose(report.curves["occlusion"], np.mean(curves, axis=0), atol=1e-4)
    row = table.loc[("occlusion", "comprehensiveness_aopc")]
    assert row.ci_low <= row.value <= row.ci_high and row.n == 3
    assert "random" in report.per_text and set(report.table.columns) == {"method", "metric", "value", "ci_low", "ci_high", "n"}
    paired = report.compare("occlusion", "random").set_index("metric")
    diff = report.per_text["occlusion"]["deletion_aopc"] - report.per_text["random"]["deletion_aopc"]
    assert paired.loc["deletion_aopc", "difference"] == pytest.approx(diff.mean())
    assert "occlusion" in report.verdict()
    assert "_" not in report.verdict()  # display names ("gradient × input"), not method ids


def test_verdict_names_methods_as_people_read_them():
    from attnviz.analysis.faithfulness import FaithfulnessReport
    import pandas as pd
    table = pd.DataFrame([{"method": m, "metric": "comprehensiveness_aopc", "value": v, "ci_low": v - 0.1,
                           "ci_high": v + 0.1, "n": 10} for m, v in
                          [("gradient_x_input", 0.4), ("attention", 0.1), ("random", 0.05)]])
    verdict = FaithfulnessReport(table=table, curves={}, per_text={}, seconds={}, seed=0).verdict()
    assert verdict.startswith("Most faithful here: gradient × input") and "raw attention of the last layer (0.10)" in verdict


def test_integrated_gradients_doubles_its_steps_until_complete(sentiment):
    result = attribute(sentiment, TEXTS[0], steps=2)
    assert result.steps > 2 and (abs(result.delta) <= 0.05 * abs(result.target_gap) or result.steps == 256)
    assert attribute(sentiment, TEXTS[0], steps=512).steps == 512  # more than 256 asked: kept as asked


@pytest.mark.parametrize("call, name", [
    (lambda b: attribute(b, TEXTS[0], steps=100_000), "steps"),
    (lambda b: attribute(b, TEXTS[0], steps=10**9), "steps"),
    (lambda b: attribute(b, TEXTS[0], steps="32"), "steps"),
    (lambda b: attribute(b, TEXTS[0], steps=True), "steps"),
    (lambda b: attribute(b, None), "text"),
    (lambda b: attribute(b, 5), "text"),
    (lambda b: attribute(b, TEXTS[0], method=["rollout"]), "method"),
    (lambda b: attribute(b, TEXTS[0], position="3"), "position"),
    (lambda b: attribute(b, TEXTS[0], target=1.5), "target"),
    (lambda b: attribute(b, TEXTS[0], method="occlusion", perturb="blur"), "perturb"),
    (lambda b: head_importance(b, 42), "texts"),
    (lambda b: head_importance(b, [TEXTS[0], None]), r"texts\[1\]"),
    (lambda b: head_importance(b, TEXTS[0], position=2.5), "position"),
    (lambda b: faithfulness(b, TEXTS, fractions=(0.1, 2.0)), "fractions"),
    (lambda b: faithfulness(b, TEXTS, methods=["lime"]), "methods"),
    (lambda b: faithfulness(b, TEXTS, seed=-1), "seed"),
    (lambda b: faithfulness(b, [TEXTS[0]] * 10_001), "texts"),
    (lambda b: rollout("not a trace"), "trace"),
    (lambda b: rollout(b.trace(TEXTS[0]), residual="half"), "residual"),
    (lambda b: b.logits(TEXTS[0], ablate=[(0.9, 1.7)]), "whole numbers"),
    (lambda b: b.logits(TEXTS[0], ablate=5), "ablate"),
    (lambda b: b.logits(TEXTS[0], ablate=[(0, 1, 2)]), "pair"),
])
def test_wrong_arguments_raise_input_error_naming_them(sentiment, call, name):
    with pytest.raises(InputError, match=name):
        call(sentiment)


def test_whole_numbers_still_switch_heads_off():
    assert normalize_heads([(np.int64(1), 2)], 6, 12) == frozenset({(1, 2)})
    with pytest.raises(InputError):
        normalize_heads([(True, 1)], 6, 12)


def test_minimal_pair_refuses_non_text(sentiment):
    with pytest.raises(InputError, match="text_b"):
        minimal_pair(sentiment, TEXTS[0], ["not", "a", "text"])


def test_cli_prints_the_scoreboard_as_json(tmp_path, capsys):
    import json
    from attnviz.cli import main
    out = tmp_path / "table.csv"
    assert main(["faithfulness", "sentiment", "--data", "sst2", "--split", "dev", "--n", "3", "--methods",
                 "occlusion,attention", "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["texts"] == 3 and {"occlusion", "attention", "random"} <= set(report["seconds_per_sentence"])
    assert out.read_text().startswith("method,metric,value,ci_low,ci_high,n")
    assert main(["faithfulness", "sentiment", "--data", "wikiann", "--n", "3"]) == 2  # a ner set for a sentiment model
