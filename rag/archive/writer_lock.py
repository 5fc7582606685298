"""One writer per index: a lock file in the index folder naming who holds it.

An embedded Chroma index must be written by one process only: another process's writes reach
the files but not the serving process's open client, which then fails on chunks it cannot find.
So ``newsrag serve`` holds this lock for as long as it runs on an embedded index (writes then go
through its admin routes), and every ingest takes it for its run. A second writer gets an
``IndexBusyError`` naming the holder (kind, PID, URL, since when) and what to do.

The lock is ``fcntl.flock`` on ``INDEX/writer.lock``: the kernel releases it when the holder
dies, even by kill -9, so a lock left by a dead process never blocks. The file itself keeps the
holder's details (JSON) for the message; it is not truncated before the lock is won, which is
why this is not ``filelock`` (it truncates the file on every attempt, erasing the holder).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from ..errors import IndexBusyError


@dataclass(frozen=True)
class Holder:
    kind: str  # "serve", "ingest", "sync" or "backup"
    pid: int
    host: str
    since: float
    url: str | None = None  # the server's address, when the holder serves

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.since).strftime("%Y-%m-%d %H:%M:%S")
        where = f" at {self.url}" if self.url else ""
        who = f"`newsrag {self.kind}`{where}"
        if self.url and self.kind in ("ingest", "sync"):  # a write through a server
            what = "syncing its sources" if self.kind == "sync" else "ingesting"
            who = f"`newsrag serve`{where}, {what}"
        return f"{who} (PID {self.pid} on {self.host}, since {started})"


class WriterLock:
    FILENAME = "writer.lock"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.path = index_dir / self.FILENAME
        self._fd: int | None = None
        self._made_dir = False
        self.holder: Holder | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, kind: str, *, url: str | None = None) -> WriterLock:
        """Takes the lock for this process, or raises IndexBusyError naming its holder."""
        if self._fd is not None:
            return self
        self._made_dir = not self.index_dir.exists()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                if holder is not None and _stale(holder):
                    # its process is gone but a child it forked still has the file open: that
                    # child does not write the index; a fresh file takes the lock from it
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()
                    continue
                raise IndexBusyError(busy_message(self.index_dir, holder, kind)) from None
            me = Holder(kind, os.getpid(), socket.gethostname(), time.time(), url)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
            self._fd, self.holder = fd, me
            return self
        raise IndexBusyError(busy_message(self.index_dir, None, kind))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        if self._made_dir and [p.name for p in self.index_dir.iterdir()] == [self.FILENAME]:
            # nothing was written (the model failed to load…): leave no empty index behind
            with contextlib.suppress(OSError):
                self.path.unlink()
                self.index_dir.rmdir()
        os.close(self._fd)  # closing the file releases the flock
        self._fd, self.holder = None, None

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def busy_message(index_dir: Path, holder: Holder | None, wanted: str) -> str:
    if holder is None:
        return (
            f"Another process is writing the index {index_dir} (its lock file "
            f"{index_dir / WriterLock.FILENAME} is held). Wait for it to finish, then run the "
            "command again."
        )
    who = holder.describe()
    if holder.kind == "serve":
        server = holder.url or "URL"
        if wanted == "serve":
            return (
                f"The index {index_dir} is already served by {who}. Stop that server first, or "
                "serve another --index folder."
            )
        if wanted == "backup":
            return (
                f"The index {index_dir} is held by {who}, which may write it at any moment: "
                f"back it up through the server, which pauses its writes for the copy: "
                f"`newsrag backup DIR --server {server}` (with NEWSRAG_ADMIN_KEY set to one of "
                "its NEWSRAG_ADMIN_KEYS)."
            )
        if wanted == "sync":
            return (
                f"The index {index_dir} is held by {who}, which keeps it open: a second writer "
                "would not be seen by it. The server syncs the due sources by itself "
                f"(NEWSRAG_SYNC); to sync now, go through it: `newsrag sync --server {server} "
                "[NAME...]` (with NEWSRAG_ADMIN_KEY set to one of its NEWSRAG_ADMIN_KEYS), or "
                "stop the server and run the command again."
            )
        return (
            f"The index {index_dir} is held by {who}, which keeps it open: a second writer "
            f"would not be seen by it. Ingest through the server: `newsrag ingest --server "
            f"{server} PATH...` (with NEWSRAG_ADMIN_KEY set to one of its NEWSRAG_ADMIN_KEYS), "
            "or stop the server and run the command again."
        )
    return (
        f"The index {index_dir} is being written by {who}. Wait for it to finish (or stop it), "
        "then run the command again."
    )


def _read(fd: int) -> Holder | None:
    # the winner writes its details right after taking the lock: give it a moment
    for _ in range(20):
        raw = os.pread(fd, 4096, 0)
        if raw:
            try:
                return Holder(**json.loads(raw))
            except (ValueError, TypeError):
                return None
        time.sleep(0.01)
    return None


def _stale(holder: Holder) -> bool:
    if holder.host != socket.gethostname():
        return False  # another machine's process: not ours to judge
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
