"""A refresh costs what changed: the manifest's change log, the lexical segments, the centroids.

Real embedded Chroma and manifest in tmp_path, the hash embedder (fast; the vectors do not
matter here, the bookkeeping does).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ingest.sync import Ingestor
from rag.archive.index import MIN_TRANSLATED_STORIES, ArchiveIndex
from rag.archive.lexical import LexicalIndex
from rag.archive.manifest import Manifest
from rag.config import Settings
from tests.fakes import HashEmbedder
from tests.integration.test_sync import records, write_jsonl

MAX_BYTES = 1_000_000


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.embedder = HashEmbedder()
        self.index = self.open()
        self.ingestor = Ingestor(
            self.index, self.embedder, chunk_tokens=40, chunk_overlap=10, batch_chunks=16
        )

    def open(self) -> ArchiveIndex:
        settings = Settings(index_dir=self.root / "index")
        return ArchiveIndex.open(settings, model_label=self.embedder.label, dim=self.embedder.dim)

    def run(self, *paths: Path, prune: bool = False):
        return self.ingestor.run(list(paths), max_bytes=MAX_BYTES, prune=prune)

    def expected_chunks(self) -> set[str]:
        return {
            f"{r.id}:{n}" for r in self.index.manifest.iter_records() for n in range(r.n_chunks)
        }


@pytest.fixture
def archive(tmp_path):
    a = Archive(tmp_path)
    yield a
    a.index.close()


def test_the_change_log_says_what_was_written_and_removed_since_a_generation(archive, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    recs = records(6)
    src = write_jsonl(folder / "a.jsonl", recs)
    archive.run(folder)
    manifest = archive.index.manifest
    g1 = manifest.generation()
    assert manifest.changes(g1, g1).touched == ()
    recs[2]["text"] = "A rewritten article about the siege of Mosul."
    write_jsonl(src, [r for r in recs if r["id"] != "a4"])
    archive.run(folder, prune=True)
    g2 = manifest.generation()
    changes = manifest.changes(g1, g2)
    assert sorted(changes.touched) == ["a2", "a4"]
    assert {cid for cid, _, _ in changes.chunks} == {"a2:0"}
    assert all(text == rec.text[: len(text)] for _, rec, text in changes.chunks)
    assert manifest.changes(0, g2).touched and manifest.changes(g2 + 1, g2) is None
    assert manifest.last_write() is not None and manifest.totals()[0] == 5


def test_a_refresh_applies_only_the_changes_and_matches_a_full_build(
    archive, tmp_path, monkeypatch
):
    folder = tmp_path / "src"
    folder.mkdir()
    recs = records(30, sentences=15)
    src = write_jsonl(folder / "a.jsonl", recs)
    archive.run(folder)
    served = archive.open()  # another process's view: a serving process
    first = served.lexical()
    assert first.chunk_ids() == archive.expected_chunks()

    recs[3]["text"] = "The convoy was ambushed on the road to Palmyra at dawn."
    recs.append(dict(recs[0], id="new", text="Drones hit the airport of Tessalit in Mali."))
    write_jsonl(src, [r for r in recs if r["id"] != "a7"])
    archive.run(folder, prune=True)

    def everything() -> None:
        raise AssertionError("a refresh read every chunk again")

    monkeypatch.setattr(served.manifest, "iter_chunk_texts", everything)
    fresh = served.refresh_lexical()
    assert served.lexical() is fresh and fresh is not first  # swapped in whole
    assert fresh.generation == served.manifest.generation()
    assert fresh.chunk_ids() == archive.expected_chunks()
    assert first.chunk_ids() != fresh.chunk_ids()  # the old snapshot is untouched

    monkeypatch.undo()
    scratch = LexicalIndex.build(
        ((d, t) for d, t in _docs(served.manifest)), generation=fresh.generation
    )
    for query in ("Tessalit airport drones", "convoy Palmyra ambushed", "topic7 Syria", "war Iraq"):
        got, want = scored(fresh, query), scored(scratch, query)
        assert got.keys() == want.keys() and got
        assert all(got[c] == pytest.approx(s, rel=1e-5) for c, s in want.items())
    served.close()


def scored(index: LexicalIndex, query: str) -> dict[str, float]:
    """Every chunk's score for ``query`` (those above 0), by chunk id."""
    hits = index.top(index.scores(query, "en"), index.mask(), index.positions)
    return {h.doc.chunk_id: h.score for h in hits}


def _docs(manifest: Manifest):
    from rag.archive.index import lexical_doc

    for cid, rec, text in manifest.iter_chunk_texts():
        yield lexical_doc(cid, rec), text


