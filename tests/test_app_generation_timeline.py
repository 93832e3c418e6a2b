"""The generation page's timeline with the page's own defaults (200 new tokens from a 128-character
context, so most steps read a cropped window): the step, layer and head shown are the ones picked,
and the bars are the last row of a fresh forward over the window the model read at that step."""
from __future__ import annotations

import numpy as np
import torch

import attnviz
from attnviz.nn.generate import GenerationConfig
from attnviz.plots.attention import _token_label
from test_app import _generate, array, assert_clean, charts, model_for, open_page, texts


def test_default_run_has_a_timeline_with_the_picked_step_layer_and_head():
    entry = model_for("lm")
    at = open_page("generation", model=entry.name)
    text = _generate(at)
    settings = {key: at.get_by_key(f"generation_{key}").value
                for key in ("temperature", "top_p", "top_k", "max_new", "seed")}
    prompt = at.text_area(key="generation_prompt").value
    assert settings["max_new"] == 200
    assert not any("cannot be lined up" in value or "no attention recorded" in value for value, _ in texts(at))
    step_slider = at.slider(key="generation_timeline_step")
    assert step_slider.max == 199
    step, layer, head = 170, 2, 1
    step_slider.set_value(step)
    at.slider(key=next(s.key for s in at.slider if s.key.startswith("generation_timeline_layer"))).set_value(layer)
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("generation_timeline_head"))).set_value(head)
    at.run()
    assert_clean(at)

    bundle = attnviz.load(entry.source)
    config = GenerationConfig(max_new_tokens=200, temperature=float(settings["temperature"]),
                              top_k=int(settings["top_k"]), top_p=float(settings["top_p"]), seed=int(settings["seed"]))
    new_text, result = bundle.generate(prompt, config)
    assert prompt + new_text == text
    end = len(result.prompt_ids) + step  # the context read at this step: everything before new token `step`
    start = max(0, end - bundle.max_len)
    assert start > 0  # the window was cropped: a full re-trace of the text could not show this step
    window = result.ids[start:end]
    with torch.no_grad():
        expected = bundle.model(torch.tensor([window]), need_weights=True).attentions[layer][0, head, -1].numpy()

    figures = charts(at)
    bars = figures["generation_timeline_attention"]
    chosen = bundle.tokenizer.id_to_token(result.new_ids[step])
    title = bars["layout"]["title"]["text"]
    assert title == f"Step {step}: choosing {_token_label(chosen)}<br>layer {layer}, head {head} looked at"
    np.testing.assert_allclose(array(bars["data"][0]["y"]), expected, atol=1e-3)
    assert list(array(bars["data"][0]["x"])) == list(range(start, end))  # positions run on
    candidates = figures["generation_timeline_candidates"]
    assert candidates["layout"]["title"]["text"].startswith(f"Step {step}: the candidates")
    expected_probs = [p for _, p in result.steps[step].candidates]
    np.testing.assert_allclose(array(candidates["data"][0]["x"]), expected_probs, atol=1e-6)
    assert any("temperature 0.8" in value and "top-k off" in value and "top-p off" in value and "seed 0" in value
               for value, _ in texts(at))


def test_a_run_over_the_memory_budget_shows_the_mean_over_heads(monkeypatch):
    from attnviz.ui import generation_view

    monkeypatch.setattr(generation_view, "KEPT_BYTES", 0)
    entry = model_for("lm")
    at = open_page("generation", model=entry.name)
    _generate(at, max_new=20)
    assert not [s for s in at.selectbox if s.key.startswith("generation_timeline_head")]
    assert any("keeps only the mean" in value for value, _ in texts(at))
    title = charts(at)["generation_timeline_attention"]["layout"]["title"]["text"]
    assert title.endswith("layer 0, mean over heads looked at")
