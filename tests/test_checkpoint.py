"""Checkpoints: safetensors + JSON round trips, atomic writes, and refusing anything unsafe or broken."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import attnviz
from attnviz.bundles.bundle import Bundle
from attnviz.store.checkpoint import (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, Checkpoint, CheckpointError,
                                load_checkpoint, save_checkpoint)
from attnviz.nn.models import ModelConfig, build_model
from attnviz.text.tokenize import build_char_tokenizer, build_word_tokenizer, wordpiece_from_vocab

SENTIMENT_TEXTS = ["a good movie", "a bad film", "i did n't like it !", "great fun"]
NER_VOCAB = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "john": 4, "lives": 5, "in": 6, "paris": 7,
             "new": 8, "york": 9, ".": 10, "##s": 11}
LM_TEXT = "To be, or not to be, that is the question.\n"
LABELS = {"sentiment": ["negative", "positive"], "ner": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "lm": []}
INPUTS = {"sentiment": ["A good movie!", "I didn't like the film"], "ner": ["John lives in New York.", "Paris"],
          "lm": ["To be", "question"]}


def make_tokenizer(task: str):
    if task == "sentiment":
        return build_word_tokenizer(SENTIMENT_TEXTS)
    if task == "ner":
        return wordpiece_from_vocab(NER_VOCAB)
    return build_char_tokenizer(LM_TEXT)


def make_model(task: str, seed: int = 0, d_model: int = 16):
    tokenizer = make_tokenizer(task)
    kind = {"sentiment": "classifier", "ner": "tagger", "lm": "causal_lm"}[task]
    torch.manual_seed(seed)
    config = ModelConfig(kind=kind, vocab_size=tokenizer.vocab_size, n_labels=max(1, len(LABELS[task])),
                         d_model=d_model, n_heads=2, n_layers=2, d_ff=32, max_len=32, dropout=0.1)
    return build_model(config).eval(), tokenizer


def saved(tmp_path: Path, task: str = "sentiment", **kwargs) -> Path:
    model, tokenizer = make_model(task)
    return save_checkpoint(tmp_path / task, model, tokenizer, task, LABELS[task], **kwargs)


@pytest.mark.parametrize("task", ["sentiment", "ner", "lm"])
def test_round_trip_through_attnviz_load(tmp_path, task):
    model, tokenizer = make_model(task)
    folder = save_checkpoint(tmp_path / task, model, tokenizer, task, LABELS[task], metadata={"epochs": 3})
    assert sorted(p.name for p in folder.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE])
    bundle = attnviz.load(folder)
    assert isinstance(bundle, Bundle)
    assert bundle.task == task and bundle.labels == LABELS[task]
    assert bundle.metadata == {"epochs": 3}
    assert bundle.config == model.config
    assert not bundle.model.training
    ids = torch.randint(1, tokenizer.vocab_size, (2, 9))
    with torch.no_grad():
        expected = model(ids, need_weights=True)
        got = bundle.model(ids, need_weights=True)
    assert torch.equal(got.logits, expected.logits)
    assert all(torch.equal(a, b) for a, b in zip(got.attentions, expected.attentions))
    original = Bundle(Checkpoint(model, tokenizer, model.config, task, LABELS[task]), "original", "memory")
    assert bundle.predict(INPUTS[task]) == original.predict(INPUTS[task])
    trace = bundle.trace(INPUTS[task][0])
    assert trace.weights.shape[:2] == (2, 2)


def test_load_checkpoint_gives_the_same_parameters(tmp_path):
    model, _ = make_model("ner")
    checkpoint = load_checkpoint(saved(tmp_path, "ner"))
    assert checkpoint.model.state_dict().keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(checkpoint.model.state_dict()[name], tensor), name


def test_atomic_write_leaves_no_temporary_folder_and_overwrites(tmp_path):
    first, tokenizer = make_model("sentiment", seed=1)
    second, _ = make_model("sentiment", seed=2)
    target = tmp_path / "model"
    save_checkpoint(target, first, tokenizer, "sentiment", LABELS["sentiment"], metadata={"run": 1})
    (target / "stale.txt").write_text("left over from an older save")
    save_checkpoint(target, second, tokenizer, "sentiment", LABELS["sentiment"], metadata={"run": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no .tmp-/.old- folder left beside it
    assert not (target / "stale.txt").exists()  # replaced as a whole, not merged
    loaded = load_checkpoint(target)
    assert loaded.metadata == {"run": 2}
    ids = torch.tensor([[4, 5, 6]])
    with torch.no_grad():
        assert torch.equal(loaded.model(ids).logits, second(ids).logits)
        assert not torch.equal(loaded.model(ids).logits, first(ids).logits)


def test_failed_save_leaves_old_checkpoint_and_no_debris(tmp_path):
    model, tokenizer = make_model("sentiment")
    target = save_checkpoint(tmp_path / "model", model, tokenizer, "sentiment", LABELS["sentiment"])
    before = (target / WEIGHTS_FILE).read_bytes()
    with pytest.raises(ValueError):
        save_checkpoint(target, model, tokenizer, "translation", [])
    broken = object()  # a tokenizer that cannot be saved
    with pytest.raises(AttributeError):
        save_checkpoint(target, model, broken, "sentiment", LABELS["sentiment"])  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert (target / WEIGHTS_FILE).read_bytes() == before


class Payload:
    """Unpickling this would create the marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("protocol", [2, 4, pickle.HIGHEST_PROTOCOL])
