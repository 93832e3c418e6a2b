"""The Train page's data box: the shared data sets (by name when hosted, a folder otherwise) or an upload."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from attnviz.training.data import (TASK_FILES, DataError, default_data_root, parse_classification_tsv, parse_conll,
                                   parse_text, task_file)
from attnviz.training.jobs import check_labels
from attnviz.ui.hosting import is_hosted
from attnviz.ui.safe_text import escape_markdown as md

FORMATS = {"sentiment": ("TSV: `sentence<TAB>label` per line (label 0 or 1), optional header", ["tsv", "txt"]),
           "ner": ("CoNLL: `token<TAB>tag` per line, a blank line between sentences, BIO tags", ["conll", "txt", "tsv"]),
           "lm": ("plain UTF-8 text", ["txt"])}
PARSERS = {"sentiment": parse_classification_tsv, "ner": parse_conll, "lm": parse_text}
UNIT = {"sentiment": "sentences", "ner": "sentences", "lm": "characters"}


@st.cache_data(show_spinner=False, max_entries=8)
def parse_upload(task: str, content: bytes, name: str):
    return PARSERS[task](content, name)


MAX_PATH_CHARS = 1024  # a typed data folder longer than this (or with a part over 255) is refused
DATA_SETS = {"sentiment": "SST-2 (movie review sentences)", "ner": "WikiANN English (entity-tagged sentences)",
             "lm": "tiny Shakespeare (plays, as characters)"}


def shared_data_files(task: str, root: str) -> tuple[Path, str] | None:
    """(train file, dev note) when `root` holds the task's data set laid out like the shared data, else None.

    One answer for every failure (missing, not a folder, unreadable, too long, odd characters), so the
    messages do not tell which server folders exist."""
    if len(root) > MAX_PATH_CHARS or any(len(part) > 255 for part in Path(root).parts) or "\0" in root:
        return None
    try:
        train_path = task_file(task, "train", root)
        if not train_path.is_file():
            return None
        dev_path = task_file(task, "dev", root)
    except (DataError, OSError, ValueError):
        return None
    return train_path, ("dev: its last 10%" if task == "lm" else f"dev: {dev_path.name}")


def sentiment_training_set(task: str, chosen: dict, train_path: Path) -> tuple[dict, Path]:
    """For SST-2, a choice between the 6,920 sentences and the 67k labelled phrases (train_phrases.tsv)."""
    phrases = train_path.with_name("train_phrases.tsv")
    if task != "sentiment" or not phrases.is_file():
        return chosen, train_path
    pick = st.radio("Training set", [train_path.name, phrases.name], horizontal=True, key="train_sst2_file",
                    help="train_phrases.tsv: the 67k labelled phrases of the training trees "
                         "(GLUE SST-2, the set published fine-tuning results use)")
    if pick == phrases.name:
        return {**chosen, "train_file": str(phrases), "dev_from_data_root": True}, phrases
    return chosen, train_path


def data_section(task: str) -> tuple[dict | None, str]:
    """Where the data comes from: ({data_root} or {train_data, dev_data}) and a description; None if not usable.

    Hosted: the shared data sets by name only (no box for server paths), or an upload."""
    hosted = is_hosted()
    options = ["the shared data sets" if hosted else "the shared data folder", "a file I upload"]
    source = st.radio("Training data", options, horizontal=True, key="train_source")
    if source == options[0]:
        default_root, origin = default_data_root()
        if hosted:
            root = str(default_root)
            found = shared_data_files(task, root)
            if found is None:
                st.info("The shared data sets are not installed on this server: upload a training file instead.")
                return None, ""
            chosen, train_path = sentiment_training_set(task, {"data_root": root}, found[0])
            st.caption(f"Data set: {md(DATA_SETS[task])}, {md(train_path.name)} ({md(found[1])}).")
            return chosen, DATA_SETS[task]
        root = st.text_input("Data folder", value=str(default_root), key="train_data_root", max_chars=MAX_PATH_CHARS,
                             help="A folder laid out like the shared data: sst2/, wikiann-en/, tinyshakespeare/. "
                                  "The default is $ATTNVIZ_DATA if set, else ../shared/data beside the app.")
        if not root.strip():
            st.info("Type the path of the data folder (or set ATTNVIZ_DATA before starting the app).")
            return None, ""
        found = shared_data_files(task, root.strip())
        folder, train_name, _ = TASK_FILES[task]
        if found is None:
            st.error(f"No {md(task)} data set found there: the folder needs {md(folder)}/{md(train_name)} "
                     "(the layout of the shared data).")
            return None, ""
        chosen, train_path = sentiment_training_set(task, {"data_root": root.strip()}, found[0])
        st.caption(f"Reads {md(train_path)} ({md(found[1])}).")
        return chosen, str(train_path)
    text, types = FORMATS[task]
    st.caption(f"Format: {text}.")
    upload = st.file_uploader("Training file", type=types, key=f"train_upload_{task}")
    dev_upload = st.file_uploader("Dev file (optional: otherwise the last 10% of the training file is held out)",
                                  type=types, key=f"train_dev_upload_{task}")
    if upload is None:
        st.info("Upload a training file to go on.")
        return None, ""
    try:
        train_data = parse_upload(task, upload.getvalue(), upload.name)
        check_labels(task, train_data, upload.name)
        dev_data = None
        if dev_upload is not None:
            dev_data = parse_upload(task, dev_upload.getvalue(), dev_upload.name)
            check_labels(task, dev_data, dev_upload.name)
    except DataError as error:
        st.error(f"That file cannot be used: {md(error)}")
        return None, ""
    st.caption(f"Read {len(train_data):,} {UNIT[task]} from {md(upload.name)}"
               + (f" and {len(dev_data):,} from {md(dev_upload.name)}." if dev_data is not None else "."))
    return {"train_data": train_data, "dev_data": dev_data}, upload.name
