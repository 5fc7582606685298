"""The manifest: one SQLite row per stored article, beside the vector store.

It is what makes ingest incremental and crash-safe. An article is written in two steps:
its row goes in as ``pending`` (with the new text and hash) before its chunks are replaced in
the vector store, and becomes ``done`` after. A run that is killed in between leaves
``pending`` rows, which the next run rebuilds from the stored text, so the store ends with
exactly one set of chunks per article: no duplicates, no orphans.

It also keeps each article's full text and its chunks' spans, so a citation's character
offsets always resolve and the lexical index can be rebuilt without the vector store. A
``generation`` counter moves whenever the set of done articles changes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    path TEXT NOT NULL,
    line INTEGER,
    title TEXT NOT NULL,
    lang TEXT NOT NULL,
    date TEXT,
    url TEXT,
    source TEXT,
    text TEXT NOT NULL,
    extra TEXT NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0,
    story_id TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS articles_path ON articles(path);
CREATE INDEX IF NOT EXISTS articles_story ON articles(story_id);
"""

_COLUMNS = (
    "id, content_hash, state, path, line, title, lang, date, url, source, text, extra, "
    "n_chunks, story_id"
)


@dataclass(frozen=True)
class ArticleRecord:
    """An article as stored: what the manifest knows about it."""

    id: str
    content_hash: str
    state: str
    path: str
    line: int | None
    title: str
    lang: str
    date: str | None
    url: str | None
    source: str | None
    text: str
    extra: dict[str, object]
    n_chunks: int = 0
    story_id: str | None = None


def _record(row: sqlite3.Row) -> ArticleRecord:
    values = dict(row)
    values["extra"] = json.loads(values["extra"])
    return ArticleRecord(**values)


