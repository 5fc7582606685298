"""The manifest: one SQLite row per stored article, beside the vector store.

It is what makes ingest incremental and crash-safe. An article is written in two steps:
its row goes in as ``pending`` (with the new text and hash) before its chunks are replaced in
the vector store, and becomes ``done`` after. A run that is killed in between leaves
``pending`` rows, which the next run rebuilds from the stored text, so the store ends with
exactly one set of chunks per article: no duplicates, no orphans.

It also keeps each article's full text and its chunks' spans, so a citation's character
offsets always resolve and the lexical index can be rebuilt without the vector store. A
``generation`` counter moves whenever the set of done articles changes; each article keeps the
generation that last wrote it (``gen``) and each removal is logged with its generation, so a
reader that is at generation g asks for what changed since g (``changes``) instead of reading
everything again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexMismatchError, StoreError

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
    updated_at REAL NOT NULL,
    gen INTEGER NOT NULL DEFAULT 0
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
CREATE TABLE IF NOT EXISTS removed (article_id TEXT NOT NULL, gen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS centroid_members (
    article_id TEXT PRIMARY KEY,
    lang TEXT NOT NULL,
    gen INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS removed_gen ON removed(gen);
"""
# after SCHEMA, once the articles table surely has its gen column (added to older manifests)
GEN_INDEX = "CREATE INDEX IF NOT EXISTS articles_gen ON articles(gen)"
# The index's layout, recorded in the manifest (meta ``index_format``). 0: written before it was
# recorded; such an index is brought to 1 when first opened (the change log's gen column,
# ``_add_change_log``). One with a higher number was written by a newer newsrag and is refused
# (``_check_format``): an older newsrag cannot know what changed. A change of layout bumps it
# and adds its migration to ``_migrate``.
INDEX_FORMAT = 1

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


