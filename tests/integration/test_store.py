"""The Chroma collections' search settings: new ones exact enough, older ones raised."""

from __future__ import annotations

import numpy as np
import pytest

from rag.archive.store import EF_SEARCH, VectorStore, open_client

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


class _LockedFor:
    """A collection whose writes fail with SQLite's lock error the first ``n`` times."""

    name = "arch-chunks"

    def __init__(self, n):
        self.left, self.calls = n, []

    def delete(self, **kw):
        self.calls.append(kw)
        if self.left:
            self.left -= 1
            raise RuntimeError(
                "Database error: error returned from database: (code: 5) database is locked"
            )


def test_a_locked_write_is_tried_again_and_then_named(tmp_path, monkeypatch):
    import rag.archive.store as store_mod
    from rag.errors import StoreError

    monkeypatch.setattr(store_mod, "LOCK_RETRY_DELAYS", (0.0, 0.0))
    store = VectorStore(open_client(tmp_path, None), "arch", model_label="m", dim=4)
    store.chunks = _LockedFor(2)
    store.delete_chunks(["a"])
    assert len(store.chunks.calls) == 3  # two locked attempts, then the one that went through
    store.chunks = _LockedFor(3)
    with pytest.raises(StoreError, match=r"'arch-chunks' stayed locked.*run the command again"):
        store.delete_chunks(["a"])
    assert len(store.chunks.calls) == 3
    store.chunks = _Failing()
    with pytest.raises(ValueError, match="bad where"):  # any other error is not retried
        store.delete_chunks(["a"])
    assert store.chunks.calls == 1


class _Failing:
    name = "arch-chunks"
    calls = 0

    def delete(self, **kw):
        self.calls += 1
        raise ValueError("bad where")
