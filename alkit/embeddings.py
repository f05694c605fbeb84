"""Sentence embeddings from every embedder kind behind one call, cached by content.

``embed(model_id, texts)`` returns float32 rows of unit L2 norm (a row that is all zeros stays
zero: GloVe for a text with no known word, or TF-IDF/LSA for a text with no fitted term).

- ``sentence-transformers`` folders (all-mpnet-base-v2, all-MiniLM-L6-v2, plain BERT with mean
  pooling, and the paper profile's large embedders): ``SentenceTransformer(resolve(id))`` on CPU.
- ``onnx-sentence`` (paraphrase-MiniLM-L3-v2): onnxruntime; its output "461" is the
  attention-masked mean of the last token states (verified against the token output), truncated
  at 128 tokens like the original model.
- ``glove`` (GloVe 6B 50d): mean of the word vectors of the known tokens. Tokenizer: lower-case,
  then a regex that keeps runs of letters/digits and splits English clitics the way GloVe's
  (Stanford) tokenizer did, "don't" -> "do", "n't" and "it's" -> "it", "'s"; punctuation is dropped.
- ``tfidf-lsa``: ``TfidfVectorizer(sublinear_tf=True)`` + ``TruncatedSVD`` (at most 256
  components, ``random_state=0``) fitted on ``fit_texts`` (default: ``texts``). Fitting on
  pool + test is transductive (the test texts shape the features, never their labels); pass the
  pool alone as ``fit_texts`` to avoid that.

Cache: ``cache_dir("embeddings")/<model>-<key>.npy`` where the key hashes the model id, its
weights fingerprint (``alkit.models.model_provenance``), pooling, max length and the texts (and
the fit texts for tfidf-lsa). A cache hit never loads the model. Loaded models stay in a small
in-process cache. Global state (torch threads, seeds) is left to the caller.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alkit.io import load_npy, save_npy, stable_hash, text_hash
from alkit.models import EMBEDDER_KINDS, MODELS, ModelSpec, model_provenance, resolve
from alkit.paths import cache_dir
from alkit.types import Embeddings

EMBEDDERS: tuple[str, ...] = tuple(sorted(n for n, s in MODELS.items() if s.kind in EMBEDDER_KINDS))
_CACHE_FORMAT = 1  # bump when the same inputs would give different vectors
_TFIDF_MIN_DF = 2  # a term must occur in 2 fitted texts: hapaxes only add noise directions to LSA
_TFIDF_MIN_DF_BELOW = 20  # ...unless fewer texts are fitted, where that would empty the vocabulary
_TFIDF_SEED = 0
_GLOVE_TOKEN = re.compile(r"[^\W_]+(?=n't)|n't|'[^\W_]+|[^\W_]+")


def embedder_names() -> list[str]:
    """Names accepted by :func:`embed` (the offline ones and the hub-only paper-profile ones)."""
    return list(EMBEDDERS)


def glove_tokenize(text: str) -> list[str]:
    """Lower-cased word tokens as GloVe 6B saw them: ``"Don't stop!" -> ["do", "n't", "stop"]``."""
    return _GLOVE_TOKEN.findall(text.lower())


def _check(model_id: str, texts: Sequence[str], batch_size: int, fit_texts: Sequence[str] | None) -> ModelSpec:
    if model_id not in EMBEDDERS:
        raise ValueError(f"unknown embedder {model_id!r}; choose from {list(EMBEDDERS)}")
    spec = MODELS[model_id]
    for name, seq in (("texts", texts), ("fit_texts", fit_texts)):
        if seq is None:
            continue
        if isinstance(seq, str) or not isinstance(seq, Sequence):
            raise ValueError(f"{name} must be a sequence of strings, got {type(seq).__name__}")
        bad = next((i for i, t in enumerate(seq) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"{name}[{bad}] is {type(seq[bad]).__name__}, not str")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if fit_texts is not None and spec.kind != "classical":
        raise ValueError(f"fit_texts only applies to fitted embedders {[n for n in EMBEDDERS if MODELS[n].kind == 'classical']}")
    if spec.kind == "classical" and len(texts) > 0 and len(fit_texts if fit_texts is not None else texts) < 2:
        raise ValueError("tfidf-lsa needs at least 2 texts to fit on (fit_texts, default texts)")
    return spec


def embedding_cache_path(model_id: str, texts: Sequence[str], fit_texts: Sequence[str] | None = None) -> Path:
    """Where :func:`embed` caches these embeddings (resolves the model, never loads it)."""
    spec = MODELS[model_id]
    key: dict[str, Any] = {
        "model": model_id, "weights": model_provenance(model_id)["fingerprint"], "pooling": spec.pooling,
        "max_seq_length": spec.max_seq_length, "texts": text_hash(list(texts)), "format": _CACHE_FORMAT,
    }
    if spec.kind == "classical":
        key.update(fit=text_hash(list(fit_texts if fit_texts is not None else texts)), dim=spec.dim,
                   min_df=(_TFIDF_MIN_DF, _TFIDF_MIN_DF_BELOW), seed=_TFIDF_SEED)
    return cache_dir("embeddings") / f"{model_id.replace('/', '__')}-{stable_hash(key)}.npy"


def embed(model_id: str, texts: Sequence[str], *, batch_size: int = 64, cache: bool = True,
          progress: bool = True, fit_texts: Sequence[str] | None = None) -> Embeddings:
    """Embed ``texts`` with one registered embedder.

    Parameters
    ----------
    model_id : a name in :data:`EMBEDDERS`.
    texts : sequence of n strings.
    batch_size : texts per forward pass (neural embedders); results do not depend on it.
    cache : read and write ``cache_dir("embeddings")``.
    progress : show a progress bar (neural embedders).
    fit_texts : tfidf-lsa only: the corpus the TF-IDF vocabulary and SVD are fitted on
        (default ``texts``).

    Returns
    -------
    ndarray of shape (n, dim), float32, rows of unit L2 norm or all zero.
    """
    spec = _check(model_id, texts, batch_size, fit_texts)
    texts = list(texts)
    path = embedding_cache_path(model_id, texts, fit_texts) if cache else None
    if path is not None and path.is_file():
        return load_npy(path)
    if not texts:
        return np.zeros((0, spec.dim), dtype=np.float32)
    if spec.kind == "classical":
        raw = _tfidf_lsa(texts, list(fit_texts) if fit_texts is not None else texts, spec.dim)
    else:
        embedder = _load_embedder(model_id)
        if spec.kind == "sentence-transformers":
            raw = embedder.encode(texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True)
        elif spec.kind == "onnx-sentence":
            raw = _onnx_embed(embedder, texts, batch_size, progress, spec.max_seq_length)
        else:
            raw = _glove_embed(embedder, texts)
    out = _l2_normalise(np.asarray(raw, dtype=np.float32))
    if path is not None:
        save_npy(path, out)
    return out


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


# ----------------------------------------------------------------------------------------------
# loaders (one in-process copy per model; the embedding cache never reaches these)


def _load_embedder(model_id: str) -> Any:
    spec = MODELS[model_id]
    path = resolve(model_id)
    if spec.kind == "sentence-transformers":
        return _sentence_transformer(path, spec.trust_remote_code)
    if spec.kind == "onnx-sentence":
        return _onnx_session(path)
    return _glove_table(path)


@functools.lru_cache(maxsize=4)
def _sentence_transformer(path: str, trust_remote_code: bool) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu", trust_remote_code=trust_remote_code)


@functools.lru_cache(maxsize=2)
def _onnx_session(path: str) -> tuple[Any, Any]:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    session = ort.InferenceSession(str(Path(path) / "model.onnx"), providers=["CPUExecutionProvider"])
    return session, AutoTokenizer.from_pretrained(path)


@functools.lru_cache(maxsize=1)
def _glove_table(path: str) -> tuple[np.ndarray, dict[str, int]]:
    import pandas as pd

    vectors = load_npy(Path(path) / "glove_6B_50d_emb.npy")
    words = pd.read_parquet(Path(path) / "glove_6B_index.parquet")["index"].tolist()
    return vectors, {w: i for i, w in enumerate(words)}


# ----------------------------------------------------------------------------------------------
# per-kind computation


def _onnx_embed(embedder: tuple[Any, Any], texts: list[str], batch_size: int, progress: bool,
                max_length: int | None) -> np.ndarray:
    from tqdm.auto import tqdm

    session, tokenizer = embedder
    # longest first, so each batch pads to similar lengths; the masked mean ignores the padding
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), session.get_outputs()[-1].shape[-1]), dtype=np.float32)
    for start in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="onnx batches"):
        idx = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                        return_tensors="np")
        feeds = {"input_ids": enc["input_ids"].astype(np.int64),
                 "attention_mask": enc["attention_mask"].astype(np.int64)}
        out[idx] = session.run(["461"], feeds)[0]
    return out


def _glove_embed(table: tuple[np.ndarray, dict[str, int]], texts: list[str]) -> np.ndarray:
    vectors, vocab = table
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    for row, text in enumerate(texts):
        idx = [vocab[w] for w in glove_tokenize(text) if w in vocab]
        if idx:
            out[row] = vectors[idx].mean(axis=0)
    return out


def _tfidf_lsa(texts: list[str], fit_texts: list[str], max_dim: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = _TFIDF_MIN_DF if len(fit_texts) >= _TFIDF_MIN_DF_BELOW else 1
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=min_df)
    try:
        tfidf = vectorizer.fit_transform(fit_texts)
    except ValueError as err:  # sklearn: "empty vocabulary"
        raise ValueError(f"tfidf-lsa: no term to fit on in {len(fit_texts)} fit texts ({err})") from err
    if tfidf.shape[1] < 2:
        raise ValueError(f"tfidf-lsa: the fitted vocabulary has {tfidf.shape[1]} term; LSA needs at least 2")
    n_components = max(1, min(max_dim, tfidf.shape[1] - 1, tfidf.shape[0] - 1))
    svd = TruncatedSVD(n_components=n_components, random_state=_TFIDF_SEED).fit(tfidf)
    return svd.transform(vectorizer.transform(texts))
