"""The Chroma collections' search settings: new ones exact enough, older ones raised."""

from __future__ import annotations

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.store import HNSW, VectorStore, open_client

pytestmark = [pytest.mark.integration]


def hnsw_of(path, name):
    client = chromadb.PersistentClient(str(path), settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_collection(name).configuration["hnsw"]


def test_new_collections_get_the_wider_search(tmp_path):
    store = VectorStore(open_client(tmp_path, None), "arch", model_label="m", dim=4)
    for name in ("arch-chunks", "arch-articles"):
        got = hnsw_of(tmp_path / "chroma", name)
        assert got["ef_search"] == HNSW["ef_search"] and got["max_neighbors"] == 32
        assert got["space"] == "cosine"
    vectors = np.eye(4, dtype=np.float32)
    store.replace_chunks(["a"], ["a:0", "a:1"], vectors[:2], ["x", "y"],
                         [{"article_id": "a"}, {"article_id": "a"}])  # fmt: skip
    [best, _] = store.query_chunks(vectors[1], 2)
    assert best.id == "a:1" and best.score == pytest.approx(1.0)


def test_an_older_index_has_its_search_widened_and_keeps_its_vectors(tmp_path):
    old = chromadb.PersistentClient(
        str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    meta = {"embedding_model": "m", "dim": 4}
    for name in ("arch-chunks", "arch-articles"):
        old.create_collection(name, configuration={"hnsw": {"space": "cosine"}}, metadata=meta)
    old.get_collection("arch-chunks").add(
        ids=["a:0"], embeddings=[[1.0, 0, 0, 0]], metadatas=[{"article_id": "a"}]
    )
    assert hnsw_of(tmp_path / "chroma", "arch-chunks")["ef_search"] == 100  # Chroma's default
    store = VectorStore(open_client(tmp_path, None), "arch", model_label="m", dim=4)
    assert hnsw_of(tmp_path / "chroma", "arch-chunks")["ef_search"] == HNSW["ef_search"]
    assert hnsw_of(tmp_path / "chroma", "arch-articles")["ef_search"] == HNSW["ef_search"]
    assert store.count_chunks() == 1
