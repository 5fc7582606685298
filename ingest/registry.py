"""The sources an archive follows, and what the last sync of each found: ``INDEX/sources.sqlite``.

A source is a feed, a sitemap or a site (its robots.txt sitemaps) URL, or a folder, synced
every ``every_seconds``. The registry lives in the index folder, so an archive carries its
sources with it, but in its own SQLite file beside the manifest rather than a table in it:
the manifest is the record of stored articles that every serving process reads (and, with a
Chroma server, several replicas), while sources, their HTTP validators and sync reports are
the writer's business; a sync's many small per-URL writes then never contend with readers
of the manifest, and the manifest's schema stays the articles'.

It also keeps each host's robots.txt for an hour, so a sync every few minutes does not ask
for it every time. Per URL it keeps the HTTP validators (ETag, Last-Modified) of the last
complete fetch, the article the URL gave, a sitemap's ``<lastmod>`` for it, and a sitemap
index's sitemaps.
They are saved only after the articles they describe are written, so a sync killed half way
fetches those URLs again (as 200s: nothing stored is lost, nothing is written twice).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.archive.manifest import Transaction
from rag.errors import InputError, StoreError
from rag.types import Problem

FILENAME = "sources.sqlite"
DEFAULT_EVERY = 30 * 60
MIN_EVERY = 60

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    location TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('web', 'folder')),
    every_seconds INTEGER NOT NULL,
    added_at REAL NOT NULL,
    last_sync_at REAL,
    last_ok_at REAL,
    detected TEXT,
    last_report TEXT
);
CREATE TABLE IF NOT EXISTS validators (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    article_id TEXT,
    listed TEXT,
    children TEXT,
    checked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS robots (
    origin TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS source_articles (
    source TEXT NOT NULL,
    article_id TEXT NOT NULL,
    PRIMARY KEY (source, article_id)
);
"""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class SourceReport:
    """What one sync of one source did. ``problems`` are named by URL (or file)."""

    name: str
    kind: str  # web | folder
    location: str
    started_at: float
    seconds: float
    reached: bool  # the feed, sitemap or folder itself could be read
    detected: str | None = None  # rss20, atom10, jsonfeed, sitemap, sitemapindex, site…
    listed: int = 0  # entries the listings gave (files, for a folder)
    fetched: int = 0  # pages fetched with a body
    not_modified: int = 0  # 304 answers (listings and pages)
    skipped_unchanged: int = 0  # sitemap entries whose <lastmod> had not moved: not asked for
    left_for_next: int = 0  # over NEWSRAG_SYNC_MAX_PAGES: fetched by the next syncs
    requests: int = 0  # HTTP requests sent, robots.txt included
    added: int = 0
    updated: int = 0
    unchanged: int = 0  # pages read and found identical (304s not included)
    recovered: int = 0
    chunks_written: int = 0
    problems: tuple[Problem, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> SourceReport:
        data = json.loads(raw)
        data["problems"] = tuple(Problem(**p) for p in data.get("problems", []))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Source:
    name: str
    location: str  # a URL, or a folder's absolute path
    kind: str  # web | folder
    every_seconds: int
    added_at: float
    last_sync_at: float | None = None
    last_ok_at: float | None = None  # the last sync that reached the source itself
    detected: str | None = None
    last: SourceReport | None = None

    def due_at(self) -> float:
        return (self.last_sync_at or 0.0) + self.every_seconds if self.last_sync_at else 0.0

    def is_due(self, now: float) -> bool:
        return now >= self.due_at()


@dataclass(frozen=True)
class Validators:
    """What the last complete fetch of a URL left for the next one."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    article_id: str | None = None  # the article this page gave
    listed: str | None = None  # the sitemap's <lastmod> for it when it was fetched
    children: tuple[str, ...] = field(default=())  # a sitemap index's sitemaps


def parse_every(text: str) -> int:
    """``"30m"`` -> 1800 seconds (s, m, h or d; a bare number is minutes)."""
    match = _EVERY.match(text or "")
    if not match:
        raise InputError(
            f"--every {text!r} is not an interval: write e.g. 15m, 2h or 1d (a bare number "
            "is minutes)."
        )
    seconds = int(float(match.group(1)) * _UNITS[(match.group(2) or "m").lower()])
    if seconds < MIN_EVERY:
        raise InputError(f"--every {text!r} is too often: at least 1m between two syncs.")
    return seconds


def format_every(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class SourceRegistry:
    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / FILENAME
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The sources file {self.path} cannot be opened ({exc}). If it is damaged, "
                "move it away and add the sources again (`newsrag sources add`)."
            ) from exc

    @classmethod
    def exists(cls, index_dir: Path) -> bool:
        return (index_dir / FILENAME).exists()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SourceRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- sources --------------------------------------------------------------------------
    def add(self, location: str, *, kind: str, every_seconds: int, name: str) -> Source:
        if not _NAME.match(name):
            raise InputError(
                f"source name {name!r} is not usable: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit (give one with --name)."
            )
        if self.get(name) is not None:
            raise InputError(
                f"there is already a source called {name!r}; choose another --name, or "
                f"`newsrag sources remove {name}` first."
            )
        for other in self.all():
            if other.location == location:
                raise InputError(f"{location} is already followed as source {other.name!r}.")
        self._db.execute(
            "INSERT INTO sources (name, location, kind, every_seconds, added_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, location, kind, every_seconds, time.time()),
        )
        found = self.get(name)
        assert found is not None
        return found

    def remove(self, name: str) -> Source:
        source = self.require(name)
        with self._transaction():
            self._db.execute("DELETE FROM sources WHERE name = ?", (name,))
            self._db.execute("DELETE FROM source_articles WHERE source = ?", (name,))
        return source

    def require(self, name: str) -> Source:
        source = self.get(name)
        if source is None:
            names = ", ".join(s.name for s in self.all()) or "none yet"
            raise InputError(
                f"no source called {name!r} in {self.path.parent} (sources: {names}); "
                "`newsrag sources list` shows them."
            )
        return source

    def get(self, name: str) -> Source | None:
        row = self._db.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        return _source(row) if row else None

    def all(self) -> list[Source]:
        return [_source(r) for r in self._db.execute("SELECT * FROM sources ORDER BY name")]

    def due(self, now: float | None = None) -> list[Source]:
        at = time.time() if now is None else now
        return [s for s in self.all() if s.is_due(at)]

    def next_due_in(self, now: float | None = None) -> float | None:
        """Seconds until the next source is due (0 when one is already), None without any."""
        at = time.time() if now is None else now
        times = [s.due_at() for s in self.all()]
        return max(0.0, min(times) - at) if times else None

    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever a source is added, removed, changed or synced (a cheap cache key)."""
        row = self._db.execute(
            "SELECT COUNT(*), MAX(last_sync_at), "
            "GROUP_CONCAT(name || ' ' || every_seconds || ' ' || location, '|') FROM sources"
        ).fetchone()
        return tuple(row)

    def unique_name(self, wanted: str) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", wanted).strip("-._")[:56] or "source"
        name, n = base, 2
        while self.get(name) is not None:
            name, n = f"{base}-{n}", n + 1
        return name

    def record(self, report: SourceReport, article_ids: Iterable[str] = ()) -> None:
        """The outcome of a sync of one source, and the articles it gave (for the counts)."""
        with self._transaction():
            self._db.execute(
                "UPDATE sources SET last_sync_at = ?, last_report = ?, "
                "detected = COALESCE(?, detected), "
                "last_ok_at = CASE WHEN ? THEN ? ELSE last_ok_at END WHERE name = ?",
                (report.started_at, report.to_json(), report.detected, report.reached,
                 report.started_at, report.name),
            )  # fmt: skip
            self._db.executemany(
                "INSERT OR IGNORE INTO source_articles (source, article_id) VALUES (?, ?)",
                [(report.name, a) for a in article_ids],
            )

    def article_ids(self, name: str) -> set[str]:
        rows = self._db.execute("SELECT article_id FROM source_articles WHERE source = ?", (name,))
        return {r["article_id"] for r in rows}

    # --- per-URL validators ---------------------------------------------------------------
    def validators(self, url: str) -> Validators | None:
        row = self._db.execute("SELECT * FROM validators WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        return Validators(
            url=row["url"], etag=row["etag"], last_modified=row["last_modified"],
            article_id=row["article_id"], listed=row["listed"],
            children=tuple(json.loads(row["children"] or "[]")),
        )  # fmt: skip

    def save_validators(self, items: Sequence[Validators]) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO validators (url, etag, last_modified, article_id, listed, children,"
                " checked_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET"
                " etag = excluded.etag, last_modified = excluded.last_modified,"
                " article_id = excluded.article_id, listed = excluded.listed,"
                " children = excluded.children, checked_at = excluded.checked_at",
                [(v.url, v.etag, v.last_modified, v.article_id, v.listed,
                  json.dumps(list(v.children)) if v.children else None, now) for v in items],
            )  # fmt: skip

    # --- robots.txt, kept between syncs (ingest.web.fetch.RobotsCache) ---------------------
    def robots(self, origin: str, max_age: float) -> str | None:
        row = self._db.execute(
            "SELECT body FROM robots WHERE origin = ? AND fetched_at >= ?",
            (origin, time.time() - max_age),
        ).fetchone()
        return row["body"] if row else None

    def save_robots(self, origin: str, text: str) -> None:
        self._db.execute(
            "INSERT INTO robots (origin, body, fetched_at) VALUES (?, ?, ?) ON CONFLICT(origin)"
            " DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at",
            (origin, text, time.time()),
        )

    def forget_validators(self, urls: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany("DELETE FROM validators WHERE url = ?", [(u,) for u in urls])

    def _transaction(self) -> Transaction:
        return Transaction(self._db)


def _source(row: sqlite3.Row) -> Source:
    raw = row["last_report"]
    return Source(
        name=row["name"], location=row["location"], kind=row["kind"],
        every_seconds=row["every_seconds"], added_at=row["added_at"],
        last_sync_at=row["last_sync_at"], last_ok_at=row["last_ok_at"],
        detected=row["detected"], last=SourceReport.from_json(raw) if raw else None,
    )  # fmt: skip