def test_the_writer_saves_only_the_new_segment_and_the_next_open_loads_it(archive, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", records(20))
    archive.run(folder)
    lexical = archive.root / "index" / LexicalIndex.DIRNAME
    before = set(p.name for p in lexical.glob("seg-*"))
    write_jsonl(folder / "b.jsonl", [dict(r, id=f"b{r['id']}") for r in records(2)])
    archive.run(folder)
    after = set(p.name for p in lexical.glob("seg-*"))
    assert before < after and len(after - before) == 2  # one segment: its .npz and .json
    reopened = archive.open()
    loaded = LexicalIndex.load(archive.root / "index")
    assert loaded is not None and loaded.generation == reopened.manifest.generation()
    assert reopened.lexical().chunk_ids() == archive.expected_chunks()
    reopened.close()


def test_an_index_from_before_the_change_log_is_read_once_then_followed(tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    old_schema = """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, state TEXT NOT NULL,
        path TEXT NOT NULL, line INTEGER, title TEXT NOT NULL, lang TEXT NOT NULL, date TEXT,
        url TEXT, source TEXT, text TEXT NOT NULL, extra TEXT NOT NULL,
        n_chunks INTEGER NOT NULL DEFAULT 0, story_id TEXT, updated_at REAL NOT NULL);
    CREATE TABLE chunks (id TEXT PRIMARY KEY, article_id TEXT NOT NULL, n INTEGER NOT NULL,
        start INTEGER NOT NULL, "end" INTEGER NOT NULL);
    """
    with sqlite3.connect(index_dir / Manifest.FILENAME) as db:
        db.executescript(old_schema)
        db.execute("INSERT INTO meta VALUES ('generation', '12')")
        db.execute(
            "INSERT INTO articles VALUES ('old', 'h', 'done', '/x', NULL, 'Old', 'en', NULL, "
            "NULL, NULL, 'An old article about Raqqa.', '{}', 1, NULL, 0)"
        )
        db.execute("INSERT INTO chunks VALUES ('old:0', 'old', 0, 0, 27)")
    manifest = Manifest(index_dir)
    assert manifest.changes(0, 12) is None  # the log starts at generation 12
    assert manifest.changes(12, 12) is not None
    manifest.close()
    embedder = HashEmbedder()
    idx = ArchiveIndex.open(
        Settings(index_dir=index_dir), model_label=embedder.label, dim=embedder.dim
    )
    assert idx.lexical().chunk_ids() == {"old:0"}  # built from the manifest once
    src = write_jsonl(tmp_path / "n.jsonl", records(1))
    Ingestor(idx, embedder, chunk_tokens=40, chunk_overlap=10).run([src], max_bytes=MAX_BYTES)
    new = {f"a0:{n}" for n in range(idx.manifest.get("a0").n_chunks)}
    assert idx.lexical().chunk_ids() == {"old:0"} | new
    assert idx.manifest.changes(12, idx.manifest.generation()).touched == ("a0",)
    idx.close()


def test_language_centroids_read_only_the_vectors_of_what_changed(archive, tmp_path):
    pairs = []
    for i in range(MIN_TRANSLATED_STORIES + 2):
        pairs.append({"id": f"p{i:02d}-en", "title": f"T{i}", "lang": "en",
                      "text": f"Report {i} on the convoy number {i} at the border."})  # fmt: skip
        pairs.append({"id": f"p{i:02d}-it", "title": f"T{i}", "lang": "it",
                      "text": f"Rapporto {i} sul convoglio numero {i} al confine."})  # fmt: skip
    src = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    archive.run(src)
    manifest, store = archive.index.manifest, archive.index.store
    for i in range(MIN_TRANSLATED_STORIES + 1):
        manifest.set_story([f"p{i:02d}-en", f"p{i:02d}-it"], f"p{i:02d}-en")
    read: list[str] = []
    real = store.article_vectors

    def counting(ids):
        read.extend(ids)
        return real(ids)

    store.article_vectors = counting  # type: ignore[method-assign]
    archive.index.update_language_centroids()
    assert len(read) == 2 * (MIN_TRANSLATED_STORIES + 1)  # the first time: every member
    read.clear()
    last = MIN_TRANSLATED_STORIES + 1
    manifest.set_story([f"p{last:02d}-en", f"p{last:02d}-it"], f"p{last:02d}-en")
    pairs[0]["text"] = "Report 0, rewritten: the convoy turned back at the border."
    write_jsonl(src, pairs)
    archive.run(src)  # one article rewritten, one story more
    # the new story's two articles, and the rewritten one if it is still in a translated story
    assert {"p21-en", "p21-it"} <= set(read) <= {"p00-en", "p21-en", "p21-it"}
    read.clear()
    archive.run(src)  # nothing changed
    assert read == []
    store.article_vectors = real  # type: ignore[method-assign]

    got = archive.index.language_centroids()
    ids = [a for a, _, _ in manifest.translated_articles()]
    vectors = real(ids)
    for lang in ("en", "it"):
        members = [vectors[a] for a in ids if a.endswith(lang)]
        assert np.allclose(got[lang], np.mean(members, axis=0), atol=1e-5)
    stories = {story for _, _, story in manifest.translated_articles()}
    assert json.loads(manifest.get_meta("language_centroids"))["translated_stories"] == len(stories)
    assert len(stories) >= MIN_TRANSLATED_STORIES
