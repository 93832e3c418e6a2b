"""Corpus search (exBERT's idea): every token of a corpus embedded at each layer; find the nearest contexts.

One pass of the model over the corpus gives the hidden states of every layer; each layer's index is a
matrix of unit vectors (one per non-special token), kept as float16 and cached on disk per layer (see
attnviz.analysis.index_cache; never pickle). Search is by cosine similarity: an exact numpy product
below VECTOR_LIBRARY_AT vectors, faiss (an exact inner-product index, SIMD and multi-threaded) above.

On a CPU where bfloat16 autocast measures faster than float32 (precision="auto"; a short probe, once per
process) the model runs under it for the index and the query alike: 2.5x faster on one AVX512-BF16
machine (but 1.8x slower on another, without AMX, where "auto" keeps float32), and each vector's cosine
with the float32 one is >= 0.9997 (MiniLM over WikiANN); precision="float32" turns that off.

Decoders (causal models) skip position 0: the first token sees only itself, so its state is the same
"attention sink" for every text and scores near 1.0 against any other first token.
"""
from __future__ import annotations

import hashlib
import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from attnviz.analysis import index_cache
from attnviz.analysis.corpus import Progress, corpus_batches
from attnviz.device import cpu_bf16_is_faster
from attnviz.errors import InputError
from attnviz.memory import release_free_memory

log = logging.getLogger(__name__)
CACHE_ENV = "ATTNVIZ_CACHE"
VECTOR_LIBRARY_AT = 50_000  # from this many vectors on, search through faiss
DEFAULT_MAX_SENTENCES = 2_000
DEFAULT_MAX_BYTES = 256 << 20  # float16 vectors of every layer together (SmolLM2: 30 layers x 576 per token)
BATCH_HIDDEN_BYTES = 48 << 20  # one batch's float32 hidden states of every layer (the model holds a second copy)
Stop = Callable[[], bool]


