"""Readers for the three task data sets: SST-2 TSV, CoNLL NER, plain text.

Every reader exists twice: `read_*(path)` for a file and `parse_*(text, source)` for
in-memory content (an uploaded file, as str or bytes). Any problem the user can cause
raises `DataError` with one line naming the file and, where it applies, the line number.
"""
from __future__ import annotations

import os
from pathlib import Path

SENTIMENT_LABELS = ["negative", "positive"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]

# task -> (folder, train file, dev file); lm has no dev file: dev is the tail of train.
TASK_FILES: dict[str, tuple[str, str, str | None]] = {
    "sentiment": ("sst2", "train.tsv", "dev.tsv"),
    "ner": ("wikiann-en", "train.conll", "dev.conll"),
    "lm": ("tinyshakespeare", "train.txt", None),
}
SPLITS = ("train", "dev")
LM_DEV_FRACTION = 0.1  # share of the LM training text held out as dev (its tail)

HUB_NAMES = {
    "sentiment": "stanfordnlp/sst2",
    "ner": "unimelb-nlp/wikiann",
    "lm": "karpathy/tiny_shakespeare",
}

Text = str | bytes


class DataError(ValueError):
    """A problem with the user's data (file missing, malformed, wrong encoding...)."""


# ---------------------------------------------------------------- locations


REPO_ROOT = Path(__file__).resolve().parents[2]


def default_data_root() -> tuple[Path, str]:
    """The one data-root rule of the app, the CLI and the tests: $ATTNVIZ_DATA if set, else
    ../shared/data beside the repository. Returns (folder, where the choice came from)."""
    if os.environ.get("ATTNVIZ_DATA", "").strip():
        return Path(os.environ["ATTNVIZ_DATA"].strip()).expanduser(), "ATTNVIZ_DATA"
    return REPO_ROOT.parent / "shared" / "data", "the default ../shared/data beside the repository"


def data_root(path: str | Path | None = None) -> Path:
    """The data folder: `path` if given, else the default (see `default_data_root`); it must exist."""
    if path is not None and str(path) != "":
        root, origin = Path(path).expanduser(), "--data"
    else:
        root, origin = default_data_root()
    if not root.is_dir():
        raise DataError(f"data folder {root} (from {origin}) does not exist or is not a folder; "
                        "pass --data PATH or set ATTNVIZ_DATA")
    return root


