"""The retriever's chunk cache (rag/archive/chunk_cache.py) never answers from an article's
old text.

A real embedded Chroma and manifest; the hash embedder keeps it fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.sync import Ingestor
from rag.archive.index import ArchiveIndex
from rag.config import Settings
from rag.retrieval import Retriever
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.integration


def _write(path: Path, text: str) -> Path:
    row = {"id": "story-1", "title": "Harbour works", "lang": "en", "date": "2024-05-02",
           "text": text}  # fmt: skip
    other = {"id": "story-2", "title": "Museum", "lang": "en", "date": "2024-05-03",
             "text": "The lantern museum opened a new hall of ship lamps."}  # fmt: skip
    path.write_text(json.dumps(row) + "\n" + json.dumps(other) + "\n", "utf-8")
    return path


class Archive:
    """Two articles ingested into a real index, a retriever over it, and every read of the
    vector store (the ids asked for, one list per read)."""

    def __init__(self, tmp_path: Path) -> None:
        embedder = HashEmbedder()
        settings = Settings(index_dir=tmp_path / "index")
        self.index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
        self.ingest = Ingestor(self.index, embedder)
        self.source = tmp_path / "a.jsonl"
        self.write("The harbour of Valdoro was dredged by the navy in May.")
        self.retriever = Retriever(self.index, embedder)
        self.reads: list[list[str]] = []

    def write(self, text: str) -> None:
        self.ingest.run([_write(self.source, text)], max_bytes=10**6)
        self.index.refresh_lexical()

    def count_reads(self) -> None:
        get_chunks = self.index.store.get_chunks
        self.index.store.get_chunks = (  # type: ignore[method-assign]
            lambda ids, v: self.reads.append(list(ids)) or get_chunks(ids, v)
        )

    def search(self, query: str) -> list:
        return self.retriever.search(query, lang="en", k=2)


def test_a_rewritten_article_is_searched_with_its_new_text(tmp_path):
    archive = Archive(tmp_path)
    archive.count_reads()

    first = archive.search("Valdoro harbour dredged")
    assert "dredged by the navy" in first[0].text
    again = archive.search("Valdoro harbour dredged")
    assert [p.chunk_id for p in again] == [p.chunk_id for p in first]
    assert len(archive.reads) == 1  # the second search read nothing from the store

    archive.write("The harbour of Valdoro was closed by a storm surge in May.")
    after = archive.search("Valdoro harbour storm")
    assert "storm surge" in after[0].text and "dredged" not in after[0].text
    assert len(archive.reads) == 2  # the write moved the generation: the chunks were read again
    archive.index.close()


def test_a_sync_drops_only_the_articles_it_wrote(tmp_path):
    archive = Archive(tmp_path)
    assert archive.retriever.prefetch() == 2  # both articles' chunks, read in at start
    archive.count_reads()

    assert "lantern museum" in archive.search("lantern museum hall")[0].text
    assert "dredged" in archive.search("Valdoro harbour dredged")[0].text
    assert archive.reads == []  # the first questions read nothing from the store

    archive.write("The harbour of Valdoro was closed by a storm surge in May.")
    after = archive.search("Valdoro harbour storm")
    assert "storm surge" in after[0].text and "dredged" not in after[0].text
    assert "lantern museum" in archive.search("lantern museum hall")[0].text
    read = [i for r in archive.reads for i in r]
    assert read and all(i.startswith("story-1") for i in read)  # only the rewritten article
    archive.index.close()