class Manifest:
    FILENAME = "manifest.sqlite"

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / self.FILENAME
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The manifest {self.path} cannot be opened ({exc}). If the file is damaged, "
                "move the index folder away and ingest again."
            ) from exc

    def close(self) -> None:
        self._db.close()

    # --- index identity -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- reads ----------------------------------------------------------------------------
    def hashes(self) -> dict[str, tuple[str, str]]:
        """``{article_id: (content_hash, state)}`` for every stored article."""
        rows = self._db.execute("SELECT id, content_hash, state FROM articles")
        return {r["id"]: (r["content_hash"], r["state"]) for r in rows}

    def get(self, article_id: str) -> ArticleRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return _record(row) if row else None

    def get_many(self, article_ids: Sequence[str]) -> dict[str, ArticleRecord]:
        out: dict[str, ArticleRecord] = {}
        for batch in _batches(list(article_ids), 500):
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM articles WHERE id IN ({marks})", batch)
            out.update((r["id"], _record(r)) for r in rows)
        return out

    def story_info(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """``{article_id: (story_id, lang)}``, without loading any text."""
        out: dict[str, tuple[str, str]] = {}
        for batch in _batches(list(article_ids), 500):
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT id, story_id, lang FROM articles WHERE id IN ({marks})", batch
            )
            out.update((r["id"], (r["story_id"] or r["id"], r["lang"])) for r in rows)
        return out

    def stories_members(self, story_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """``{story_id: [(article_id, lang), …]}`` for done articles, in one query."""
        out: dict[str, list[tuple[str, str]]] = {}
        for batch in _batches(list(story_ids), 500):
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT id, story_id, lang FROM articles WHERE state = 'done' AND "
                f"story_id IN ({marks}) ORDER BY id",
                batch,
            )
            for r in rows:
                out.setdefault(r["story_id"], []).append((r["id"], r["lang"]))
        return out

    def translated_articles(self) -> list[tuple[str, str, str]]:
        """``(article_id, lang, story_id)`` of done articles whose story has several languages."""
        rows = self._db.execute(
            "SELECT id, lang, story_id FROM articles WHERE state = 'done' AND story_id IN ("
            "SELECT story_id FROM articles WHERE state = 'done' AND story_id IS NOT NULL "
            "GROUP BY story_id HAVING COUNT(DISTINCT lang) > 1) ORDER BY id"
        )
        return [(r["id"], r["lang"], r["story_id"]) for r in rows]

    def pending(self) -> list[ArticleRecord]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM articles WHERE state = 'pending'")
        return [_record(r) for r in rows]

    def ids_with_paths(self) -> Iterator[tuple[str, str]]:
        yield from ((r["id"], r["path"]) for r in self._db.execute("SELECT id, path FROM articles"))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def chunk_spans(self, article_id: str) -> list[tuple[str, int, int]]:
        rows = self._db.execute(
            'SELECT id, start, "end" FROM chunks WHERE article_id = ? ORDER BY n', (article_id,)
        )
        return [(r["id"], r["start"], r["end"]) for r in rows]

    def iter_chunk_texts(self) -> Iterator[tuple[str, ArticleRecord, str]]:
        """``(chunk_id, article, span text)`` for every chunk of every done article."""
        for record in self.iter_records():
            if record.state != "done":
                continue
            for chunk_id, start, end in self.chunk_spans(record.id):
                yield chunk_id, record, record.text[start:end]

    def story_members(self, story_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM articles WHERE story_id = ? ORDER BY id", (story_id,)
        )
        return [r["id"] for r in rows]

    def iter_records(self) -> Iterator[ArticleRecord]:
        yield from (_record(r) for r in self._db.execute(f"SELECT {_COLUMNS} FROM articles"))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    def stats(self) -> dict[str, object]:
        q = self._db.execute
        total = q(
            "SELECT COUNT(*) AS a, COALESCE(SUM(n_chunks), 0) AS c, MIN(date) AS d0, "
            "MAX(date) AS d1, COUNT(DISTINCT story_id) AS s FROM articles WHERE state = 'done'"
        ).fetchone()
        by = {}
        for key in ("lang", "source"):
            rows = q(
                f"SELECT COALESCE({key}, '') AS k, COUNT(*) AS a, SUM(n_chunks) AS c "
                f"FROM articles WHERE state = 'done' GROUP BY {key} ORDER BY a DESC, k"
            )
            by[key] = {r["k"]: {"articles": r["a"], "chunks": r["c"]} for r in rows}
        multi = q(
            "SELECT COUNT(*) FROM (SELECT story_id FROM articles WHERE state = 'done' "
            "GROUP BY story_id HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        pending = q("SELECT COUNT(*) FROM articles WHERE state = 'pending'").fetchone()[0]
        return {
            "articles": total["a"],
            "chunks": total["c"],
            "date_min": total["d0"],
            "date_max": total["d1"],
            "stories": total["s"],
            "stories_in_several_languages": multi,
            "pending": pending,
            "by_lang": by["lang"],
            "by_source": by["source"],
        }

    # --- writes ---------------------------------------------------------------------------
    def put_pending(
        self,
        records: Iterable[ArticleRecord],
        chunks: Iterable[tuple[str, str, int, int, int]] = (),
    ) -> None:
        """Store new or changed articles as ``pending``, keeping an existing story link.

        ``chunks`` are ``(chunk_id, article_id, n, start, end)``; they replace the articles'
        previous chunk spans in the same transaction.
        """
        records = list(records)
        now = time.time()
        rows = [
            (
                r.id,
                r.content_hash,
                r.path,
                r.line,
                r.title,
                r.lang,
                r.date,
                r.url,
                r.source,
                r.text,
                json.dumps(r.extra, ensure_ascii=False, sort_keys=True),
                r.n_chunks,
                now,
            )
            for r in records
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO articles (id, content_hash, state, path, line, title, lang, date,"
                " url, source, text, extra, n_chunks, updated_at) "
                "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET content_hash = excluded.content_hash,"
                " state = 'pending', path = excluded.path, line = excluded.line,"
                " title = excluded.title, lang = excluded.lang, date = excluded.date,"
                " url = excluded.url, source = excluded.source, text = excluded.text,"
                " extra = excluded.extra, n_chunks = excluded.n_chunks,"
                " updated_at = excluded.updated_at",
                rows,
            )
            self._db.executemany(
                "DELETE FROM chunks WHERE article_id = ?", [(r.id,) for r in records]
            )
            self._db.executemany(
                'INSERT INTO chunks (id, article_id, n, start, "end") VALUES (?, ?, ?, ?, ?)',
                list(chunks),
            )

    def mark_done(self, article_ids: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany(
                "UPDATE articles SET state = 'done' WHERE id = ?", [(i,) for i in article_ids]
            )
            self._bump_generation()

    def _bump_generation(self) -> None:
        self.set_meta("generation", str(self.generation() + 1))

    def set_story(self, article_ids: Iterable[str], story_id: str) -> None:
        with self._transaction():
            self._db.executemany(
                "UPDATE articles SET story_id = ? WHERE id = ?",
                [(story_id, i) for i in article_ids],
            )

    def set_stories(self, pairs: Iterable[tuple[str, str]]) -> None:
        """``(article_id, story_id)`` pairs, in one transaction."""
        with self._transaction():
            self._db.executemany(
                "UPDATE articles SET story_id = ? WHERE id = ?", [(s, a) for a, s in pairs]
            )

    def delete(self, article_ids: Iterable[str]) -> None:
        ids = [(i,) for i in article_ids]
        with self._transaction():
            self._db.executemany("DELETE FROM articles WHERE id = ?", ids)
            self._db.executemany("DELETE FROM chunks WHERE article_id = ?", ids)
            self._bump_generation()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
