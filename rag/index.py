"""An archive's index: the manifest and the vector store, opened together and checked.

The index records which embedding model built it. Opening it with another model is an
error that says how to re-index, never a silent mix of vectors from two models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Settings
from .errors import IndexMismatchError, StoreError
from .lexical import LexicalDoc, LexicalIndex
from .manifest import Manifest
from .store import VectorStore, open_client
from .types import date_number


@dataclass(frozen=True)
class IndexInfo:
    index_dir: Path
    embedding_model: str | None
    dim: int | None
    store: str  # "embedded" or the server URL


def read_info(settings: Settings) -> IndexInfo:
    """What the index says about itself, without loading any model."""
    manifest_path = settings.index_dir / Manifest.FILENAME
    if not manifest_path.exists():
        return IndexInfo(settings.index_dir, None, None, settings.chroma_url or "embedded")
    manifest = Manifest(settings.index_dir)
    try:
        dim = manifest.get_meta("dim")
        return IndexInfo(
            settings.index_dir,
            manifest.get_meta("embedding_model"),
            int(dim) if dim else None,
            manifest.get_meta("store") or "embedded",
        )
    finally:
        manifest.close()


CENTROIDS_KEY = "language_centroids"
MIN_TRANSLATED_STORIES = 20  # fewer pairs than this give a noisy language direction


class ArchiveIndex:
    def __init__(self, index_dir: Path, manifest: Manifest, store: VectorStore) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.store = store
        self._lexical: LexicalIndex | None = None
        self._centroids: tuple[str, dict[str, np.ndarray]] = ("", {})

    def language_centroids(self) -> dict[str, np.ndarray]:
        """Per language, the mean vector of its articles that have a translation in the archive.

        Those articles cover the same stories in every language, so the difference of two
        centroids is the direction of the language itself, not of what it is written about
        (see Retriever: a question is moved along it to search another language). Empty when
        the archive holds fewer than MIN_TRANSLATED_STORIES translated stories. Computed after
        every ingest (``update_language_centroids``) and kept in the manifest.
        """
        raw = self.manifest.get_meta(CENTROIDS_KEY)
        if raw is None:
            raw = self.update_language_centroids()
        if raw != self._centroids[0]:
            saved = json.loads(raw)["centroids"]
            parsed = {lang: np.asarray(v, dtype=np.float32) for lang, v in saved.items()}
            self._centroids = (raw, parsed)
        return self._centroids[1]

    def update_language_centroids(self) -> str:
        translated = self.manifest.translated_articles()
        # the articles and their vectors they were computed from: an unchanged ingest run
        # keeps them without reading every translated article's vector again
        basis = hashlib.sha256(
            json.dumps([self.manifest.generation(), translated]).encode()
        ).hexdigest()
        saved = self.manifest.get_meta(CENTROIDS_KEY)
        if saved is not None and json.loads(saved).get("basis") == basis:
            return saved
        stories = len({story for _, _, story in translated})
        centroids: dict[str, list[float]] = {}
        if stories >= MIN_TRANSLATED_STORIES:
            vectors: dict[str, np.ndarray] = {}
            ids = [article_id for article_id, _, _ in translated]
            for i in range(0, len(ids), 1000):
                vectors.update(self.store.article_vectors(ids[i : i + 1000]))
            by_lang: dict[str, list[np.ndarray]] = {}
            for article_id, lang, _ in translated:
                if article_id in vectors:
                    by_lang.setdefault(lang, []).append(vectors[article_id])
            centroids = {
                lang: [round(float(x), 6) for x in np.mean(vs, axis=0)]
                for lang, vs in sorted(by_lang.items())
            }
        raw = json.dumps({"translated_stories": stories, "basis": basis, "centroids": centroids})
        self.manifest.set_meta(CENTROIDS_KEY, raw)
        return raw

    def lexical(self) -> LexicalIndex:
        """The BM25 index; rebuilt from the manifest when missing or behind it."""
        generation = self.manifest.generation()
        if self._lexical is not None and self._lexical.generation == generation:
            return self._lexical
        found = LexicalIndex.load(self.index_dir)
        if found is None or found.generation != generation:
            found = LexicalIndex.build(
                (
                    (
                        LexicalDoc(chunk_id, rec.id, rec.lang, date_number(rec.date) or 0,
                                   rec.source or ""),
                        text,
                    )
                    for chunk_id, rec, text in self.manifest.iter_chunk_texts()
                ),
                generation,
            )  # fmt: skip
            found.save(self.index_dir)
        self._lexical = found
        return found

    @classmethod
    def open(cls, settings: Settings, *, model_label: str, dim: int) -> ArchiveIndex:
        manifest = Manifest(settings.index_dir)
        built_with = manifest.get_meta("embedding_model")
        built_dim = manifest.get_meta("dim")
        if built_with is not None and (built_with != model_label or int(built_dim or 0) != dim):
            manifest.close()
            raise IndexMismatchError(
                f"The index {settings.index_dir} was built with the embedding model "
                f"{built_with} ({built_dim}-d), but the configured model is {model_label} "
                f"({dim}-d). Either set NEWSRAG_EMBEDDING_MODEL={built_with}, or re-index: "
                f"`newsrag ingest --index {settings.index_dir} --rebuild PATH...` (or choose "
                "a new --index folder)."
            )
        store_kind = settings.chroma_url or "embedded"
        client = open_client(settings.index_dir, settings.chroma_url)
        store = VectorStore(client, settings.collection, model_label=model_label, dim=dim)
        if built_with is None:
            manifest.set_meta("embedding_model", model_label)
            manifest.set_meta("dim", str(dim))
            manifest.set_meta("store", store_kind)
        return cls(settings.index_dir, manifest, store)

    def close(self) -> None:
        self.manifest.close()


def delete_index(settings: Settings) -> None:
    """Remove an index completely (used by ``ingest --rebuild``)."""
    if settings.chroma_url:
        client = open_client(settings.index_dir, settings.chroma_url)
        for suffix in ("chunks", "articles"):
            # absent already: nothing to delete
            with contextlib.suppress(Exception):
                client.delete_collection(f"{settings.collection}-{suffix}")
    index_dir = settings.index_dir
    if not index_dir.exists():
        return
    if not (index_dir / Manifest.FILENAME).exists() and any(index_dir.iterdir()):
        raise StoreError(
            f"{index_dir} is not empty and holds no newsrag manifest; refusing to delete it. "
            "Choose another --index folder."
        )
    shutil.rmtree(index_dir)
