"""Readers for the task data: shared files, odd layouts, and malformed input."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from attnviz.training import data
from attnviz.training.data import DataError


# ------------------------------------------------------------ the shared files


def test_sst2_counts(shared_data: Path):
    train = data.read_classification_tsv(shared_data / "sst2" / "train.tsv")
    dev = data.read_classification_tsv(data.task_file("sentiment", "dev", shared_data))
    assert (len(train), sum(label for _, label in train)) == (6920, 3610)
    assert (len(dev), sum(label for _, label in dev)) == (872, 444)
    assert {label for _, label in train + dev} == {0, 1}
    assert all(sentence and "\t" not in sentence for sentence, _ in train)


def test_wikiann_counts(shared_data: Path):
    train = data.read_conll(data.task_file("ner", "train", shared_data))
    dev = data.read_conll(data.task_file("ner", "dev", shared_data))
    assert (len(train), len(dev)) == (20000, 10000)
    tags = {t for _, sent_tags in train + dev for t in sent_tags}
    assert tags <= set(data.NER_LABELS)
    assert all(len(toks) == len(sent_tags) > 0 for toks, sent_tags in train)


def test_shakespeare(shared_data: Path):
    text = data.read_text(data.task_file("lm", "train", shared_data))
    assert len(text) == 1_003_854
    assert data.task_file("lm", "dev", shared_data) == data.task_file("lm", "train", shared_data)
    head, tail = data.split_tail(text, 0.1)
    assert head + tail == text and len(tail) == round(len(text) * 0.1)
    assert data.load_task("lm", "dev", shared_data) == tail


# ------------------------------------------------------------ classification TSV


def test_tsv_without_header_crlf_and_blank_lines():
    rows = data.parse_classification_tsv("good film\t1\r\nbad film\t0\r\n\r\n\r\n")
    assert rows == [("good film", 1), ("bad film", 0)]


def test_tsv_from_bytes_with_bom():
    raw = "\ufeffsentence\tlabel\ncafé au lait\t1\n".encode("utf-8")
    assert data.parse_classification_tsv(raw) == [("café au lait", 1)]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"sentence\tlabel\ngood\tyes\n", ":2:"),  # label not an integer
        (b"sentence\tlabel\ngood film 1\n", ":2:"),  # missing column
        (b"text\tstars\ngood\t1\n", ":1:"),  # bad header
        (b"", "empty"),  # empty file
        (b"sentence\tlabel\n", "empty"),  # header only
        (b"sentence\tlabel\ncaf\xe9\t1\n", "UTF-8"),  # Latin-1, not UTF-8
    ],
)
def test_tsv_malformed(tmp_path: Path, content: bytes, fragment: str):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        data.read_classification_tsv(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="nope.tsv: file not found"):
        data.read_classification_tsv(tmp_path / "nope.tsv")


# ------------------------------------------------------------ CoNLL


def test_conll_four_columns_docstart():
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n"
    )
    assert data.parse_conll(text, "x.conll") == [
        (["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]


def test_conll_space_separated_crlf_and_many_blank_lines():
    text = "\r\n\r\nParis B-LOC\r\nis O\r\n\r\n\r\n\r\nRome\tB-LOC\r\n\r\n"
    assert data.parse_conll(text.encode()) == [(["Paris", "is"], ["B-LOC", "O"]), (["Rome"], ["B-LOC"])]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"Paris\tB-LOC\nis\n", ":2:"),  # missing tag column
        (b"\n\n", "empty"),
        (b"-DOCSTART- O\n\n", "empty"),
        (b"M\xfcnchen\tB-LOC\n", "UTF-8"),
    ],
)
def test_conll_malformed(tmp_path: Path, content: bytes, fragment: str):
    path = tmp_path / "bad.conll"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        data.read_conll(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


# ------------------------------------------------------------ text


def test_text(tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"To be,\r\nor not.\r\n")
    assert data.read_text(tmp_path / "a.txt") == "To be,\nor not.\n"
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="empty.txt: empty"):
        data.read_text(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="bin.txt: not UTF-8"):
        data.read_text(tmp_path / "bin.txt")


def test_split_tail():
    assert data.split_tail("abcdefghij", 0.2) == ("abcdefgh", "ij")
    with pytest.raises(ValueError):
        data.split_tail("abc", 1.0)


# ------------------------------------------------------------ locations


def test_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("ATTNVIZ_DATA", raising=False)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path / "repo")  # a clone with no ../shared/data beside it
    with pytest.raises(DataError, match="shared/data.*--data.*ATTNVIZ_DATA"):
        data.data_root()
    (tmp_path / "shared" / "data").mkdir(parents=True)  # the README's layout: ../shared/data
    assert data.data_root() == tmp_path / "shared" / "data"
    assert data.data_root(tmp_path) == tmp_path
    monkeypatch.setenv("ATTNVIZ_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    assert data.data_root(str(tmp_path / "..")) == tmp_path / ".."  # explicit path wins
    assert data.task_file("sentiment", "dev") == tmp_path / "sst2" / "dev.tsv"
    with pytest.raises(DataError, match="does not exist"):
        data.data_root(tmp_path / "missing")
    with pytest.raises(DataError, match="unknown task"):
        data.task_file("pos", "dev")
    with pytest.raises(DataError, match="unknown split"):
        data.task_file("ner", "test")


# ------------------------------------------------------------ hub


def test_load_from_hub_offline_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no cached copy to fall back on
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # Both libraries read these at import time: patch them too if already imported.
    if "huggingface_hub" in sys.modules:
        monkeypatch.setattr(sys.modules["huggingface_hub"].constants, "HF_HUB_OFFLINE", True)
    if "datasets" in sys.modules:
        monkeypatch.setattr(sys.modules["datasets"].config, "HF_HUB_OFFLINE", True)
        monkeypatch.setattr(sys.modules["datasets"].config, "HF_DATASETS_OFFLINE", True)
    for task in data.TASK_FILES:
        start = time.monotonic()
        with pytest.raises(DataError, match="could not download .*use --data") as info:
            data.load_from_hub(task, "dev")
        assert data.HUB_NAMES[task] in str(info.value)
        assert time.monotonic() - start < 10  # first call includes importing datasets
