"""Verify: the identities the app relies on, computed live, each with ✓/✗ and its numbers."""
from __future__ import annotations

import streamlit as st
import torch

from attnviz import ui

from attnviz.text import display

from attnviz.bundles import registry
from attnviz.analysis import verify, verify_bert, verify_explain
from attnviz.nn.positional import sinusoidal_encoding

ui.ensure_app()
st.title("Verify")
st.markdown("The facts the other pages take for granted, checked now on this machine. ✓ means the worst "
            "error is within the tolerance shown.")

left, right = st.columns(2)
d_model = left.select_slider("d_model for the positional checks", [16, 32, 64, 128, 256], 128, key="verify_d")
text = right.text_input("Sentence for the model checks", "The quick brown fox jumps over the lazy dog.",
                        key="verify_text", max_chars=500)


def run_checks() -> list[tuple[str, verify.CheckResult]]:
    """(what it was checked on, result) for every identity."""
    results = []
    pe = sinusoidal_encoding(128, d_model).numpy()  # (positions, d)
    table = f"sinusoidal table, 128 positions x {d_model}"
    results.append((table, verify.pe_offset_check(pe)))
    results.append((table, verify.pe_rotation_check(pe, offset=7)))
    ours, reference = verify.copied_attention_pair(64, 4)
    x = torch.randn(2, 9, 64, generator=torch.Generator().manual_seed(0))  # (B, T, d)
    results.append(("random weights, d_model 64, 4 heads", verify.mha_parity_check(ours, reference, x)))
    encoder = ui.listed_models("sentiment") or ui.listed_models("ner")
    if encoder:
        trace = ui.get_trace(encoder[0], text)
        specials = getattr(ui.load_model(encoder[0]), "special_tokens", None)
        results.append((encoder[0].name, verify.row_sum_check(trace.weights)))
        results.append((encoder[0].name, verify.hide_special_check(trace, display.hide_special_tokens, specials)))
    lm = ui.listed_models("lm")
    if lm:
        results.append((lm[0].name, verify.causal_check(ui.get_trace(lm[0], text).weights)))
    for task in ("sentiment", "ner", "lm"):  # the explanation tools, on the first model of each task
        found = [e for e in ui.listed_models(task) if e.kind != "pretrained"]
        if found:
            bundle = ui.load_model(found[0])
            subject = f"{found[0].name}, this sentence"
            results.append((subject, verify_explain.ig_completeness_check(bundle, text)))
            results.append((subject, verify_explain.ablate_nothing_check(bundle, text)))
            results.append((subject, verify_explain.patch_everything_check(bundle, text)))
            results.append((subject, verify_explain.rollout_formula_check(ui.get_trace(found[0], text))))
            if verify_bert.has_bert_layout(bundle.model.config):  # our BERT-shaped models against transformers
                results.append((subject, verify_bert.bert_parity_check(bundle, text)))
    for entry in [e for e in ui.listed_models("lm") if e.kind == "pretrained"]:  # SmolLM2 when prepared
        results.append((entry.name, verify_explain.hf_logits_check(ui.load_model(entry), text)))
    if registry.minilm_installed():
        bundle = ui.load_model(registry.MINILM_NAME)
        trace = bundle.trace(text)
        results.append((bundle.name, verify.row_sum_check(trace.weights)))
        results.append((bundle.name, verify.hide_special_check(trace, display.hide_special_tokens,
                                                               bundle.special_tokens)))
        results.append((bundle.name, verify.trace_parity_check(trace.weights,
                                                               verify.reference_attentions(bundle, text))))
    return results


if ui.require_text(text):
    try:
        with st.spinner("Checking…"):
            results = run_checks()
    except ui.USER_ERRORS as error:
        ui.show_error(error, "The checks could not run")
        st.stop()
    failed = [r for _, r in results if not r.passed]
    if failed:
        st.warning(f"{len(failed)} check(s) failed: " + "; ".join(ui.escape_markdown(r.name) for r in failed))
    else:
        st.success(f"All {len(results)} checks pass.")
    # a markdown table, not st.dataframe: its cells wrap, so long names and details stay readable (and on a phone)
    header = ["", "identity", "on", "worst error", "tolerance", "details"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(ui.escape_markdown(str(cell).replace("\n", " ")) for cell in
                                (r.mark, r.name, subject, f"{r.worst_error:.2e}", f"{r.tolerance:.0e}", r.detail)) + " |"
              for subject, r in results]
    st.markdown("\n".join(lines))
    st.caption("Which models: the first sentiment (or NER) checkpoint for rows and hiding, the language "
               "model for the causal mask, the first sentiment, NER and language model for the explanation "
               "identities (integrated gradients within 5 % of complete, ablating nothing, patching everything, "
               "rollout), the sentiment and NER models against transformers' BERT with the same weights, and "
               "all-MiniLM-L6-v2 and SmolLM2 (when installed or prepared) against transformers.")
