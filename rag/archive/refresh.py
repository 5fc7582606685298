"""Keeping a serving process's index current while it answers questions.

The vectors need nothing: every write reaches the process's Chroma client (its own client, when
it is the one writing an embedded index; the server's, with a Chroma server). The manifest is
SQLite in WAL mode, so each read sees the last committed write. What a process must refresh
itself is its lexical index, which it holds in memory. ``Refresher`` does that in a background
thread: every ``interval`` seconds it reads the manifest's generation (one SQLite row, well
under a millisecond) and, when it moved, applies what changed (ArchiveIndex.refresh_lexical)
and swaps the new snapshot in whole. Questions keep using the old snapshot until then, never
waiting for a refresh. A write through this process's admin route refreshes at once instead of
waiting for the next tick (``refresh_now``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .index import ArchiveIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshStatus:
    serving_generation: int  # what questions are answered from
    manifest_generation: int  # what the archive is at
    refreshed_at: float | None  # when the last refresh that changed something finished
    refresh_seconds: float | None  # how long that refresh took
    error: str | None  # why the last refresh failed, if it did (the old snapshot is kept)


class Refresher:
    def __init__(
        self,
        index: ArchiveIndex,
        *,
        interval: float,
        save: Callable[[], bool] = lambda: False,
    ) -> None:
        """``save`` says, at each refresh, whether this process writes the index (then it also
        saves the refreshed lexical index for the next start)."""
        self.index = index
        self.interval = interval
        self._save = save
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._refreshed_at: float | None = None
        self._took: float | None = None
        self._error: str | None = None

    def start(self) -> None:
        if self._thread is not None or self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="newsrag-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.index.manifest.generation() != self.index.lexical().generation:
                    self.refresh_now()
            except Exception:  # logged and kept: the next tick tries again
                log.exception("refreshing the index failed; answering from the previous one")

    def refresh_now(self, *, save: bool | None = None) -> None:
        """Refreshes in the calling thread (a write that wants its articles answerable)."""
        with self._lock:
            t0 = time.perf_counter()
            before = self.index.lexical().generation
            try:
                lexical = self.index.refresh_lexical(save=self._save() if save is None else save)
            except Exception as exc:
                self._error = f"{type(exc).__name__}: {exc}"
                raise
            self._error = None
            if lexical.generation != before:  # a check that found nothing to do is not timed
                self._took = time.perf_counter() - t0
                self._refreshed_at = time.time()
                log.info(
                    "index refreshed: generation %s -> %s in %.0f ms (%d chunks, %d segments)",
                    before, lexical.generation, self._took * 1000, len(lexical),
                    len(lexical.segments),
                )  # fmt: skip

    def status(self) -> RefreshStatus:
        return RefreshStatus(
            serving_generation=self.index.lexical().generation,
            manifest_generation=self.index.manifest.generation(),
            refreshed_at=self._refreshed_at,
            refresh_seconds=self._took,
            error=self._error,
        )
