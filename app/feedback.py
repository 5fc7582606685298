"""Thumbs up/down on answers, kept in ``<index_dir>/feedback.sqlite3`` beside the archive.

One row per rated answer: when (UTC ISO), the rating, the person's comment, the question, the
answer and its citations as shown, the answering mode, the SSO user
(``NEWSRAG_TRUSTED_USER_HEADER``) and the page's origin. A later rating of the same answer
(same ``turn_id`` and user: a changed mind, or the comment that follows a thumb) updates that
row, so counts are per answer. The file is created on the first rating; ``newsrag feedback export``
writes the rows as CSV or JSONL for whoever reviews the answers.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from rag.errors import InputError

Rating = Literal["up", "down"]
Format = Literal["csv", "jsonl"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    mode TEXT,
    user TEXT,
    origin TEXT,
    turn_id TEXT
);
"""
COLUMNS = (
    "id", "time", "rating", "comment", "question", "answer", "citations", "mode", "user",
    "origin", "turn_id",
)  # fmt: skip


class FeedbackStore:
    FILENAME = "feedback.sqlite3"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def for_index(cls, index_dir: Path) -> FeedbackStore:
        return cls(index_dir / cls.FILENAME)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        return db

    def add(
        self,
        *,
        rating: Rating,
        question: str,
        answer: str,
        citations: Sequence[Any] = (),
        comment: str | None = None,
        mode: str | None = None,
        user: str | None = None,
        origin: str | None = None,
        turn_id: str | None = None,
    ) -> int:
        """Stores a rating and returns its row id. ``citations`` must be JSON-serialisable.

        With a ``turn_id`` already rated by the same ``user``, that row is updated instead: the
        new rating and time, and the new comment when one is given (else the earlier one stays).
        """
        if rating not in ("up", "down"):
            raise InputError(f"rating must be 'up' or 'down', not {rating!r}.")
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            rating,
            comment or None,
            question,
            answer,
            json.dumps(list(citations), ensure_ascii=False),
            mode,
            user,
            origin,
            turn_id,
        )
        with self._lock, closing(self._connect()) as db, db:
            if turn_id:
                found = db.execute(
                    "SELECT id FROM feedback WHERE turn_id = ? AND user IS ? ORDER BY id DESC",
                    (turn_id, user),
                ).fetchone()
                if found:
                    db.execute(
                        "UPDATE feedback SET time = ?, rating = ?, "
                        "comment = COALESCE(?, comment) WHERE id = ?",
                        (row[0], rating, row[2], found[0]),
                    )
                    return int(found[0])
            cursor = db.execute(
                f"INSERT INTO feedback ({', '.join(COLUMNS[1:])}) "
                f"VALUES ({', '.join('?' * (len(COLUMNS) - 1))})",
                row,
            )
            return int(cursor.lastrowid or 0)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every rating, oldest first, with ``citations`` parsed back from JSON."""
        if not self.path.exists():
            return
        with self._lock, closing(self._connect()) as db:
            fetched = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id"
            ).fetchall()
        for values in fetched:
            row = dict(zip(COLUMNS, values, strict=True))
            row["citations"] = json.loads(row["citations"])
            yield row

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._lock, closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def export(self, fmt: Format, out: TextIO) -> int:
        """Writes every rating to ``out`` as CSV (citations as a JSON cell) or JSONL."""
        if fmt not in ("csv", "jsonl"):
            raise InputError(f"Unknown export format {fmt!r}: use csv or jsonl.")
        written = 0
        writer: Any = None
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
        for row in self.rows():
            if writer is not None:
                cells = dict(row, citations=json.dumps(row["citations"], ensure_ascii=False))
                writer.writerow(cells)
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
        return written
