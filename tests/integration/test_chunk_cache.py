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


def test_a_rewritten_article_is_searched_with_its_new_text(tmp_path):
    embedder = HashEmbedder()
    settings = Settings(index_dir=tmp_path / "index")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    ingest = Ingestor(index, embedder)
    source = _write(tmp_path / "a.jsonl", "The harbour of Valdoro was dredged by the navy in May.")
    ingest.run([source], max_bytes=10**6)
    retriever = Retriever(index, embedder)
    reads: list[int] = []
    get_chunks = index.store.get_chunks
    index.store.get_chunks = lambda ids, v: reads.append(len(ids)) or get_chunks(ids, v)  # type: ignore[method-assign]

    first = retriever.search("Valdoro harbour dredged", lang="en", k=2)
    assert "dredged by the navy" in first[0].text
    again = retriever.search("Valdoro harbour dredged", lang="en", k=2)
    assert [p.chunk_id for p in again] == [p.chunk_id for p in first]
    assert len(reads) == 1  # the second search read nothing from the store

    _write(source, "The harbour of Valdoro was closed by a storm surge in May.")
    ingest.run([source], max_bytes=10**6)
    index.refresh_lexical()
    after = retriever.search("Valdoro harbour storm", lang="en", k=2)
    assert "storm surge" in after[0].text and "dredged" not in after[0].text
    assert len(reads) == 2  # the write moved the generation: the chunks were read again
    index.close()


def test_a_sync_drops_only_the_articles_it_wrote(tmp_path):
    embedder = HashEmbedder()
    settings = Settings(index_dir=tmp_path / "index")
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    ingest = Ingestor(index, embedder)
    source = _write(tmp_path / "a.jsonl", "The harbour of Valdoro was dredged by the navy in May.")
    ingest.run([source], max_bytes=10**6)
    retriever = Retriever(index, embedder)
    assert retriever.prefetch() == 2  # both articles' chunks, read in at start
    reads: list[list[str]] = []
    get_chunks = index.store.get_chunks
    index.store.get_chunks = lambda ids, v: reads.append(list(ids)) or get_chunks(ids, v)  # type: ignore[method-assign]

    assert "lantern museum" in retriever.search("lantern museum hall", lang="en", k=2)[0].text
    assert "dredged" in retriever.search("Valdoro harbour dredged", lang="en", k=2)[0].text
    assert reads == []  # the first questions read nothing from the store

    _write(source, "The harbour of Valdoro was closed by a storm surge in May.")
    ingest.run([source], max_bytes=10**6)
    index.refresh_lexical()
    after = retriever.search("Valdoro harbour storm", lang="en", k=2)
    assert "storm surge" in after[0].text and "dredged" not in after[0].text
    museum = retriever.search("lantern museum hall", lang="en", k=2)
    assert "lantern museum" in museum[0].text
    read = [i for r in reads for i in r]
    assert read and all(i.startswith("story-1") for i in read)  # only the rewritten article
    index.close()
