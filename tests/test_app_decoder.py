"""The generation page and the explorer as decoder tools: logit lens, surprisal, branches, sinks (AppTest)."""
from __future__ import annotations

import numpy as np

import attnviz

from test_app import _generate, array, assert_clean, charts, model_for, open_page, texts


def test_generation_shows_lens_surprisal_and_confidence_and_branches_on_a_click():
    entry = model_for("lm")
    at = open_page("generation", model=entry.name)
    first = _generate(at, max_new=12, temperature=1.0, seed=4)
    figures = charts(at)
    assert {"generation_surprisal", "generation_lens", "generation_confidence"} <= set(figures)
    lens = figures["generation_lens"]["data"][0]
    assert len(array(lens["z"])) == 1 + attnviz.load(entry.source).n_layers  # embeddings + each layer
    assert any("nats per character" in value for value, _ in texts(at))
    step = 5
    at.slider(key="generation_timeline_step").set_value(step).run()
    buttons = [b for b in at.button if b.key and b.key.startswith(f"generation_branch_{step}_") and not b.disabled]
    assert buttons, "every other candidate of the step is a button"
    buttons[0].click().run()
    assert_clean(at)
    branch = at.code[0].value
    assert branch != first
    prompt = at.text_area(key="generation_prompt").value
    token = buttons[0].key.rsplit("_", 1)[-1]
    assert at.query_params["forced"] == [f"{step}:{token}"] or at.query_params["forced"] == f"{step}:{token}"
    # the branch shares the first `step` tokens of the trunk (one character per token for this model)
    assert branch[:len(prompt) + step] == first[:len(prompt) + step]
    assert "generation_side_surprisal_0" in charts(at) and "generation_side_surprisal_1" in charts(at)
    assert len(at.selectbox(key="generation_current").options) == 2


def test_a_shared_branch_link_regenerates_it():
    entry = model_for("lm")
    at = open_page("generation", model=entry.name, prompt="ROMEO:", t="1.0", seed="4", max_new="8", forced="2:5")
    assert_clean(at)
    assert at.get_by_key("generation_temperature").value == 1.0 and at.get_by_key("generation_max_new").value == 8
    assert at.code, "the linked branch is generated on open"
    assert "generation_lens" in charts(at)


def test_explorer_sink_toggle_and_decoder_views():
    entry = model_for("lm")
    at = open_page("explorer", model=entry.name, text="ROMEO: But soft")
    at.toggle(key="explorer_hide_sinks").set_value(True).run()
    assert_clean(at)
    assert any("Sinks hidden" in value for value, _ in texts(at))
    head = charts(at)["explorer_head"]["data"][0]
    z = array(head["z"])
    assert z.shape[0] == len("ROMEO: But soft") - 1  # the first token is gone
    np.testing.assert_allclose(np.nansum(z, axis=1), 1.0, atol=1e-3)
    at.toggle(key="explorer_decoder").set_value(True).run()
    assert_clean(at)
    assert {"explorer_lens", "explorer_surprisal"} <= set(charts(at))


def test_compare_lines_up_a_char_model_and_minilm_word_by_word():
    from test_app import minilm

    lm = model_for("lm")
    at = open_page("compare", model=lm.name, model2=minilm(), text="The movie wasn't good at all.")
    assert_clean(at)
    diff = charts(at)["compare_diff"]
    z = array(diff["data"][0]["z"])
    assert z.shape == (7, 7)  # The movie wasn't good at all .
    limit = diff["data"][0]["zmax"]
    assert diff["data"][0]["zmin"] == -limit and limit >= 0.1


def test_home_lists_smollm2_as_a_reference_beside_the_char_lm():
    from attnviz.bundles.reference import SMOLLM2_DEV

    at = open_page("home")
    assert_clean(at)
    table = next(value for value, _ in texts(at) if "| model |" in value).replace("\\", "")
    row = next(line for line in table.splitlines() if line.startswith(f"| {SMOLLM2_DEV.name}"))
    assert f"loss {SMOLLM2_DEV.nats_per_char:.3f} nats/char on the char LM's dev split" in row
    assert 0.3 < SMOLLM2_DEV.nats_per_char < 3.0  # a measured number, not the placeholder NaN
    assert next(line for line in table.splitlines() if line.startswith("| lm |"))  # beside our char LM
