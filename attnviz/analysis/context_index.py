"""Corpus search (exBERT's idea): every token of a corpus embedded at one layer; find the nearest contexts.

The index is a matrix of unit vectors (one per non-special token: the hidden state after the chosen
block), searched by cosine similarity with numpy. That is instant for a dev set (tens of thousands of
tokens); at a million tokens and more, switch to an approximate nearest-neighbour library such as
faiss (IndexFlatIP, or IndexHNSWFlat for sub-linear search) over the same normalised vectors.

An index is cached on disk per (model, layer, corpus) as safetensors (the vectors, float16) plus JSON
(texts and tokens), never pickle, under $ATTNVIZ_CACHE or ~/.cache/attnviz.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from attnviz.analysis.corpus import Progress, corpus_batches
from attnviz.errors import InputError

CACHE_ENV = "ATTNVIZ_CACHE"
FORMAT = 1


def cache_root() -> Path:
    """$ATTNVIZ_CACHE, else ~/.cache/attnviz."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attnviz"


def model_fingerprint(bundle) -> str:
    """A short hash of the model's name, source and weights (a retrained model gets a new one)."""
    digest = hashlib.sha256(f"{bundle.name}|{bundle.source}|{bundle.n_layers}|{bundle.n_heads}".encode())
    with torch.no_grad():
        for name, parameter in bundle.model.named_parameters():
            digest.update(name.encode())
            digest.update(np.float64(parameter.detach().double().sum().item()).tobytes())
    return digest.hexdigest()[:16]


def corpus_hash(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class SearchHit:
    """One nearest context: the corpus sentence, its token at token_index (the model's tokens), cosine similarity."""

    sentence: str
    sentence_index: int
    token: str
    token_index: int
    similarity: float
    tokens: tuple[str, ...]


@dataclass
class ContextIndex:
    """Unit vectors (N, d) of every non-special corpus token at one layer, with where each came from."""

    bundle: object
    layer: int
    texts: list[str]
    tokens: list[list[str]]  # every text's tokens as the model saw them
    vectors: np.ndarray  # (N, d) float32, each row of norm 1
    sentence_ids: np.ndarray  # (N,) int: which text
    token_ids: np.ndarray  # (N,) int: which token of that text
    from_cache: bool = False

    @classmethod
    def build(cls, bundle, texts: list[str], layer: int, *, progress: Progress | None = None,
              batch_size: int = 32, cache: bool = True, cache_dir: str | Path | None = None) -> "ContextIndex":
        """Embed every token of the texts at `layer` (0-based: the hidden state after that block).

        With cache=True the index is read from, or written to, <cache_dir>/index-<model>-L<layer>-<corpus>.
        """
        if not 0 <= layer < bundle.n_layers:
            raise InputError(f"Layer {layer} does not exist; the model has layers 0 to {bundle.n_layers - 1}.")
        texts = [str(t) for t in texts]
        path = None
        if cache:
            folder = Path(cache_dir) if cache_dir is not None else cache_root()
            path = folder / f"index-{model_fingerprint(bundle)}-L{layer}-{corpus_hash(texts)}"
            loaded = cls._load(bundle, layer, texts, path)
            if loaded is not None:
                return loaded
        vectors, sentence_ids, token_ids, tokens = [], [], [], [None] * len(texts)
        for indices, batch in corpus_batches(bundle, texts, attentions=False, hidden=True,
                                             batch_size=batch_size, progress=progress):
            states = batch.hidden[:, layer]  # (B, T, d)
            for row, text_index in enumerate(indices):
                tokens[text_index] = batch.tokens[row]
                keep = [t for t in range(batch.lengths[row]) if not batch.special[row][t]]
                vectors.append(states[row, keep].numpy())
                sentence_ids.extend([text_index] * len(keep))
                token_ids.extend(keep)
        matrix = np.concatenate(vectors).astype(np.float32)  # (N, d)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        index = cls(bundle, layer, texts, tokens, matrix, np.asarray(sentence_ids, dtype=np.int64),
                    np.asarray(token_ids, dtype=np.int64))
        if path is not None:
            index._save(path)
        return index

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])

    def query_vector(self, text: str, token_index: int) -> tuple[np.ndarray, list[str]]:
        """The unit vector of token `token_index` of the text at this index's layer, and the text's tokens."""
        batch = self.bundle.forward_batch([text], attentions=False, hidden=True)
        n = batch.lengths[0]
        if not 0 <= token_index < n:
            raise InputError(f"Token {token_index} does not exist; the text has tokens 0 to {n - 1}.")
        vector = batch.hidden[0, self.layer, token_index].numpy().astype(np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12), batch.tokens[0]

    def search(self, text: str, token_index: int, k: int = 10) -> list[SearchHit]:
        """The k corpus tokens whose contexts are most similar (cosine) to the text's token, best first."""
        vector, _ = self.query_vector(text, token_index)
        return self.search_vector(vector, k)

    def search_vector(self, vector: np.ndarray, k: int = 10) -> list[SearchHit]:
        similarity = self.vectors @ vector.astype(np.float32)  # (N,)
        k = max(0, min(int(k), similarity.shape[0]))
        if k == 0:
            return []
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.argsort(-similarity[top], kind="stable")]
        hits = []
        for row in top:
            sentence, token = int(self.sentence_ids[row]), int(self.token_ids[row])
            hits.append(SearchHit(self.texts[sentence], sentence, self.tokens[sentence][token], token,
                                  float(similarity[row]), tuple(self.tokens[sentence])))
        return hits

    # -- disk cache: safetensors for the numbers, JSON for the text
    def _save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": self.vectors.astype(np.float16), "sentence_ids": self.sentence_ids,
                   "token_ids": self.token_ids}, str(path / "index.safetensors"))
        meta = {"format": FORMAT, "model": self.bundle.name, "layer": self.layer, "texts": self.texts,
                "tokens": self.tokens}
        (path / "index.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def _load(cls, bundle, layer: int, texts: list[str], path: Path) -> "ContextIndex | None":
        try:
            meta = json.loads((path / "index.json").read_text(encoding="utf-8"))
            arrays = load_file(str(path / "index.safetensors"))
        except (OSError, ValueError, SafetensorError):
            return None  # no cache yet, or a damaged one: build again
        if meta.get("format") != FORMAT or meta.get("texts") != texts or meta.get("layer") != layer:
            return None
        vectors = arrays["vectors"].astype(np.float32)
        return cls(bundle, layer, texts, meta["tokens"], vectors, arrays["sentence_ids"], arrays["token_ids"],
                   from_cache=True)

    def disk_bytes(self) -> int:
        """What the cached index takes on disk (vectors as float16, ids, JSON): an estimate before saving."""
        return int(self.vectors.shape[0] * (self.vectors.shape[1] * 2 + 16))
