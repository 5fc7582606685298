"""An archive's index: the manifest and the vector store, opened together and checked.

The index records which embedding model built it. Opening it with another model is an
error that says how to re-index, never a silent mix of vectors from two models.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

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


class ArchiveIndex:
    def __init__(self, index_dir: Path, manifest: Manifest, store: VectorStore) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.store = store
        self._lexical: LexicalIndex | None = None

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
