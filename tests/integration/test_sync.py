"""Incremental ingest into a real embedded Chroma, with the hash embedder (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.compose import ingest_parts
from ingest.sync import Ingestor
from rag.archive.index import ArchiveIndex
from rag.config import Settings
from rag.embedding import LazyEmbedder
from rag.errors import IndexMismatchError
from tests.fakes import HashEmbedder

MAX_BYTES = 1_000_000


def _words(topic: str, n: int) -> str:
    return " ".join(f"Sentence {i} of {topic} about the war in Syria and Iraq." for i in range(n))


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def records(n: int, sentences: int = 12) -> list[dict]:
    return [
        {
            "id": f"a{i}",
            "title": f"Title {i}",
            "text": _words(f"topic{i}", sentences),
            "lang": "en",
            "date": f"2017-04-{i + 1:02d}",
            "source": "test",
        }
        for i in range(n)
    ]


class Harness:
    def __init__(self, tmp_path: Path, embedder: HashEmbedder | None = None) -> None:
        self.settings = Settings(index_dir=tmp_path / "index")
        self.embedder = embedder or HashEmbedder()
        self.index = ArchiveIndex.open(
            self.settings, model_label=self.embedder.label, dim=self.embedder.dim
        )
        self.ingestor = Ingestor(
            self.index, self.embedder, chunk_tokens=40, chunk_overlap=10, batch_chunks=16
        )

    def run(self, *paths: Path, prune: bool = False, field_map=None):
        return self.ingestor.run(list(paths), max_bytes=MAX_BYTES, prune=prune, field_map=field_map)

    def chunk_ids(self) -> set[str]:
        return set(self.index.store.chunks.get(include=[])["ids"])

    def expected_chunk_ids(self) -> set[str]:
        return {
            f"{r.id}:{n}" for r in self.index.manifest.iter_records() for n in range(r.n_chunks)
        }


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.index.close()


def test_first_ingest_stores_every_article_and_chunk(h, tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", records(5))
    report = h.run(src)
    assert (report.added, report.unchanged, report.articles_seen) == (5, 0, 5)
    assert h.index.manifest.count() == 5
    assert report.chunks_written == len(h.chunk_ids()) > 5  # several chunks per article
    assert h.chunk_ids() == h.expected_chunk_ids()
    meta = h.index.store.chunks.get(ids=["a0:0"], include=["metadatas", "documents"])
    record = h.index.manifest.get("a0")
    m = meta["metadatas"][0]
    assert m["date_num"] == 20170401 and m["lang"] == "en" and m["article_id"] == "a0"
    assert record.text[m["start"] : m["end"]] == meta["documents"][0]


def test_unchanged_rerun_embeds_nothing(h, tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", records(5))
    h.run(src)
    h.embedder.calls.clear()
    before = h.chunk_ids()
    report = h.run(src)
    assert h.embedder.calls == []
    assert (report.unchanged, report.added, report.updated, report.chunks_written) == (5, 0, 0, 0)
    assert h.chunk_ids() == before


def e5_named_index(tmp_path: Path) -> tuple[Settings, Path]:
    """An index that says it was built by multilingual-e5-small (with hash vectors: fast)."""
    settings = Settings(index_dir=tmp_path / "index")
    stand_in = HashEmbedder(dim=384, label="multilingual-e5-small")
    src = write_jsonl(tmp_path / "a.jsonl", records(5))
    index = ArchiveIndex.open(settings, model_label=stand_in.label, dim=stand_in.dim)
    Ingestor(index, stand_in).run([src], max_bytes=MAX_BYTES)  # the settings' chunk sizes
    index.close()
    return settings, src


def test_an_unchanged_ingest_does_not_load_the_model(tmp_path):
    """Issue 15: `newsrag ingest` loaded the embedding model (10-15 s) before finding that
    nothing had changed. ingest_parts, as the CLI and `newsrag sync` build it, must not."""
    settings, src = e5_named_index(tmp_path)
    parts = ingest_parts(settings)
    try:
        report = parts.ingestor.run([src], max_bytes=MAX_BYTES)
    finally:
        parts.close()
    assert (report.unchanged, report.added, report.updated) == (5, 0, 0)
    assert isinstance(parts.embedder, LazyEmbedder) and not parts.embedder.loaded


@pytest.mark.slow
def test_the_model_loads_when_something_is_new(tmp_path):
    settings, src = e5_named_index(tmp_path)
    write_jsonl(src, records(6))
    parts = ingest_parts(settings)
    try:
        report = parts.ingestor.run([src], max_bytes=MAX_BYTES)
    finally:
        parts.close()
    assert (report.unchanged, report.added) == (5, 1)
    assert isinstance(parts.embedder, LazyEmbedder) and parts.embedder.loaded
    assert parts.embedder.dim == 384 == parts.embedder.model().dim


def test_a_changed_article_has_its_chunks_replaced_without_orphans(h, tmp_path):
    recs = records(3, sentences=20)
    src = write_jsonl(tmp_path / "a.jsonl", recs)
    h.run(src)
    long_count = h.index.manifest.get("a1").n_chunks
    recs[1]["text"] = "Short replacement text about Mosul."
    write_jsonl(src, recs)
    h.embedder.calls.clear()
    report = h.run(src)
    assert (report.updated, report.unchanged) == (1, 2)
    assert all("Mosul" in c for c in h.embedder.calls)  # only the changed article was embedded
    assert h.index.manifest.get("a1").n_chunks == 1 < long_count
    assert h.chunk_ids() == h.expected_chunk_ids()
    doc = h.index.store.chunks.get(ids=["a1:0"], include=["documents"])["documents"][0]
    assert doc == "Short replacement text about Mosul."


def test_prune_removes_articles_whose_source_is_gone(h, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    keep = write_jsonl(folder / "keep.jsonl", records(2))
    gone = write_jsonl(folder / "gone.jsonl", [dict(r, id="g" + r["id"]) for r in records(2)])
    other = write_jsonl(tmp_path / "other.jsonl", [dict(r, id="o" + r["id"]) for r in records(1)])
    h.run(folder, other)
    assert h.index.manifest.count() == 5
    gone.unlink()
    report = h.run(folder)  # without --prune nothing is removed
    assert report.removed == 0 and h.index.manifest.count() == 5
    report = h.run(folder, prune=True)
    assert report.removed == 2
    ids = {r.id for r in h.index.manifest.iter_records()}
    assert ids == {"a0", "a1", "oa0"}  # other.jsonl was not under the pruned path and still exists
    assert h.chunk_ids() == h.expected_chunk_ids()
    assert keep.exists()


def test_bad_inputs_are_reported_and_the_rest_is_ingested(h, tmp_path):
    folder = tmp_path / "messy"
    folder.mkdir()
    write_jsonl(folder / "good.jsonl", records(2))
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (folder / "empty.md").write_text("", "utf-8")
    (folder / "latin1.txt").write_bytes("Titolo\n\nLa città è bella.".encode("latin-1"))
    (folder / "broken.jsonl").write_text(json.dumps(records(3)[2]) + "\n{not json\n", "utf-8")
    (folder / "notext.csv").write_text("id,title\n1,hello\n", "utf-8")
    (folder / "huge.txt").write_text("x " * (MAX_BYTES // 2 + 10), "utf-8")
    report = h.run(folder)
    reasons = {Path(p.path).name: p for p in report.problems}
    assert set(reasons) >= {
        "binary.txt",
        "empty.md",
        "broken.jsonl",
        "notext.csv",
        "huge.txt",
    }
    assert reasons["broken.jsonl"].line == 2
    assert "text" in reasons["notext.csv"].reason
    # a Latin-1 text is read, with a warning
    assert [Path(w.path).name for w in report.warnings] == ["latin1.txt"]
    stored = {r.id for r in h.index.manifest.iter_records()}
    # the good file, the good line of broken.jsonl, and the Latin-1 text
    assert stored == {"a0", "a1", "a2", "file:messy/latin1.txt"}
    assert "città" in h.index.manifest.get("file:messy/latin1.txt").text


def test_a_file_that_turns_bad_loses_nothing_even_with_prune(h, tmp_path):
    folder = tmp_path / "arch"
    folder.mkdir()
    src = write_jsonl(folder / "feed.jsonl", records(3))
    h.run(folder)
    before = h.chunk_ids()
    src.write_bytes(b"\x00" * 50)  # the export got corrupted
    report = h.run(folder, prune=True)
    assert report.problems and report.removed == 0
    assert h.index.manifest.count() == 3 and h.chunk_ids() == before


def test_duplicate_ids_across_files_keep_the_first(h, tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", records(1))
    b = write_jsonl(tmp_path / "b.jsonl", [dict(records(1)[0], text="Different text entirely.")])
    report = h.run(a, b)
    assert report.added == 1
    assert any("duplicate" in p.reason and p.path.endswith("b.jsonl") for p in report.problems)
    assert "topic0" in h.index.manifest.get("a0").text


class ExplodingEmbedder(HashEmbedder):
    """Dies (like kill -9 would) on the n-th embedding batch."""

    def __init__(self, die_on_batch: int) -> None:
        super().__init__()
        self.batches = 0
        self.die_on_batch = die_on_batch

    def embed_documents(self, texts):
        self.batches += 1
        if self.batches == self.die_on_batch:
            raise KeyboardInterrupt
        return super().embed_documents(texts)


class ExplodingStore:
    """Wraps the real store and dies after deleting an article's old chunks, mid-write."""

    def __init__(self, real) -> None:
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def replace_chunks(self, article_ids, ids, vectors, documents, metadatas):
        self._real.delete_chunks(article_ids)
        self._real.chunks.upsert(
            ids=list(ids[:3]),
            embeddings=vectors[:3],
            documents=list(documents[:3]),
            metadatas=list(metadatas[:3]),
        )
        raise KeyboardInterrupt