class IndexStopped(InputError):
    """The build was stopped (Stop button or stop callback) before it finished."""


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
    """Unit vectors (N, d) float16 of every indexed corpus token at one layer, with where each came from."""

    bundle: object
    layer: int
    texts: list[str]
    tokens: list[list[str]]  # every text's tokens as the model saw them
    vectors: np.ndarray  # (N, d) float16, each row of norm 1
    sentence_ids: np.ndarray  # (N,) int: which text
    token_ids: np.ndarray  # (N,) int: which token of that text
    from_cache: bool = False
    skip_first: bool = False  # position 0 left out (decoders)
    cache_note: str = ""  # why a cached index was not used, when one was found and rebuilt
    precision: str = "float32"  # what the model ran in: "float32" or "bfloat16" (autocast)
    _searcher: object = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, bundle, texts: list[str], layer: int, *, progress: Progress | None = None,
              stop: Stop | None = None, batch_size: int = 32, cache: bool = True,
              cache_dir: str | Path | None = None, precision: str = "auto") -> "ContextIndex":
        """The index of one layer (0-based: the hidden state after that block); see build_layers."""
        _check_layer(bundle, layer)
        return build_layers(bundle, texts, [layer], progress=progress, stop=stop, batch_size=batch_size,
                            cache=cache, cache_dir=cache_dir, precision=precision)[layer]

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])

    def query_vector(self, text: str, token_index: int) -> tuple[np.ndarray, list[str]]:
        """The unit vector of token `token_index` of the text at this index's layer, and the text's tokens."""
        with torch.inference_mode(), _autocast(self.precision):
            batch = self.bundle.forward_batch([text], attentions=False, hidden=True)
        n = batch.lengths[0]
        if isinstance(token_index, bool) or not isinstance(token_index, (int, np.integer)):
            raise InputError(f"The token must be a whole number from 0 to {n - 1}.")
        if not 0 <= token_index < n:
            raise InputError(f"Token {token_index} does not exist; the text has tokens 0 to {n - 1}.")
        if self.skip_first and token_index == 0:
            raise InputError("Position 0 of a decoder is not searched: the first token sees only itself, so "
                             "its state is the same for every text. Pick a later token.")
        vector = batch.hidden[0, self.layer, token_index].numpy().astype(np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12), batch.tokens[0]

    def search(self, text: str, token_index: int, k: int = 10) -> list[SearchHit]:
        """The k corpus tokens whose contexts are most similar (cosine) to the text's token, best first."""
        vector, _ = self.query_vector(text, token_index)
        return self.search_vector(vector, k)

    def search_vector(self, vector: np.ndarray, k: int = 10) -> list[SearchHit]:
        k = max(0, min(int(k), self.size))
        if k == 0:
            return []
        scores, rows = self._search(np.asarray(vector, dtype=np.float32).reshape(-1), k)
        hits = []
        for score, row in zip(scores, rows):
            sentence, token = int(self.sentence_ids[row]), int(self.token_ids[row])
            hits.append(SearchHit(self.texts[sentence], sentence, self.tokens[sentence][token], token,
                                  float(score), tuple(self.tokens[sentence])))
        return hits

    def _search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the k best rows, best first (ties by row)."""
        if self._searcher is None:
            matrix = self.vectors.astype(np.float32)  # (N, d): BLAS has no float16 product
            if self.size >= VECTOR_LIBRARY_AT:
                import faiss

                faiss.omp_set_num_threads(1)  # one query at a time: its OpenMP threads would fight torch's
                searcher = faiss.IndexFlatIP(matrix.shape[1])
                searcher.add(matrix)
                self._searcher = searcher
            else:
                self._searcher = matrix
        if isinstance(self._searcher, np.ndarray):
            similarity = self._searcher @ vector  # (N,)
            top = np.argpartition(-similarity, k - 1)[:k]
            top = top[np.lexsort((top, -similarity[top]))]
            return similarity[top], top
        scores, rows = self._searcher.search(vector[None, :], k)  # (1, k) each
        return scores[0], rows[0]

    def disk_bytes(self) -> int:
        """What the cached index takes on disk (vectors as float16, ids): an estimate before saving."""
        return int(self.vectors.shape[0] * (self.vectors.shape[1] * 2 + 16))


def _check_layer(bundle, layer) -> None:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < bundle.n_layers:
        raise InputError(f"Layer {layer!r} does not exist; the model has layers 0 to {bundle.n_layers - 1}.")


def resolve_precision(bundle, precision: str = "auto") -> str:
    """"bfloat16" when asked, or for "auto" on a CPU where bfloat16 autocast measures faster than
    float32 (attnviz.device.cpu_bf16_is_faster); else "float32"."""
    if precision not in ("auto", "float32", "bfloat16"):
        raise InputError(f"precision must be 'auto', 'float32' or 'bfloat16', not {precision!r}.")
    if precision != "auto":
        return precision
    on_cpu = str(getattr(bundle, "device", "cpu")) == "cpu"
    return "bfloat16" if on_cpu and cpu_bf16_is_faster() else "float32"


def _autocast(precision: str):
    if precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_layers(bundle, texts: list[str], layers: list[int] | None = None, *, progress: Progress | None = None,
                 stop: Stop | None = None, batch_size: int = 32, cache: bool = True,
                 cache_dir: str | Path | None = None, cache_budget_bytes: int = index_cache.DEFAULT_BUDGET_BYTES,
                 precision: str = "auto", max_bytes: int = DEFAULT_MAX_BYTES) -> dict[int, ContextIndex]:
    """{layer: ContextIndex} for the given layers (default: all), from ONE pass of the model over the texts.

    With cache=True every layer is read from, or written to, <cache_dir>/index-<model>-<corpus>/L<layer>;
    a damaged or foreign cache is rebuilt (its reason in cache_note). progress(done, total) is called
    after each batch; stop() returning True ends the build with IndexStopped (nothing is cached).
    max_bytes bounds the float16 vectors of all layers together: when the texts would pass it, only the
    first ones that fit are indexed (each index's `texts` says which; its cache_note says why).
    """
    layers = list(range(bundle.n_layers)) if layers is None else [int(x) for x in layers]
    for layer in layers:
        _check_layer(bundle, layer)
    texts = [str(t) for t in texts]
    texts, cut_note = _fit_budget(bundle, texts, len(layers), max_bytes)
    skip_first = bool(getattr(bundle, "causal", False))
    precision = resolve_precision(bundle, precision)
    folder, note = None, ""
    if cache:
        root = Path(cache_dir) if cache_dir is not None else cache_root()
        folder = root / f"index-{model_fingerprint(bundle)}-{corpus_hash(texts)}"
        found, note = _load_cached(bundle, texts, layers, folder, precision)
        if found is not None:
            for index in found.values():
                index.cache_note = cut_note
            return found
    with _autocast(precision):
        per_layer = _embed(bundle, texts, layers, skip_first, progress, stop, batch_size)
    tokens, sentence_ids, token_ids = per_layer.pop("_meta")
    note = " ".join(n for n in (cut_note, note) if n)
    out = {layer: ContextIndex(bundle, layer, texts, tokens, per_layer[layer], sentence_ids, token_ids,
                               skip_first=skip_first, cache_note=note, precision=precision) for layer in layers}
    release_free_memory()  # the batches' hidden states, given back to the system
    if folder is not None:
        try:
            index_cache.write_meta(folder, {"model": bundle.name, "texts": texts, "tokens": tokens,
                                            "skip_first": skip_first, "precision": precision})
            for layer in layers:
                index_cache.write_layer(folder, layer, per_layer[layer], sentence_ids, token_ids)
            index_cache.evict(folder.parent, cache_budget_bytes, keep=folder)
        except OSError as error:  # a read-only or full disk, or a link planted at our name: no cache
            log.warning("corpus index not cached at %s: %s", folder, error)
            for index in out.values():
                index.cache_note = f"The index could not be kept on disk ({error.strerror or error})."
    return out


def hidden_size(bundle) -> int:
    """The width of the model's hidden states (d_model / hidden_size)."""
    config = bundle.model.config
    return int(getattr(config, "d_model", 0) or getattr(config, "hidden_size", 0) or 768)


def _fit_budget(bundle, texts: list[str], n_layers: int, max_bytes: int) -> tuple[list[str], str]:
    """(the first texts whose vectors fit max_bytes, a note when some were left out)."""
    per_token = n_layers * hidden_size(bundle) * 2  # float16
    used = 0
    for count, text in enumerate(texts):
        try:
            used += len(bundle.encode(text).ids) * per_token
        except InputError:
            return texts, ""  # corpus_batches names the bad sentence
        if used > max_bytes:
            if count == 0:
                raise InputError("The first sentence alone is too long to index.")
            return texts[:count], (f"Only the first {count:,} of {len(texts):,} sentences are indexed: {n_layers} "
                                   f"layers x {hidden_size(bundle)} values per token would pass the "
                                   f"{max_bytes / 2**20:,.0f} MiB memory budget of an index.")
    return texts, ""


def _load_cached(bundle, texts, layers, folder: Path, precision: str
                 ) -> tuple[dict[int, ContextIndex] | None, str]:
    try:
        meta = index_cache.read_meta(folder, texts)
        if meta.get("precision") != precision:
            raise index_cache.CacheProblem(f"it was built in {meta.get('precision')!r}, not {precision}")
        found = {}
        for layer in layers:
            cached = index_cache.read_layer(folder, layer, meta)
            found[layer] = ContextIndex(bundle, layer, cached.texts, cached.tokens, cached.vectors,
                                        cached.sentence_ids, cached.token_ids, from_cache=True,
                                        skip_first=cached.skip_first, precision=precision)
    except index_cache.CacheProblem as problem:
        if str(problem) == "no cached index":
            return None, ""
        return None, f"The cached index was unusable ({problem}); it was rebuilt."
    index_cache.touch(folder)
    return found, ""


def _embed(bundle, texts, layers, skip_first, progress, stop, batch_size) -> dict:
    """{layer: (N, d) float16 unit vectors, "_meta": (tokens, sentence_ids, token_ids)} in one pass."""
    chunks = {layer: [] for layer in layers}
    sentence_ids, token_ids, tokens = [], [], [None] * len(texts)
    done = 0
    with torch.inference_mode():
        positions = BATCH_HIDDEN_BYTES // ((bundle.n_layers + 1) * hidden_size(bundle) * 4)
        for indices, batch in corpus_batches(bundle, texts, attentions=False, hidden=True, batch_size=batch_size,
                                             progress=progress, max_positions=positions):
            if stop is not None and stop():
                raise IndexStopped(f"Stopped after {done:,} of {len(texts):,} sentences; nothing was kept.")
            done += len(indices)
            rows, columns = [], []
            for row, text_index in enumerate(indices):
                tokens[text_index] = batch.tokens[row]
                keep = [t for t in range(batch.lengths[row]) if not batch.special[row][t]
                        and not (skip_first and t == 0)]
                rows.extend([row] * len(keep))
                columns.extend(keep)
                sentence_ids.extend([text_index] * len(keep))
                token_ids.extend(keep)
            picked = batch.hidden[rows, :, columns][:, layers]  # (n, layers, d)
            picked = picked / picked.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            for position, layer in enumerate(layers):
                chunks[layer].append(picked[:, position].to(torch.float16).numpy())
    if not sentence_ids:
        raise InputError("The sentences have no tokens to index (only special tokens).")
    out = {layer: np.concatenate(chunks[layer]) for layer in layers}
    out["_meta"] = (tokens, np.asarray(sentence_ids, dtype=np.int64), np.asarray(token_ids, dtype=np.int64))
    return out
