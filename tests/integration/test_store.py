"""The Chroma collections' search settings: new ones exact enough, older ones raised."""

from __future__ import annotations

import numpy as np
import pytest

from rag.store import EF_SEARCH, VectorStore, open_client

pytestmark = [pytest.mark.integration]


def test_new_collections_get_the_wider_search(tmp_path):
    client = open_client(tmp_path, None)
    store = VectorStore(client, "arch", model_label="m", dim=4)
    for name in ("arch-chunks", "arch-articles"):
        got = client.get_collection(name).configuration["hnsw"]
        assert got["ef_search"] == EF_SEARCH and got["max_neighbors"] == 32
        assert got["space"] == "cosine"
    vectors = np.eye(4, dtype=np.float32)
    store.replace_chunks(["a"], ["a:0", "a:1"], vectors[:2], ["x", "y"],
                         [{"article_id": "a"}, {"article_id": "a"}])  # fmt: skip
    [best, _] = store.query_chunks(vectors[1], 2)
    assert best.id == "a:1" and best.score == pytest.approx(1.0)


def test_an_older_index_has_its_search_widened_and_keeps_its_vectors(tmp_path):
    client = open_client(tmp_path, None)
    meta = {"embedding_model": "m", "dim": 4}
    for name in ("arch-chunks", "arch-articles"):  # as an earlier newsrag made them
        client.create_collection(name, configuration={"hnsw": {"space": "cosine"}}, metadata=meta)
    client.get_collection("arch-chunks").add(
        ids=["a:0"], embeddings=[[1.0, 0, 0, 0]], metadatas=[{"article_id": "a"}]
    )
    assert client.get_collection("arch-chunks").configuration["hnsw"]["ef_search"] == 100
    store = VectorStore(client, "arch", model_label="m", dim=4)
    for name in ("arch-chunks", "arch-articles"):
        assert client.get_collection(name).configuration["hnsw"]["ef_search"] == EF_SEARCH
    assert store.count_chunks() == 1
