"""``newsrag backup DIR`` and ``newsrag restore BACKUP --index NEW``.

A backup is consistent while the index is served and synced: without a server, ``backup``
takes the index's writer lock for the copy (an ingest or a sync waits for it, or is refused
with the holder's name); with ``--server``, the server makes the copy inside its one writer
and streams it here (ui/web/admin_backup.py). Either way the folder is written as ``DIR.partial``
and renamed once every file is checked against the backup's list (rag/archive/backup.py).
"""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rag.archive.backup import BackupInfo, backup_index, restore_backup, verify_backup
from rag.archive.writer_lock import WriterLock
from rag.config import Settings
from rag.errors import ConfigError, NewsragError, StoreError

from .remote_ingest import UPLOAD_TIMEOUT_S, refused, response_json


def run_backup(settings: Settings, target: Path) -> BackupInfo:
    """A backup of ``settings.index_dir`` made here, under its writer lock."""
    if settings.chroma_url:
        raise ConfigError(
            "With NEWSRAG_CHROMA_URL the vectors live in the Chroma server, not in the index "
            "folder: stop the ingests, then back up the Chroma server's data (its --path) and "
            "the index folder together (README, Deployment)."
        )
    if not (settings.index_dir / "manifest.sqlite").exists():
        raise StoreError(f"No index at {settings.index_dir} to back up.")
    with WriterLock(settings.index_dir).acquire("backup"):
        return backup_index(settings.index_dir, target)


def run_remote_backup(
    server: str, key: str | None, target: Path, *, client: Any = None
) -> BackupInfo:
    """A backup made by the running server at ``server``, unpacked into ``target``.

    ``client``: an ``httpx.Client`` to send with (tests pass the app's TestClient)."""
    import httpx

    if not key:
        raise ConfigError(
            "`newsrag backup --server` needs the server's admin key: set NEWSRAG_ADMIN_KEY "
            "(one of the server's NEWSRAG_ADMIN_KEYS) or pass --key."
        )
    server = server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"--server {server!r} must start with http:// or https://.")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StoreError(f"Cannot back up into {target}: it exists and is not empty.")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    headers = {"Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(30.0, read=UPLOAD_TIMEOUT_S)
    try:
        try:
            with (
                nullcontext(client) if client else httpx.Client(timeout=timeout) as http,
                http.stream("POST", f"{server}/api/admin/backup", headers=headers) as response,
            ):
                if response.status_code != 200:
                    response.read()
                    raise refused(
                        server, response.status_code, response_json(response), what="backup"
                    )
                stream = io.BufferedReader(_Blocks(response.iter_bytes()), 1 << 16)
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    tar.extractall(partial, filter="data")
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"Cannot reach the newsrag server at {server} ({type(exc).__name__}: {exc}): "
                "is `newsrag serve` running there, and is the URL right?"
            ) from exc
        except tarfile.TarError as exc:
            raise NewsragError(
                f"The backup from {server} arrived damaged ({exc}); run the command again."
            ) from exc
        verify_backup(partial)
        if target.exists():
            target.rmdir()
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return verify_backup(target)


def run_restore(backup: Path, settings: Settings) -> BackupInfo:
    if settings.chroma_url:
        raise ConfigError(
            "`newsrag restore` restores an embedded index; with NEWSRAG_CHROMA_URL restore the "
            "Chroma server's data and the index folder together (README, Deployment)."
        )
    return restore_backup(backup, settings.index_dir)


class _Blocks(io.RawIOBase):
    """A readable file over an iterator of byte blocks (tarfile's stream mode reads it)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = memoryview(block)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
