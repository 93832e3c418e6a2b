"""Tiny HuggingFace models built offline for the analysis tests (BERT classifier and tagger, GPT-2, llama)."""
from __future__ import annotations

import shutil

import pytest
import torch

import attnviz

transformers = pytest.importorskip("transformers")
from test_hf import BIO, _save_bert, tiny_gpt2, tiny_gpt2_folder  # noqa: E402,F401  (fixtures re-exported)

SENTIMENT_LABELS = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    folder = _save_bert(tmp_path_factory.mktemp("tiny_clf"), transformers.BertForSequenceClassification,
                        num_labels=2, id2label=SENTIMENT_LABELS, label2id={v: k for k, v in SENTIMENT_LABELS.items()})
    return attnviz.load(str(folder))


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    folder = _save_bert(tmp_path_factory.mktemp("tiny_tagger"), transformers.BertForTokenClassification,
                        num_labels=len(BIO), id2label=dict(enumerate(BIO)), label2id={t: i for i, t in enumerate(BIO)})
    return attnviz.load(str(folder))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return attnviz.load(str(_save_bert(tmp_path_factory.mktemp("tiny_enc"), transformers.BertModel)))


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory, tiny_gpt2_folder):
    """A llama decoder with grouped-query attention (4 query heads, 2 key/value heads), GPT-2's tokenizer."""
    folder = tmp_path_factory.mktemp("tiny_llama")
    for name in tiny_gpt2_folder.iterdir():
        if name.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(name, folder / name.name)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_gpt2_folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=32)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return attnviz.load(str(folder))
