"""One writer per index: the lock names its holder, and a dead holder never blocks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.archive.writer_lock import WriterLock
from rag.errors import IndexBusyError
from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from rag.archive.writer_lock import WriterLock
WriterLock(Path(sys.argv[1])).acquire(sys.argv[2], url=sys.argv[3] or None)
print("held", flush=True)
time.sleep(120)
"""


def hold(index: Path, kind: str, url: str = "") -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(index), kind, url],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_told_who_holds_the_index_and_what_to_do(tmp_path):
    index = tmp_path / "index"
    server = hold(index, "serve", "http://127.0.0.1:7860")
    try:
        with pytest.raises(IndexBusyError) as err:
            WriterLock(index).acquire("ingest")
        message = str(err.value)
        assert f"PID {server.pid}" in message and "http://127.0.0.1:7860" in message
        assert "newsrag ingest --server http://127.0.0.1:7860" in message
        assert "NEWSRAG_ADMIN_KEY" in message and "stop the server" in message
        with pytest.raises(IndexBusyError, match="already served by"):
            WriterLock(index).acquire("serve")
    finally:
        server.kill()
        server.wait()


def test_an_ingest_holding_the_lock_is_named_too(tmp_path):
    index = tmp_path / "index"
    ingest = hold(index, "ingest")
    try:
        with pytest.raises(
            IndexBusyError, match=f"being written by `newsrag ingest` .PID {ingest.pid}"
        ):
            WriterLock(index).acquire("ingest")
    finally:
        ingest.kill()
        ingest.wait()


def test_a_holder_killed_with_sigkill_leaves_nothing_that_blocks(tmp_path):
    index = tmp_path / "index"
    proc = hold(index, "ingest")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = WriterLock(index).acquire("ingest")
    assert lock.held and json.loads((index / WriterLock.FILENAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert (index / WriterLock.FILENAME).read_text() == ""


def test_a_stale_file_naming_a_dead_pid_does_not_block(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"kind": "serve", "pid": dead.pid, "host": socket.gethostname(), "since": time.time(),
             "url": "http://127.0.0.1:1"}  # fmt: skip
    (index / WriterLock.FILENAME).write_text(json.dumps(stale))
    with WriterLock(index).acquire("ingest") as lock:
        assert lock.held


def test_a_lock_kept_by_a_child_of_a_dead_holder_does_not_block(tmp_path):
    """A forked child inherits the locked file; once the holder is dead, the lock is stale."""
    index = tmp_path / "index"
    script = f"""
import os, sys, time
from pathlib import Path
from rag.archive.writer_lock import WriterLock
WriterLock(Path({str(index)!r})).acquire("ingest")
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.wait()
    try:
        with pytest.raises(BlockingIOError):  # the child does hold the flock
            import fcntl

            fd = os.open(index / WriterLock.FILENAME, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
        with WriterLock(index).acquire("ingest") as lock:
            assert lock.held
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    first = WriterLock(tmp_path).acquire("serve", url="http://127.0.0.1:9")
    with pytest.raises(IndexBusyError, match=f"PID {os.getpid()}"):
        WriterLock(tmp_path).acquire("ingest")
    first.release()
    WriterLock(tmp_path).acquire("ingest").release()
