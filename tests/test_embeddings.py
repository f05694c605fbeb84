"""alkit.embeddings: shapes, unit norms, reference poolings, batch invariance, cache, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alkit import embeddings
from alkit.embeddings import EMBEDDERS, embed, embedder_names, embedding_cache_path, glove_tokenize
from alkit.models import MODELS, resolve

MINILM, MPNET, L3 = ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2",
                     "sentence-transformers/paraphrase-MiniLM-L3-v2")
NEURAL = [MINILM, MPNET, L3]
OFFLINE = NEURAL + ["glove-6b-50d", "tfidf-lsa"]
SENTENCES = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar in front of an audience.",
    "The central bank raised interest rates by half a percentage point to curb inflation.",
    "ok",
    "",
    "It's a charming and often affecting journey, though the final act doesn't quite land.",
]


@pytest.fixture
def tmp_embedding_cache(monkeypatch, tmp_path):
    """Embeddings go to a fresh folder; model weights stay in the shared cache."""
    monkeypatch.setattr(embeddings, "cache_dir", lambda kind: tmp_path / kind)
    return tmp_path / "embeddings"


def test_embedder_registry():
    assert embedder_names() == list(EMBEDDERS)
    assert set(OFFLINE) <= set(EMBEDDERS)
    assert "nvidia/NV-Embed-v2" in EMBEDDERS and "google-bert/bert-base-uncased" in EMBEDDERS
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" not in EMBEDDERS


@pytest.mark.parametrize("model_id", OFFLINE)
def test_shape_dtype_unit_norm(model_id):
    texts = SENTENCES[:4] + SENTENCES[5:] + ["the stock market fell", "a guitar concert tonight", "rates rise"]
    out = embed(model_id, texts, cache=False, progress=False)
    dim = MODELS[model_id].dim if model_id != "tfidf-lsa" else out.shape[1]
    assert out.shape == (len(texts), dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("model_id", NEURAL + ["glove-6b-50d"])
def test_paraphrase_closer_than_unrelated(model_id):
    out = embed(model_id, SENTENCES[:3], cache=False, progress=False)
    assert out[0] @ out[1] > out[0] @ out[2] + 0.1


@pytest.mark.parametrize("model_id", NEURAL)
def test_batch_size_does_not_change_embeddings(model_id):
    one = embed(model_id, SENTENCES, batch_size=1, cache=False, progress=False)
    together = embed(model_id, SENTENCES, batch_size=len(SENTENCES), cache=False, progress=False)
    pairs = embed(model_id, SENTENCES[::-1], batch_size=2, cache=False, progress=False)[::-1]
    np.testing.assert_allclose(one, together, atol=2e-5)
    np.testing.assert_allclose(one, pairs, atol=2e-5)


def test_sentence_transformer_equals_mean_pooling_reference():
    """all-MiniLM-L6-v2 = normalise(attention-masked mean of BERT's last hidden states)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve(MINILM)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    enc = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    np.testing.assert_allclose(embed(MINILM, SENTENCES, cache=False, progress=False), ref, atol=1e-5)


def test_onnx_output_is_masked_mean_of_token_states():
    session, tokenizer = embeddings._load_embedder(L3)
    enc = tokenizer(SENTENCES, padding=True, truncation=True, max_length=128, return_tensors="np")
    feeds = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    token_name = next(o.name for o in session.get_outputs() if len(o.shape) == 3)
    tokens = session.run([token_name], feeds)[0]
    mask = enc["attention_mask"][..., None].astype(np.float32)
    mean = (tokens * mask).sum(1) / mask.sum(1)
    ref = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(embed(L3, SENTENCES, cache=False, progress=False), ref, atol=1e-5)


def test_onnx_truncates_at_128_tokens():
    long_a = "word " * 200 + "apple"
    long_b = "word " * 200 + "zebra"
    out = embed(L3, [long_a, long_b], cache=False, progress=False)
    np.testing.assert_array_equal(out[0], out[1])  # the differing tail lies beyond 128 tokens


def test_glove_tokenizer():
    assert glove_tokenize("Don't stop! It's the U.S. economy, isn't it?") == [
        "do", "n't", "stop", "it", "'s", "the", "u", "s", "economy", "is", "n't", "it"]
    assert glove_tokenize("a film that does n't -- and ca n't") == ["a", "film", "that", "does", "n't", "and", "ca", "n't"]


def test_glove_is_normalised_mean_of_known_words():
    import pandas as pd

    folder = Path(resolve("glove-6b-50d"))
    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    words = pd.read_parquet(folder / "glove_6B_index.parquet")["index"].tolist()
    row = {w: i for i, w in enumerate(words)}
    expected = vectors[[row["the"], row["cat"], row["did"], row["n't"]]].mean(axis=0)  # "zzqxj" unknown
    out = embed("glove-6b-50d", ["The CAT didn't zzqxj", "zzqxj qqzzx", ""], cache=False, progress=False)
    np.testing.assert_allclose(out[0], expected / np.linalg.norm(expected), rtol=1e-6)
    np.testing.assert_array_equal(out[1:], 0.0)  # no known word: the zero vector, documented


def test_tfidf_lsa_reference_and_determinism():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    # distinct word counts per text, so that no two singular values tie (ties make the basis arbitrary)
    adjectives = ("good", "bad", "great", "dull", "fine", "long", "odd")
    pool = [" ".join(["movie"] * (1 + i % 3) + [adjectives[i % 7]] * (1 + i % 4) + ["plot", "cast"][: i % 3])
            for i in range(24)]
    texts = ["good movie plot", "dull dull cast", "unseen words only"]
    out = embed("tfidf-lsa", texts, fit_texts=pool, cache=False)
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    tfidf = vec.fit_transform(pool)
    svd = TruncatedSVD(n_components=min(256, tfidf.shape[1] - 1, len(pool) - 1), random_state=0).fit(tfidf)
    ref = svd.transform(vec.transform(texts))
    norms = np.linalg.norm(ref, axis=1, keepdims=True)
    ref = np.divide(ref, norms, out=np.zeros_like(ref), where=norms > 0)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    np.testing.assert_array_equal(out[2], 0.0)  # no fitted term
    np.testing.assert_array_equal(out, embed("tfidf-lsa", texts, fit_texts=pool, cache=False))
    transductive = embed("tfidf-lsa", texts + pool, cache=False)
    assert transductive.shape[1] != out.shape[1] or not np.allclose(transductive[:3], out)


def test_cache_hit_does_not_load_the_model(tmp_embedding_cache, monkeypatch):
    first = embed(L3, SENTENCES, progress=False)
    path = embedding_cache_path(L3, SENTENCES)
    assert path.is_file() and path.parent == tmp_embedding_cache

    def no_loading(model_id):
        raise AssertionError("a cache hit loaded the model")

    monkeypatch.setattr(embeddings, "_load_embedder", no_loading)
    np.testing.assert_array_equal(embed(L3, SENTENCES, progress=False), first)
    with pytest.raises(AssertionError, match="loaded the model"):
        embed(L3, SENTENCES[:2], progress=False)  # other texts: a miss


def test_cache_key_separates_models_texts_and_fit_texts(tmp_embedding_cache):
    keys = {
        embedding_cache_path(L3, SENTENCES), embedding_cache_path(MINILM, SENTENCES),
        embedding_cache_path(L3, SENTENCES[:2]), embedding_cache_path("tfidf-lsa", SENTENCES),
        embedding_cache_path("tfidf-lsa", SENTENCES, fit_texts=SENTENCES[:3]),
    }
    assert len(keys) == 5
    assert embedding_cache_path("tfidf-lsa", SENTENCES) == embedding_cache_path("tfidf-lsa", SENTENCES, SENTENCES)
    assert embedding_cache_path(L3, SENTENCES) == embedding_cache_path(L3, tuple(SENTENCES))


def test_models_stay_loaded_in_process():
    assert embeddings._load_embedder(MINILM) is embeddings._load_embedder(MINILM)


def test_empty_input():
    out = embed(MPNET, [], cache=False, progress=False)
    assert out.shape == (0, 768) and out.dtype == np.float32


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"model_id": "HuggingFaceTB/SmolLM2-135M-Instruct"}, "unknown embedder.*tfidf-lsa"),
    ({"model_id": "bert"}, "unknown embedder 'bert'"),
    ({"texts": "a single string"}, "sequence of strings"),
    ({"texts": ["ok", 3]}, r"texts\[1\] is int"),
    ({"batch_size": 0}, "batch_size"),
    ({"fit_texts": ["a", "b"]}, "fit_texts only applies"),
    ({"model_id": "tfidf-lsa", "fit_texts": ["a"]}, "at least 2 texts to fit on"),
    ({"model_id": "tfidf-lsa", "texts": ["only one"]}, "at least 2 texts to fit on"),
    ({"model_id": "tfidf-lsa", "texts": ["a b", "c"]}, "no term to fit on"),
    ({"model_id": "tfidf-lsa", "texts": ["word", "word"]}, "vocabulary has 1 term"),
])
def test_bad_input_fails_before_compute(kwargs, match, monkeypatch):
    monkeypatch.setattr(embeddings, "_load_embedder", lambda model_id: pytest.fail("loaded a model"))
    call = {"model_id": MINILM, "texts": ["ok"], "cache": False} | kwargs
    with pytest.raises(ValueError, match=match):
        embed(call.pop("model_id"), call.pop("texts"), **call)


def test_hub_only_embedder_fails_offline_with_its_name():
    with pytest.raises(FileNotFoundError, match="nvidia/NV-Embed-v2"):
        embed("nvidia/NV-Embed-v2", ["ok"], progress=False)