def test_an_interrupted_ingest_resumes_to_exact_counts(tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", records(12))
    clean = Harness(tmp_path / "clean")
    clean.run(src)
    want = clean.chunk_ids()

    h = Harness(tmp_path / "crash", ExplodingEmbedder(die_on_batch=3))
    with pytest.raises(KeyboardInterrupt):
        h.run(src)
    assert 0 < h.index.manifest.count() < 12
    h.index.store = ExplodingStore(h.index.store)
    h.ingestor.embedder.die_on_batch = -1
    with pytest.raises(KeyboardInterrupt):
        h.run(src)  # dies again, this time between the delete and the write
    assert h.index.manifest.pending()
    h.index.store = h.index.store._real
    report = h.run(src)
    assert report.recovered >= 1
    assert h.chunk_ids() == want
    assert h.index.manifest.pending() == []
    assert h.index.store.count_chunks() == len(want)


def test_opening_an_index_with_another_model_says_how_to_reindex(h, tmp_path):
    h.run(write_jsonl(tmp_path / "a.jsonl", records(1)))
    with pytest.raises(IndexMismatchError) as err:
        ArchiveIndex.open(h.settings, model_label="other-model", dim=64)
    assert "--rebuild" in str(err.value) and "test-hash-64" in str(err.value)
