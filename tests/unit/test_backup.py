"""Backups of an index (rag/archive/backup.py) and the index format an older or newer newsrag
wrote."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.sync import Ingestor
from rag.archive.backup import MARKER, backup_index, restore_backup, verify_backup
from rag.archive.index import ArchiveIndex
from rag.archive.manifest import INDEX_FORMAT, Manifest
from rag.archive.writer_lock import WriterLock
from rag.config import Settings
from rag.errors import ConfigError, IndexBusyError, IndexMismatchError, StoreError
from tests.fakes import HashEmbedder
from ui.backup_view import run_backup


def small_index(tmp_path: Path) -> Path:
    settings = Settings(index_dir=tmp_path / "index")
    embedder = HashEmbedder()
    src = tmp_path / "a.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": f"a{i}", "title": f"T{i}", "text": f"Aleppo news number {i}."}) + "\n"
            for i in range(3)
        ),
        "utf-8",
    )
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    Ingestor(index, embedder).run([src], max_bytes=10**6)
    index.close()
    return settings.index_dir


def test_a_backup_restores_into_a_fresh_folder_with_the_same_articles(tmp_path):
    index_dir = small_index(tmp_path)
    info = backup_index(index_dir, tmp_path / "bk")
    assert (info.articles, info.generation, info.embedding_model) == (3, 1, "test-hash-64")
    assert (tmp_path / "bk" / MARKER).is_file() and not (tmp_path / "bk.partial").exists()
    assert not (tmp_path / "bk" / WriterLock.FILENAME).exists()
    restored = restore_backup(tmp_path / "bk", tmp_path / "restored")
    assert restored.chunks == info.chunks
    settings = Settings(index_dir=tmp_path / "restored")
    index = ArchiveIndex.open(settings, model_label="test-hash-64", dim=64)
    try:
        assert index.manifest.totals() == (3, info.chunks)
        assert index.store.chunks.count() == info.chunks  # Chroma's own data came along
    finally:
        index.close()


def test_a_damaged_or_partial_backup_is_refused(tmp_path):
    backup_index(small_index(tmp_path), tmp_path / "bk")
    with (tmp_path / "bk" / Manifest.FILENAME).open("ab") as f:
        f.write(b"x")
    with pytest.raises(StoreError, match=r"damaged: manifest.sqlite .*Restore another backup"):
        restore_backup(tmp_path / "bk", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    (tmp_path / "bk" / MARKER).unlink()
    with pytest.raises(StoreError, match="not a newsrag backup"):
        verify_backup(tmp_path / "bk")


def test_nothing_is_written_over_an_existing_folder(tmp_path):
    index_dir = small_index(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="exists and is not empty"):
        backup_index(index_dir, tmp_path / "taken")
    backup_index(index_dir, tmp_path / "bk")
    with pytest.raises(StoreError, match="exists and is not empty"):
        restore_backup(tmp_path / "bk", tmp_path / "taken")
    with pytest.raises(StoreError, match="exists and is not empty"):
        restore_backup(tmp_path / "bk", index_dir)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_a_local_backup_takes_the_writer_lock(tmp_path):
    index_dir = small_index(tmp_path)
    with (
        WriterLock(index_dir).acquire("serve", url="http://127.0.0.1:7860"),
        pytest.raises(IndexBusyError, match=r"newsrag backup DIR --server http://127"),
    ):
        run_backup(Settings(index_dir=index_dir), tmp_path / "bk")
    assert not (tmp_path / "bk").exists()
    assert run_backup(Settings(index_dir=index_dir), tmp_path / "bk").articles == 3


def test_an_index_from_before_the_format_is_migrated_when_opened(tmp_path):
    """An index written before this version: no index_format, no change log column."""
    index_dir = tmp_path / "old"
    index_dir.mkdir()
    db = sqlite3.connect(index_dir / Manifest.FILENAME)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('generation', '4');"
        "CREATE TABLE articles (id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, state TEXT "
        "NOT NULL, path TEXT NOT NULL, line INTEGER, title TEXT NOT NULL, lang TEXT NOT NULL, "
        "date TEXT, url TEXT, source TEXT, text TEXT NOT NULL, extra TEXT NOT NULL, n_chunks "
        "INTEGER NOT NULL DEFAULT 0, story_id TEXT, updated_at REAL NOT NULL);"
    )
    db.close()
    manifest = Manifest(index_dir)
    try:
        assert manifest.get_meta("index_format") == str(INDEX_FORMAT)
        assert manifest.generation() == 4 and manifest.get_meta("changes_from") == "4"
    finally:
        manifest.close()


def test_an_index_from_a_newer_newsrag_is_refused_with_what_to_do(tmp_path):
    index_dir = small_index(tmp_path)
    manifest = Manifest(index_dir)
    manifest.set_meta("index_format", str(INDEX_FORMAT + 1))
    manifest.close()
    with pytest.raises(IndexMismatchError, match=r"newer newsrag .*git pull && make setup"):
        Manifest(index_dir)


def test_a_server_backup_streams_a_checked_copy_and_waits_for_no_write(tmp_path):
    """POST /api/admin/backup through `newsrag backup --server`'s own code, in process."""
    from starlette.testclient import TestClient

    from app.services import Services
    from rag.chat import Engine
    from rag.retrieval import Retriever
    from ui.backup_view import run_remote_backup
    from ui.web.server import create_app

    index_dir = small_index(tmp_path)
    settings = Settings(index_dir=index_dir, admin_keys=["adm"], sync="off")
    embedder = HashEmbedder()
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    engine = Engine(Retriever(index, embedder), BrokenAnswerer(), embedder, refusal_threshold=-1)
    services = Services.with_engine(settings, engine)
    try:
        with TestClient(create_app(settings, services=services)) as client:
            with services.no_writes("sync"), pytest.raises(IndexBusyError, match="sync"):
                run_remote_backup("http://testserver", "adm", tmp_path / "busy", client=client)
            assert not (tmp_path / "busy").exists() and not (tmp_path / "busy.partial").exists()
            with pytest.raises(ConfigError, match="admin key"):
                run_remote_backup("http://testserver", "wrong", tmp_path / "bk", client=client)
            info = run_remote_backup("http://testserver", "adm", tmp_path / "bk", client=client)
    finally:
        index.close()
    assert (info.articles, info.path) == (3, tmp_path / "bk")
    assert verify_backup(tmp_path / "bk").file_count == info.file_count
    assert not list(tmp_path.glob(".index-backup-*"))  # the server's copy is gone
    restored = restore_backup(tmp_path / "bk", tmp_path / "restored")
    assert restored.chunks == info.chunks


class BrokenAnswerer:
    name = "extractive"

    def stream(self, *_: object, **__: object) -> Iterator[str]:
        raise AssertionError("no question is asked here")
