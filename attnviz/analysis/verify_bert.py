"""Our BERT-shaped models (the shipped sentiment classifier and NER tagger) against transformers' own BERT.

Post-norm blocks, learned positions, GELU and a LayerNorm after the embeddings are BERT's layer, so our
weights copy into a `transformers.BertModel` (Q, K, V split out of our fused projection; positions with a
zero token-type table). The case embedding of a cased-feature tagger is added to the word vectors handed to
BERT as `inputs_embeds`, and our own head reads BERT's output (mean over tokens for a classifier, every
token for a tagger). Equal logits and attention weights then mean our encoder computes what BERT computes.
"""
from __future__ import annotations

import torch

from attnviz.analysis.id_runs import encode_ids
from attnviz.analysis.verify import CheckResult, _result
from attnviz.bundles.pretrained_init import base_tensor_names
from attnviz.errors import InputError
from attnviz.nn.models import ModelConfig, masked_mean


def has_bert_layout(config) -> bool:
    """Whether this is one of our models' configs with BERT's architecture (and so can be checked against it)."""
    return isinstance(config, ModelConfig) and (config.kind in ("classifier", "tagger") and config.positional == "learned" and not config.norm_first
            and config.embedding_norm and config.activation == "gelu")


def as_transformers_bert(model: torch.nn.Module):
    """A transformers BertModel (eager attention) holding a copy of our encoder's weights."""
    from transformers import BertConfig, BertModel

    config: ModelConfig = model.config
    if not has_bert_layout(config):
        raise InputError("this model is not BERT-shaped (post-norm, learned positions, GELU, embedding norm)")
    bert = BertModel(BertConfig(vocab_size=config.vocab_size, hidden_size=config.d_model,
                                num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
                                intermediate_size=config.d_ff, hidden_act="gelu",
                                max_position_embeddings=config.max_len, type_vocab_size=1,
                                layer_norm_eps=config.layer_norm_eps, hidden_dropout_prob=0.0,
                                attention_probs_dropout_prob=0.0, attn_implementation="eager"),
                     add_pooling_layer=False)
    ours = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    d = config.d_model
    # the tensors that map one to one (the same table pretrained_init copies from BERT), then the rest
    state = {theirs: ours[mine] for mine, theirs in base_tensor_names(config.n_layers, True).items()}
    state["embeddings.position_embeddings.weight"] = ours["encoder.positions.table.weight"]
    state["embeddings.token_type_embeddings.weight"] = torch.zeros(1, d)
    for i in range(config.n_layers):
        for part in ("weight", "bias"):
            query, key, value = ours[f"encoder.blocks.{i}.attention.qkv.{part}"].split(d)  # our fused (3d, ...)
            for name, tensor in (("query", query), ("key", key), ("value", value)):
                state[f"encoder.layer.{i}.attention.self.{name}.{part}"] = tensor
    missing, unexpected = bert.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"the weights did not map onto BERT: missing {missing}, unexpected {unexpected}")
    return bert.eval()


@torch.inference_mode()
def bert_parity_check(bundle, text: str, tolerance: float = 1e-4) -> CheckResult:
    """Our BERT-shaped model's logits and attention weights equal transformers' BertModel with the same
    weights (our head applied to its output)."""
    name = f"{bundle.name}'s logits and attention equal transformers' BERT"
    model = bundle.model
    bert = as_transformers_bert(model)
    encoding = encode_ids(bundle, text)
    ids = torch.tensor([encoding.ids])  # (1, T)
    words = model.encoder.token_embedding.weight.detach().float().cpu()[ids]  # (1, T, d)
    if model.encoder.case_embedding is not None:
        cases = torch.tensor([encoding.cases]) if encoding.cases is not None else torch.zeros_like(ids)
        words = words + model.encoder.case_embedding.weight.detach().float().cpu()[cases]
    output = bert(inputs_embeds=words, output_attentions=True)
    hidden = output.last_hidden_state  # (1, T, d)
    features = masked_mean(hidden, None) if model.config.kind == "classifier" else hidden
    head = model.head
    reference = torch.nn.functional.linear(features, head.weight.detach().float().cpu(),
                                           head.bias.detach().float().cpu())[0]
    ours = model(ids.to(bundle.device), case_ids=None if encoding.cases is None else
                 torch.tensor([encoding.cases], device=bundle.device), need_weights=True)
    logits_error = float((ours.logits[0].float().cpu() - reference).abs().max())
    attention_error = max(float((mine[0].float().cpu() - theirs[0]).abs().max())
                          for mine, theirs in zip(ours.attentions, output.attentions))
    worst = max(logits_error, attention_error)
    return _result(name, worst, tolerance, f"{len(encoding.ids)} tokens, {model.config.n_layers} layers; logits "
                   f"{logits_error:.1e}, attention {attention_error:.1e} (largest differences)")
