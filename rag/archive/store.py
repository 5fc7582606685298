"""Chroma, embedded or server: chunk vectors, and one vector per article for story linking.

Vectors always come from our own embedder (``embedding_function=None``): Chroma's default
embedding function would download a model. Scores are cosine similarities, higher is better,
whatever distance Chroma reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..errors import IndexMismatchError, StoreError

log = logging.getLogger(__name__)

Metadata = Mapping[str, str | int | float | bool | None]

# Chroma's HNSW defaults (16 neighbours, ef_search 100) lost the true nearest chunk for 11% of
# Belebele questions on a 5.7k-chunk archive holding many duplicate chunks (the same article
# from two sources): dense-only recall@1 0.74 where exact search gives 0.85. With ef_search 500
# the nearest chunk is found for 99.5-100% of questions, at about 1 ms more per query.
EF_SEARCH = 500
HNSW = {"space": "cosine", "max_neighbors": 32, "ef_construction": 200, "ef_search": EF_SEARCH}

# Embedded Chroma keeps its catalogue in SQLite. A write that meets another connection's write
# (Chroma's own, or a second process on the same folder) can fail at once with "database is
# locked" instead of waiting; seen once in CI on the ef_search change right after an add. Every
# write below is idempotent (upsert, delete, a setting), so it is simply tried again.
LOCK_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


@dataclass(frozen=True)
class Neighbour:
    id: str
    score: float
    document: str
    metadata: dict[str, Any]
    vector: np.ndarray | None = None  # the stored vector, when it was asked for


def open_client(index_dir: Path, chroma_url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"Cannot reach the Chroma server at {chroma_url} ({exc}). Start it "
                f"(`chroma run --path DIR --port {url.port or 8000}`) or unset "
                "NEWSRAG_CHROMA_URL to use the embedded store."
            ) from exc
        return client
    path = index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class VectorStore:
    """Two collections under one prefix: ``<prefix>-chunks`` and ``<prefix>-articles``."""

    def __init__(self, client: Any, prefix: str, *, model_label: str, dim: int) -> None:
        self._client = client
        self.model_label = model_label
        self.dim = dim
        self.chunks = self._collection(f"{prefix}-chunks")
        self.articles = self._collection(f"{prefix}-articles")
        self._max_batch = int(getattr(client, "get_max_batch_size", lambda: 5000)())

    def _collection(self, name: str) -> Any:
        meta = {"embedding_model": self.model_label, "dim": self.dim}
        col = _write(
            self._client,
            "get_or_create_collection",
            name=name,
            embedding_function=None,
            configuration={"hnsw": dict(HNSW)},
            metadata=meta,
        )
        hnsw = (getattr(col, "configuration", None) or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or EF_SEARCH) < EF_SEARCH:
            # an index made before: only ef_search can change (it applies from the next open)
            _write(col, "modify", configuration={"hnsw": {"ef_search": EF_SEARCH}})
            log.info("raised ef_search of %s to %s", name, EF_SEARCH)
        found = col.metadata or {}
        if found.get("embedding_model") != self.model_label or found.get("dim") != self.dim:
            raise IndexMismatchError(
                f"The collection {name!r} holds vectors of {found.get('embedding_model')} "
                f"({found.get('dim')}-d), not of the configured model {self.model_label} "
                f"({self.dim}-d). Set NEWSRAG_EMBEDDING_MODEL={found.get('embedding_model')}, "
                "or re-index with `newsrag ingest --rebuild PATH...` (or into another "
                "--index folder / NEWSRAG_COLLECTION)."
            )
        return col

    # --- chunks ---------------------------------------------------------------------------
    def replace_chunks(
        self,
        article_ids: Sequence[str],
        ids: Sequence[str],
        vectors: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Remove every chunk of ``article_ids``, then write the given chunks."""
        self.delete_chunks(article_ids)
        for i in range(0, len(ids), self._max_batch):
            j = i + self._max_batch
            _write(
                self.chunks,
                "upsert",
                ids=list(ids[i:j]),
                embeddings=vectors[i:j],
                documents=list(documents[i:j]),
                metadatas=[_clean(m) for m in metadatas[i:j]],
            )

    def delete_chunks(self, article_ids: Sequence[str]) -> None:
        for i in range(0, len(article_ids), 500):
            _write(
                self.chunks, "delete", where={"article_id": {"$in": list(article_ids[i : i + 500])}}
            )

    def count_chunks(self) -> int:
        return int(self.chunks.count())

    def query_chunks(
        self,
        vector: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None = None,
        *,
        with_vectors: bool = False,
    ) -> list[Neighbour]:
        return self._query(self.chunks, vector, k, where, with_vectors=with_vectors)

    def nearest_ids(
        self, vectors: Sequence[np.ndarray], k: int, where: Mapping[str, Any] | None = None
    ) -> list[list[str]]:
        """The ids of the ``k`` chunks nearest to each vector, in one round trip and without
        their texts or vectors: reading those is most of a query's cost (60 chunks: 10 ms of
        documents and metadata against 1 ms of ids), so the caller reads the union once
        (``get_chunks``)."""
        if not vectors:
            return []
        res = self.chunks.query(
            query_embeddings=np.asarray(np.stack(vectors), dtype=np.float32),
            n_results=k,
            where=dict(where) if where else None,
            include=["distances"],
        )
        return [list(ids) for ids in res["ids"]]

    def get_chunks(self, ids: Sequence[str], vector: np.ndarray) -> list[Neighbour]:
        """Chunks by id, scored by cosine with ``vector`` (vectors are normalised).

        Ids the store does not have are skipped (and logged): the lexical index can name a chunk
        that a write has just replaced or removed, or one a stale client cannot read yet (an
        embedded client whose files another process wrote fails with "Error finding id").
        """
        if not ids:
            return []
        include = ["embeddings", "documents", "metadatas"]
        try:
            hits = _scored(self.chunks.get(ids=list(ids), include=include), vector)
        except Exception as exc:
            if not _is_chroma_error(exc):
                raise
            log.warning("reading %d chunks failed (%s); reading them one by one", len(ids), exc)
            hits = []
            for i in ids:
                try:
                    hits += _scored(self.chunks.get(ids=[i], include=include), vector)
                except Exception as one:
                    if not _is_chroma_error(one):
                        raise
        if len(hits) < len(ids):
            found = {h.id for h in hits}
            log.info(
                "skipped %d chunks the vector store does not have (being written or removed): %s",
                len(ids) - len(found), ", ".join(i for i in ids if i not in found)[:300],
            )  # fmt: skip
        return hits

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        got = self.chunks.get(ids=list(ids), include=["embeddings"])
        order = {i: n for n, i in enumerate(got["ids"])}
        return np.asarray([got["embeddings"][order[i]] for i in ids], dtype=np.float32)

    def chunks_of_articles(
        self, article_ids: Sequence[str], vector: np.ndarray
    ) -> dict[str, list[Neighbour]]:
        """Every chunk of the given articles, scored against ``vector``, in one round trip."""
        if not article_ids:
            return {}
        try:
            got = self.chunks.get(
                where={"article_id": {"$in": list(article_ids)}},
                include=["embeddings", "documents", "metadatas"],
            )
        except Exception as exc:  # see get_chunks: a stale client; the caller keeps its own
            if not _is_chroma_error(exc):
                raise
            log.warning("reading the chunks of %d articles failed (%s)", len(article_ids), exc)
            return {}
        out: dict[str, list[Neighbour]] = {}
        for hit in _scored(got, vector):
            out.setdefault(str(hit.metadata["article_id"]), []).append(hit)
        return out

    # --- articles -------------------------------------------------------------------------
    def put_article_vectors(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Metadata]
    ) -> None:
        for i in range(0, len(ids), self._max_batch):
            j = i + self._max_batch
            _write(
                self.articles,
                "upsert",
                ids=list(ids[i:j]),
                embeddings=vectors[i:j],
                metadatas=[_clean(m) for m in metadatas[i:j]],
            )

    def article_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.articles.get(ids=list(ids), include=["embeddings"])
        return {
            i: np.asarray(v, dtype=np.float32)
            for i, v in zip(got["ids"], got["embeddings"], strict=True)
        }

    def delete_article_vectors(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 500):
            _write(self.articles, "delete", ids=list(ids[i : i + 500]))

    def nearest_articles(
        self, vector: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[Neighbour]:
        return self._query(self.articles, vector, k, where)

    def nearest_articles_many(
        self, vectors: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[list[Neighbour]]:
        """``nearest_articles`` for several vectors in one round trip."""
        if not len(vectors):
            return []
        res = self.articles.query(
            query_embeddings=np.asarray(vectors, dtype=np.float32), n_results=k,
            where=dict(where) if where else None, include=["metadatas", "distances"],
        )  # fmt: skip
        return [
            [
                Neighbour(id=i, score=1.0 - float(d), document="", metadata=dict(m or {}))
                for i, d, m in zip(ids, dists, metas, strict=True)
            ]
            for ids, dists, metas in zip(
                res["ids"], res["distances"], res["metadatas"], strict=True
            )
        ]

    # --------------------------------------------------------------------------------------
    def _query(
        self,
        col: Any,
        vector: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None,
        *,
        with_vectors: bool = False,
    ) -> list[Neighbour]:
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_vectors else [])
        res = col.query(
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=k,
            where=dict(where) if where else None,
            include=include,
        )
        ids = res["ids"][0]
        docs = (res.get("documents") or [[]])[0] or [""] * len(ids)
        vectors = list(res["embeddings"][0]) if with_vectors else [None] * len(ids)
        return [
            Neighbour(
                id=i, score=1.0 - float(d), document=doc or "", metadata=dict(m or {}),
                vector=None if v is None else np.asarray(v, dtype=np.float32),
            )
            for i, d, doc, m, v in zip(
                ids, res["distances"][0], docs, res["metadatas"][0], vectors, strict=True
            )
        ]  # fmt: skip


def _write(target: Any, method: str, **kwargs: Any) -> Any:
    """Run one idempotent write, again after a short wait while SQLite reports a lock."""
    name = kwargs.get("name") or getattr(target, "name", "")
    for delay in (*LOCK_RETRY_DELAYS, None):  # None: the last try
        try:
            return getattr(target, method)(**kwargs)
        except Exception as exc:
            if "database is locked" not in str(exc):
                raise
            if delay is None:
                raise StoreError(
                    f"The Chroma collection {name!r} stayed locked for "
                    f"{sum(LOCK_RETRY_DELAYS):.1f} s ({exc}). Another process is probably "
                    "writing to the same index folder: wait for it to finish (or stop it) "
                    "and run the command again."
                ) from exc
            log.info("%s is locked; trying again in %.2f s", name, delay)
            time.sleep(delay)


def _is_chroma_error(exc: Exception) -> bool:
    from chromadb.errors import ChromaError

    return isinstance(exc, ChromaError)


def _scored(got: Mapping[str, Any], vector: np.ndarray) -> list[Neighbour]:
    if not got["ids"]:
        return []
    vectors = np.asarray(got["embeddings"], dtype=np.float32)
    scores = vectors @ np.asarray(vector, np.float32)
    return [
        Neighbour(id=i, score=float(s), document=d or "", metadata=dict(m or {}), vector=v)
        for i, s, d, m, v in zip(
            got["ids"], scores, got["documents"], got["metadatas"], vectors, strict=True
        )
    ]


def _clean(meta: Metadata) -> dict[str, str | int | float | bool]:
    """Chroma drops ``None`` values anyway; dropping them here keeps metadata explicit."""
    return {k: v for k, v in meta.items() if v is not None}