@dataclass(frozen=True)
class Changes:
    """What changed between two generations, for a reader that holds the older one."""

    touched: tuple[str, ...]  # articles written or removed since: their old chunks are gone
    chunks: tuple[tuple[str, ArticleRecord, str], ...]  # (chunk id, article, text) now stored


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
            self._check_format()
            self._db.executescript(SCHEMA)
            self._add_change_log()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The manifest {self.path} cannot be opened ({exc}). If the file is damaged, "
                "move the index folder away and ingest again."
            ) from exc

    def close(self) -> None:
        self._db.close()

    def _format(self) -> int:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        found = self.get_meta("index_format") if has_meta else None
        return int(found) if found and found.isdigit() else 0

    def _check_format(self) -> None:
        """Refuses an index written by a newer newsrag, before anything is changed in it."""
        found = self._format()
        if found > INDEX_FORMAT:
            self._db.close()
            raise IndexMismatchError(
                f"The index {self.path.parent} was written by a newer newsrag (index format "
                f"{found}; this one reads up to {INDEX_FORMAT}). Upgrade newsrag where it runs "
                "(`git pull && make setup`), or restore a backup made by this version "
                "(`newsrag restore BACKUP --index NEW_FOLDER`)."
            )

    def _migrate(self) -> None:
        """Records the format once an older index has been brought to it (format 0 -> 1 is
        ``_add_change_log``, run on every open)."""
        if self._format() < INDEX_FORMAT:
            self.set_meta("index_format", str(INDEX_FORMAT))

    def _add_change_log(self) -> None:
        """Gives a manifest made before the change log its ``gen`` column.

        Its articles get generation 0; ``changes`` cannot answer for generations before this
        point (``changes_from``), so a reader older than it reads everything once.
        """
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(articles)")}
        if "gen" not in columns:
            with self._transaction():
                self._db.execute("ALTER TABLE articles ADD COLUMN gen INTEGER NOT NULL DEFAULT 0")
                self.set_meta("changes_from", str(self.generation()))
        self._db.execute(GEN_INDEX)

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

    def translated_members(self) -> dict[str, tuple[str, str, int]]:
        """``{article_id: (lang, story_id, gen)}``, the articles of ``translated_articles``."""
        rows = self._db.execute(
            "SELECT id, lang, story_id, gen FROM articles WHERE state = 'done' AND story_id IN ("
            "SELECT story_id FROM articles WHERE state = 'done' AND story_id IS NOT NULL "
            "GROUP BY story_id HAVING COUNT(DISTINCT lang) > 1)"
        )
        return {r["id"]: (r["lang"], r["story_id"], r["gen"]) for r in rows}

    # --- language sums (see ArchiveIndex.update_language_centroids) ------------------------
    SUMS_KEY = "language_sums"

    def centroid_members(self) -> dict[str, tuple[str, int]]:
        """``{article_id: (lang, gen)}`` of the vectors summed into the language sums."""
        rows = self._db.execute("SELECT article_id, lang, gen FROM centroid_members")
        return {r[0]: (r[1], r[2]) for r in rows}

    def language_sums(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        raw = self.get_meta(self.SUMS_KEY)
        if raw is None:
            return {}, {}
        saved = json.loads(raw)
        sums = {lang: np.asarray(v, dtype=np.float64) for lang, v in saved["sums"].items()}
        return sums, {lang: int(n) for lang, n in saved["counts"].items()}

    def update_centroid_members(
        self, drop: Sequence[str], add: Sequence[tuple[str, str, int, np.ndarray]]
    ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Takes ``drop``'s vectors out of the per-language sums and puts ``add``'s
        (article id, lang, gen, vector) in, in one transaction; returns the sums and counts."""
        with self._transaction():
            sums, counts = self.language_sums()
            for batch in _batches(list(drop), 500):
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT lang, vector FROM centroid_members WHERE article_id IN ({marks})",
                    batch,
                )
                for lang, blob in rows:
                    sums[lang] = sums[lang] - np.frombuffer(blob, dtype=np.float32)
                    counts[lang] -= 1
                self._db.execute(
                    f"DELETE FROM centroid_members WHERE article_id IN ({marks})", batch
                )
            for _, lang, _, vector in add:
                v = np.asarray(vector, dtype=np.float32)
                sums[lang] = sums.get(lang, np.zeros(len(v))) + v
                counts[lang] = counts.get(lang, 0) + 1
            self._db.executemany(
                "INSERT OR REPLACE INTO centroid_members (article_id, lang, gen, vector) "
                "VALUES (?, ?, ?, ?)",
                [(a, lang, g, np.asarray(v, np.float32).tobytes()) for a, lang, g, v in add],
            )
            kept = {lang for lang, n in counts.items() if n > 0}
            sums = {lang: v for lang, v in sums.items() if lang in kept}
            counts = {lang: n for lang, n in counts.items() if lang in kept}
            self.set_meta(
                self.SUMS_KEY,
                json.dumps({"sums": {k: v.tolist() for k, v in sums.items()}, "counts": counts}),
            )
        return sums, counts

    def pending(self) -> list[ArticleRecord]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM articles WHERE state = 'pending'")
        return [_record(r) for r in rows]

    def ids_with_paths(self) -> Iterator[tuple[str, str]]:
        yield from ((r["id"], r["path"]) for r in self._db.execute("SELECT id, path FROM articles"))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def last_write(self) -> float | None:
        """When the set of done articles last changed (seconds since the epoch), if known."""
        value = self.get_meta("last_write")
        return float(value) if value else None

    def totals(self) -> tuple[int, int]:
        """(articles, chunks) that are done: what questions are answered from."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_chunks), 0) FROM articles WHERE state = 'done'"
        ).fetchone()
        return int(row[0]), int(row[1])

    def changes(self, since: int, until: int) -> Changes | None:
        """What a reader at generation ``since`` must apply to be at ``until``.

        None when the log does not reach back that far (a manifest from before the log, or a
        reader ahead of the manifest): the reader then reads everything. An article written
        again after ``until`` is left for the next call, whose window holds its new version.
        """
        found = self._touched(since, until)
        if found is None:
            return None
        written, removed = found
        chunks = []
        done = [i for i, state in written.items() if state == "done"]
        for record in self.get_many(done).values():
            if record.state == "done":  # not being written again right now (then: next call)
                for chunk_id, start, end in self.chunk_spans(record.id):
                    chunks.append((chunk_id, record, record.text[start:end]))
        return Changes(tuple(dict.fromkeys([*written, *removed])), tuple(chunks))

    def touched(self, since: int, until: int) -> set[str] | None:
        """The articles written or removed between generations ``since`` and ``until``; None
        when the log does not reach back that far (as ``changes``)."""
        found = self._touched(since, until)
        return None if found is None else {*found[0], *found[1]}

    def _touched(self, since: int, until: int) -> tuple[dict[str, str], list[str]] | None:
        """(state of each article written, articles removed) in the window; None beyond
        the log."""
        if since < int(self.get_meta("changes_from") or 0) or since > until:
            return None
        window = (since, until)
        written = {
            r["id"]: r["state"]
            for r in self._db.execute(
                "SELECT id, state FROM articles WHERE gen > ? AND gen <= ?", window
            )
        }
        removed = [
            r[0]
            for r in self._db.execute(
                "SELECT article_id FROM removed WHERE gen > ? AND gen <= ?", window
            )
        ]
        return written, removed

    def newest_chunk_ids(self, limit: int) -> list[str]:
        """The chunks of done articles, those of the most recently dated articles first (the
        undated last), at most ``limit``."""
        rows = self._db.execute(
            "SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id "
            "WHERE a.state = 'done' ORDER BY a.date IS NULL, a.date DESC, c.id LIMIT ?",
            (limit,),
        )
        return [r[0] for r in rows]

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
            gen = self._bump_generation()
            self._db.executemany(
                "UPDATE articles SET state = 'done', gen = ? WHERE id = ?",
                [(gen, i) for i in article_ids],
            )

    def _bump_generation(self) -> int:
        gen = self.generation() + 1
        self.set_meta("generation", str(gen))
        self.set_meta("last_write", repr(time.time()))
        return gen

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
            gen = self._bump_generation()
            self._db.executemany(
                "INSERT INTO removed (article_id, gen) VALUES (?, ?)", [(i, gen) for (i,) in ids]
            )

    def _transaction(self) -> Transaction:
        return Transaction(self._db)


class Transaction:
    """``with Transaction(db):`` one SQLite write transaction, taken at once (BEGIN
    IMMEDIATE), committed at the end or rolled back on an error (the sources registry uses it
    too)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
