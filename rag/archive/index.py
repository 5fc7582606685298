"""An archive's index: the manifest and the vector store, opened together and checked.

The index records which embedding model built it. Opening it with another model is an
error that says how to re-index, never a silent mix of vectors from two models.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import IndexMismatchError, StoreError
from ..types import date_number
from .lexical import LexicalDoc, LexicalIndex
from .manifest import ArticleRecord, Manifest
from .store import VectorStore, open_client
from .writer_lock import WriterLock

log = logging.getLogger(__name__)


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
        self._refresh_lock = threading.Lock()

    def language_centroids(self) -> dict[str, np.ndarray]:
        """Per language, the mean vector of its articles that have a translation in the archive.

        Those articles cover the same stories in every language, so the difference of two
        centroids is the direction of the language itself, not of what it is written about
        (see Retriever: a question is moved along it to search another language). Empty when
        the archive holds fewer than MIN_TRANSLATED_STORIES translated stories. Updated after
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
        """Brings the centroids up to date at the cost of what changed.

        The manifest keeps each language's sum of the member vectors and the vectors summed
        (``centroid_members``, with the generation that wrote each article), so only articles
        that joined, left or were rewritten since have their vectors read from the store.
        """
        translated = self.manifest.translated_members()
        have = self.manifest.centroid_members()
        drop = [a for a, (lang, gen) in have.items() if _member(translated.get(a)) != (lang, gen)]
        add = [a for a, m in translated.items() if have.get(a) != _member(m)]
        saved = self.manifest.get_meta(CENTROIDS_KEY)
        if saved is not None and not drop and not add and "basis" not in saved:
            return saved
        vectors: dict[str, np.ndarray] = {}
        for i in range(0, len(add), 1000):
            vectors.update(self.store.article_vectors(add[i : i + 1000]))
        sums, counts = self.manifest.update_centroid_members(
            drop, [(a, translated[a][0], translated[a][2], vectors[a]) for a in add if a in vectors]
        )
        stories = len({story for _, story, _ in translated.values()})
        centroids: dict[str, list[float]] = {}
        if stories >= MIN_TRANSLATED_STORIES:
            centroids = {
                lang: [round(float(x), 6) for x in sums[lang] / counts[lang]]
                for lang in sorted(sums)
            }
        raw = json.dumps({"translated_stories": stories, "centroids": centroids})
        self.manifest.set_meta(CENTROIDS_KEY, raw)
        return raw

    def lexical(self) -> LexicalIndex:
        """The BM25 snapshot questions are answered from.

        Loaded (and brought up to the manifest's generation) on first use. After that only
        ``refresh_lexical`` replaces it, whole: a serving process refreshes in the background
        (ui/refresh.py), so no question waits for a rebuild or sees half of one.
        """
        found = self._lexical
        return found if found is not None else self.refresh_lexical()

    def refresh_lexical(self, *, save: bool = False) -> LexicalIndex:
        """Brings the lexical index up to the manifest's generation and swaps it in.

        It applies what changed since its generation (Manifest.changes): one new segment for
        the chunks written, the replaced and removed ones marked dead; then merges segments if
        the merge policy asks. Built from scratch only when there is nothing to start from
        (first use, older format) or the manifest cannot say what changed. ``save`` writes it
        to the index folder: only the process that writes the index does.
        """
        with self._refresh_lock:
            current = self._lexical
            if current is None:
                current = LexicalIndex.load(self.index_dir)
            target = self.manifest.generation()
            changed = current is None or current.generation != target
            if current is not None and changed:
                changes = self.manifest.changes(current.generation, target)
                if changes is None:
                    current = None
                else:
                    docs = ((lexical_doc(cid, rec), text) for cid, rec, text in changes.chunks)
                    current = current.updated(changes.touched, LexicalIndex.segment(docs), target)
            if current is None:
                log.info("building the lexical index of %s from its manifest", self.index_dir)
                docs = (
                    (lexical_doc(cid, rec), text)
                    for cid, rec, text in self.manifest.iter_chunk_texts()
                )
                current = LexicalIndex.build(docs, target)
            self._lexical = current  # questions use it from here on
            if save and changed:
                current.save(self.index_dir)
            merged = False
            while plan := current.merge_plan():
                current = current.merged(plan)
                merged = True
            if merged:
                self._lexical = current
                if save:
                    current.save(self.index_dir)
            return current

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


def _member(found: tuple[str, str, int] | None) -> tuple[str, int] | None:
    return (found[0], found[2]) if found else None


def lexical_doc(chunk_id: str, rec: ArticleRecord) -> LexicalDoc:
    return LexicalDoc(chunk_id, rec.id, rec.lang, date_number(rec.date) or 0, rec.source or "")


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
    contents = [p for p in index_dir.iterdir() if p.name != WriterLock.FILENAME]
    if not (index_dir / Manifest.FILENAME).exists() and contents:
        raise StoreError(
            f"{index_dir} is not empty and holds no newsrag manifest; refusing to delete it. "
            "Choose another --index folder."
        )
    for path in contents:  # the writer lock stays: the process rebuilding holds it
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
