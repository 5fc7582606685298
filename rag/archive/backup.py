"""Backups of an index folder, and restoring one into a fresh folder.

A backup is a folder holding a copy of the index folder's files (Chroma's data, the manifest,
the lexical index, the sources and the feedback; not the writer lock) and ``newsrag-backup.json``,
which lists every file with its size and sha256 and says what the index held (generation,
articles, chunks, embedding model, index format). It is written as ``DIR.partial`` and renamed
to ``DIR`` once complete, so a folder with the marker is always a whole backup.

Consistency is the caller's part: the copy is made while no write can run, under the index's
writer lock (``newsrag backup`` on an index no server holds) or inside the serving process's one
writer (POST /api/admin/backup, ui/web/admin.py). Questions go on meanwhile. The SQLite files are
copied with SQLite's online backup API, whose snapshot includes what is still in their
write-ahead logs; the other files (Chroma's HNSW segments, the lexical index) change only when
something is written.

``restore_backup`` checks every file against the marker and copies them into a folder that
does not exist yet (or is empty), again through ``.partial`` and a rename: an index is never
restored over another one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .manifest import Manifest
from .writer_lock import WriterLock

MARKER = "newsrag-backup.json"
FORMAT = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal")  # SQLite's side files: the backup API has them


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created: float
    file_count: int
    size_bytes: int
    generation: int
    articles: int
    chunks: int
    embedding_model: str | None
    index_format: int | None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))
        return (
            f"{self.articles} articles, {self.chunks} chunks (generation {self.generation}, "
            f"{self.embedding_model or 'no model yet'}), {self.file_count} files, "
            f"{self.size_bytes / 1e6:.1f} MB, made {when}"
        )


def backup_index(index_dir: Path, target: Path) -> BackupInfo:
    """Copies ``index_dir`` into the new folder ``target``; the caller keeps writes out."""
    if not (index_dir / Manifest.FILENAME).exists():
        raise StoreError(f"No index at {index_dir} to back up (it has no {Manifest.FILENAME}).")
    _check_fresh(target, "back up into")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # left by a backup that was interrupted
    try:
        files = []
        for source in sorted(_index_files(index_dir)):
            relative = source.relative_to(index_dir)
            copy = partial / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            if _is_sqlite(source):
                _copy_sqlite(source, copy)
            else:
                shutil.copy2(source, copy)
            files.append(_entry(copy, relative))
        info = _describe(partial, files)
        described = {k: v for k, v in asdict(info).items() if k != "path"}
        marker = {"format": FORMAT, **described, "files": files}
        (partial / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _info(target, marker)


def verify_backup(backup: Path) -> BackupInfo:
    """The backup's description, once every file it lists is there with its size and sha256."""
    marker = read_marker(backup)
    for f in marker["files"]:
        path = backup / f["path"]
        if not path.is_file():
            raise StoreError(f"The backup {backup} is incomplete: {f['path']} is missing.")
        if path.stat().st_size != f["size"] or _sha256(path) != f["sha256"]:
            raise StoreError(
                f"The backup {backup} is damaged: {f['path']} is not the file that was backed "
                "up (its size or sha256 differs). Restore another backup."
            )
    return _info(backup, marker)


def restore_backup(backup: Path, index_dir: Path) -> BackupInfo:
    """Checks ``backup`` and copies it into ``index_dir``, which must not hold anything yet."""
    info = verify_backup(backup)
    _check_fresh(index_dir, "restore into")
    partial = index_dir.with_name(index_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        shutil.copytree(backup, partial, ignore=shutil.ignore_patterns(MARKER))
        if index_dir.exists():
            index_dir.rmdir()  # empty (checked above): the rename needs it gone
        partial.rename(index_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return info


def read_marker(backup: Path) -> dict[str, Any]:
    path = backup / MARKER
    try:
        marker: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"{backup} is not a newsrag backup (it has no {MARKER}); give the folder that "
            "`newsrag backup DIR` wrote."
        ) from None
    except ValueError as exc:
        raise StoreError(f"The backup's {path} is damaged ({exc}).") from None
    if marker.get("format") != FORMAT:
        raise StoreError(
            f"The backup {backup} has format {marker.get('format')!r}; this newsrag reads "
            f"format {FORMAT}. Restore it with the newsrag version that made it."
        )
    return marker


def _check_fresh(folder: Path, what: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StoreError(
            f"Cannot {what} {folder}: it exists and is not empty. Give a new folder (a backup "
            "or a restore never writes over another one)."
        )


def _index_files(index_dir: Path) -> list[Path]:
    return [
        p
        for p in index_dir.rglob("*")
        if p.is_file()
        and p.name != WriterLock.FILENAME
        and not p.name.endswith(SKIPPED_SUFFIXES)
        and not p.name.startswith(".")
    ]


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _copy_sqlite(source: Path, copy: Path) -> None:
    """A consistent snapshot of a live SQLite database, WAL included, as one plain file."""
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(copy)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a single file: no -wal beside it


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(copy: Path, relative: Path) -> dict[str, Any]:
    return {"path": relative.as_posix(), "size": copy.stat().st_size, "sha256": _sha256(copy)}


def _describe(folder: Path, files: list[dict[str, Any]]) -> BackupInfo:
    """What the copied manifest says, read without writing to it."""
    uri = f"file:{folder / Manifest.FILENAME}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        articles, chunks = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_chunks), 0) FROM articles WHERE state = 'done'"
        ).fetchone()
    return BackupInfo(
        path=folder,
        created=time.time(),
        file_count=len(files),
        size_bytes=sum(f["size"] for f in files),
        generation=int(meta.get("generation") or 0),
        articles=int(articles),
        chunks=int(chunks),
        embedding_model=meta.get("embedding_model"),
        index_format=int(meta["index_format"]) if meta.get("index_format") else None,
    )


def _info(path: Path, marker: dict[str, Any]) -> BackupInfo:
    fields: dict[str, Any] = {k: marker.get(k) for k in BackupInfo.__dataclass_fields__}
    return BackupInfo(**(fields | {"path": path}))