def _check_task(task: str, split: str) -> None:
    if task not in TASK_FILES:
        raise DataError(f"unknown task {task!r}; expected one of {', '.join(TASK_FILES)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def task_file(task: str, split: str, root: str | Path | None = None) -> Path:
    """Path of a task's split under the data root, e.g. `<root>/sst2/dev.tsv`.

    For "lm" both splits resolve to train.txt: dev is its tail (see `split_tail`).
    """
    _check_task(task, split)
    folder, train, dev = TASK_FILES[task]
    name = dev if (split == "dev" and dev is not None) else train
    return data_root(root) / folder / name


# ---------------------------------------------------------------- decoding


def _decode(data: Text, source: str) -> str:
    """bytes -> str (UTF-8, BOM dropped), with CRLF/CR turned into LF."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{source}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
            ) from None
    elif data.startswith("\ufeff"):
        data = data[1:]
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None


def _show(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")


# ---------------------------------------------------------------- classification TSV


def _parse_label(field: str) -> int | None:
    try:
        return int(field.strip())
    except ValueError:
        return None


def parse_classification_tsv(text: Text, source: str = "<upload>") -> list[tuple[str, int]]:
    """Rows of `sentence<TAB>label` (integer label) with an optional header line."""
    lines = _decode(text, source).split("\n")
    rows: list[tuple[str, int]] = []
    first = True
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(f"{source}:{lineno}: expected 'sentence<TAB>label', found no tab in {_show(line)}")
        sentence, field = line.rsplit("\t", 1)
        label = _parse_label(field)
        if first:
            first = False
            if label is None:
                if [c.strip().lower() for c in line.split("\t")] == ["sentence", "label"]:
                    continue
                raise DataError(
                    f"{source}:{lineno}: bad header {_show(line)}; expected 'sentence<TAB>label'"
                )
        if label is None:
            raise DataError(f"{source}:{lineno}: label {field.strip()!r} is not an integer")
        if not sentence.strip():
            raise DataError(f"{source}:{lineno}: empty sentence")
        rows.append((sentence.strip(), label))
    if not rows:
        raise DataError(f"{source}: no data rows (empty file?)")
    return rows


def read_classification_tsv(path: str | Path) -> list[tuple[str, int]]:
    """Read an SST-2 style TSV file (see `parse_classification_tsv`)."""
    return parse_classification_tsv(_read_bytes(path), str(path))


# ---------------------------------------------------------------- CoNLL


def parse_conll(text: Text, source: str = "<upload>") -> list[tuple[list[str], list[str]]]:
    """Sentences of (tokens, tags) from CoNLL text.

    One token per line: `token<TAB>tag`, `token tag`, or the CoNLL-2003 layout
    `token POS chunk NER` (the tag is the last column). Blank lines separate
    sentences; `-DOCSTART-` lines are skipped.
    """
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for lineno, line in enumerate(_decode(text, source).split("\n"), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        # Tab-separated lines may hold tokens with spaces; otherwise split on whitespace.
        cols = [c.strip() for c in line.split("\t")] if "\t" in line else line.split()
        if len(cols) < 2 or not cols[0] or not cols[-1]:
            raise DataError(f"{source}:{lineno}: expected 'token<TAB>tag', found {_show(line)}")
        tokens.append(cols[0])
        tags.append(cols[-1])
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise DataError(f"{source}: no sentences (empty file?)")
    return sentences


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Read a CoNLL NER file (see `parse_conll`)."""
    return parse_conll(_read_bytes(path), str(path))


# ---------------------------------------------------------------- plain text


def parse_text(text: Text, source: str = "<upload>") -> str:
    """UTF-8 text with newlines normalised to LF; DataError if empty."""
    out = _decode(text, source)
    if not out.strip():
        raise DataError(f"{source}: empty text")
    return out


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file (see `parse_text`)."""
    return parse_text(_read_bytes(path), str(path))


def split_tail(text: str, fraction: float) -> tuple[str, str]:
    """(first 1-fraction, last fraction) of `text`: the LM train/dev split."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    cut = len(text) - int(round(len(text) * fraction))
    return text[:cut], text[cut:]


# ---------------------------------------------------------------- whole tasks


def read_task_file(task: str, path: str | Path) -> list | str:
    """Read a file with the reader that fits `task`."""
    if task == "sentiment":
        return read_classification_tsv(path)
    if task == "ner":
        return read_conll(path)
    if task == "lm":
        return read_text(path)
    raise DataError(f"unknown task {task!r}; expected one of {', '.join(TASK_FILES)}")


def load_task(task: str, split: str, root: str | Path | None = None, hub: bool = False) -> list | str:
    """A task's split, ready to use: local files under `root`, or the hub if `hub`.

    Unlike the raw readers, "lm" here is already split: train is the head of
    train.txt and dev its last LM_DEV_FRACTION.
    """
    _check_task(task, split)
    data = load_from_hub(task, split) if hub else read_task_file(task, task_file(task, split, root))
    if task == "lm":
        assert isinstance(data, str)
        head, tail = split_tail(data, LM_DEV_FRACTION)
        return head if split == "train" else tail
    return data


def _short(exc: BaseException, limit: int = 160) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit] + "..."


def _check_reachable(datasets_module, name: str, hint: str, timeout: float = 3.0) -> None:
    """Fail fast when the hub cannot be reached (the hub client retries for ~25 s).

    Skipped in offline mode (`datasets` answers from its cache at once) and behind a proxy.
    """
    if getattr(datasets_module.config, "HF_HUB_OFFLINE", False):
        return
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise DataError(
            f"could not download {name} from the HuggingFace hub (offline?): cannot reach {host} "
            f"({_short(exc)}); {hint}, or set HF_HUB_OFFLINE=1 to use a cached download"
        ) from None


def load_from_hub(task: str, split: str) -> list | str:
    """Download a task's split from the HuggingFace hub (needs `datasets` and network).

    Returns what the matching reader returns for the local file; for "lm" that is
    the whole training text for either split (take dev with `split_tail`, or use
    `load_task`). Any failure raises DataError.
    """
    _check_task(task, split)
    name = HUB_NAMES[task]
    hint = "use --data with a local copy"
    try:
        import datasets  # lazy: heavy, and optional
    except ImportError:
        raise DataError(f"could not download {name}: the 'datasets' package is not installed; {hint}") from None
    _check_reachable(datasets, name, hint)
    hub_split = "validation" if (split == "dev" and task != "lm") else "train"
    try:
        if task == "sentiment":
            ds = datasets.load_dataset(name, split=hub_split)
            return [(str(r["sentence"]).strip(), int(r["label"])) for r in ds]
        if task == "ner":
            ds = datasets.load_dataset(name, "en", split=hub_split)
            try:
                names = list(ds.features["ner_tags"].feature.names)
            except (AttributeError, KeyError):
                names = NER_LABELS
            return [(list(r["tokens"]), [names[t] for t in r["ner_tags"]]) for r in ds]
        ds = datasets.load_dataset(name, split=hub_split)
        text = "".join(str(r["text"]) for r in ds)
    except Exception as exc:  # network, offline mode, missing files, format changes...
        raise DataError(
            f"could not download {name} from the HuggingFace hub (offline?): {_short(exc)}; {hint}"
        ) from None
    if not text:
        raise DataError(f"could not download {name} from the HuggingFace hub: empty text; {hint}")
    return text