def test_renamed_pickle_is_refused_and_never_executed(tmp_path, protocol):
    folder = saved(tmp_path)
    marker = tmp_path / "pwned"
    (folder / WEIGHTS_FILE).write_bytes(pickle.dumps({"weights": Payload(marker)}, protocol=protocol))
    for loader in (load_checkpoint, attnviz.load):
        with pytest.raises(CheckpointError, match="pickle"):
            loader(folder)
    assert not marker.exists()


def test_protocol_zero_pickle_is_refused_and_never_executed(tmp_path):
    folder = saved(tmp_path)
    marker = tmp_path / "pwned"
    (folder / WEIGHTS_FILE).write_bytes(pickle.dumps(Payload(marker), protocol=0))
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)
    assert not marker.exists()


def test_renamed_torch_save_file_is_refused_and_never_executed(tmp_path):
    folder = saved(tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"state": Payload(marker)}, folder / WEIGHTS_FILE)  # a zip with a pickle inside
    with pytest.raises(CheckpointError, match="pickle"):
        attnviz.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt", ".pkl"])
def test_pickle_file_passed_to_load_is_refused(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"model{suffix}"
    torch.save({"state": Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="pickle"):
        attnviz.load(path)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)
    assert not marker.exists()


def test_folder_with_only_a_pickle_is_refused(tmp_path):
    folder = saved(tmp_path)
    marker = tmp_path / "pwned"
    (folder / WEIGHTS_FILE).unlink()
    torch.save({"state": Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        attnviz.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0.5, 0.9, 20, 4])
def test_truncated_weights_are_refused(tmp_path, keep):
    folder = saved(tmp_path)
    weights = folder / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[:int(len(data) * keep)] if keep < 1 else data[:keep])
    with pytest.raises(CheckpointError, match=WEIGHTS_FILE):
        attnviz.load(folder)


def edit_config(folder: Path, change) -> None:
    document = json.loads((folder / CONFIG_FILE).read_text())
    change(document)
    (folder / CONFIG_FILE).write_text(json.dumps(document))


def test_config_that_does_not_match_the_tensors_is_refused(tmp_path):
    folder = saved(tmp_path)
    edit_config(folder, lambda d: d["model"].update(d_model=32, d_ff=32))
    with pytest.raises(CheckpointError, match="does not match") as error:
        attnviz.load(folder)
    assert "shape mismatch" in str(error.value) and "32" in str(error.value)


def test_config_with_fewer_layers_names_the_unexpected_tensors(tmp_path):
    folder = saved(tmp_path)
    edit_config(folder, lambda d: d["model"].update(n_layers=1))
    with pytest.raises(CheckpointError, match="unexpected tensors.*blocks.1"):
        load_checkpoint(folder)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["model"].update(embed_size=16), "embed_size"),
    (lambda d: d.update(task="ner"), "does not fit"),
    (lambda d: d.update(labels=["only-one"]), "labels"),
    (lambda d: d.update(format_version=99), "version"),
    (lambda d: d.pop("tokenizer"), "tokenizer"),
])
def test_inconsistent_config_is_refused(tmp_path, change, message):
    folder = saved(tmp_path)
    edit_config(folder, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


def test_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    folder = saved(tmp_path)
    build_word_tokenizer(SENTIMENT_TEXTS + ["many more words than the model knows"]).save(folder / TOKENIZER_FILE)
    with pytest.raises(CheckpointError, match="tokenizer has"):
        load_checkpoint(folder)


def test_missing_tokenizer_is_refused(tmp_path):
    folder = saved(tmp_path)
    (folder / TOKENIZER_FILE).unlink()
    with pytest.raises(CheckpointError, match=TOKENIZER_FILE):
        attnviz.load(folder)


def test_corrupt_tokenizer_is_refused(tmp_path):
    folder = saved(tmp_path)
    (folder / TOKENIZER_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=TOKENIZER_FILE):
        attnviz.load(folder)


def test_missing_weights_are_refused(tmp_path):
    folder = saved(tmp_path)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=WEIGHTS_FILE):
        attnviz.load(folder)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"format": "something-else"}', "\xff\xfe"])
def test_bad_config_json_is_refused(tmp_path, text):
    folder = saved(tmp_path)
    (folder / CONFIG_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError, match=CONFIG_FILE):
        load_checkpoint(folder)
    if text == "{not json":  # attnviz.load cannot tell it is ours, but still fails with a CheckpointError
        with pytest.raises(CheckpointError, match=CONFIG_FILE):
            attnviz.load(folder)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=CONFIG_FILE):
        load_checkpoint(tmp_path)


def test_float16_storage_round_trip(tmp_path):
    model, tokenizer = make_model("lm")
    full = save_checkpoint(tmp_path / "full", model, tokenizer, "lm", [])
    half = save_checkpoint(tmp_path / "half", model, tokenizer, "lm", [], dtype=torch.float16)
    assert (half / WEIGHTS_FILE).stat().st_size < 0.6 * (full / WEIGHTS_FILE).stat().st_size
    from safetensors import safe_open
    with safe_open(str(half / WEIGHTS_FILE), "pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {torch.float16}
    assert json.loads((half / CONFIG_FILE).read_text())["weights_dtype"] == "float16"
    loaded = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor.half().float()), name
    ids = torch.randint(1, tokenizer.vocab_size, (1, 10))
    with torch.no_grad():
        assert (loaded.model(ids).logits - model(ids).logits).abs().max() < 2e-2
