"""The sources' syncs inside ``newsrag serve``: due sources in the background, and on demand.

``SyncScheduler.run`` is the one way a serving process syncs its index's sources: through
``Services.begin_write("sync")``, so a sync and an admin ingest never run at once (the second
one gets a 409), the serving process's own writer does the writing, and questions are answered
from what it stored as soon as each write is committed (the lexical refresh,
rag/archive/refresh.py). POST /api/admin/sync calls it; so does the background thread, with
``NEWSRAG_SYNC`` on or auto:

- it sleeps until the next source is due (``SourceRegistry.next_due_in``), but never longer
  than ``NEWSRAG_SYNC_CHECK_SECONDS``, so a source added meanwhile with ``newsrag sources add``
  (which writes only the registry, ``INDEX/sources.sqlite``) is noticed;
- a due source is synced with ``ingest.source_sync.sync_sources``, which picks the due ones
  under the writer lock, so two processes that both find a source due never both sync it;
- a write already running (an admin ingest here, or another process holding the writer lock,
  possible with a Chroma server) is waited for: tried again a few seconds later;
- a failure is logged and kept for /api/status, and tried again at the next check; it never
  stops the thread, let alone the server.

With a Chroma server, several ``newsrag serve`` processes hold no lock between writes: each
runs this thread, and each due sync is done by the one that takes the index's writer lock;
the others find it taken, or find nothing due once they take it, and follow the result
through their own refresh (docs/scaling.md).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from ingest.registry import Source, SourceRegistry
from ingest.source_sync import SyncReport, sync_sources
from ingest.sync import Ingestor
from rag.chat import Engine
from rag.config import Settings
from rag.errors import IndexBusyError, NewsragError

from .sources import article_counts
from .status import Counters, SourceState, SyncRun, SyncStatus

log = logging.getLogger(__name__)

BUSY_RETRY_S = 10.0  # a write was running: try again this soon
MIN_PAUSE_S = 1.0  # between two background syncs, whatever the schedule says
STOP_WAIT_S = 10.0  # how long closing the server waits for a sync to reach its next step


class _Stopped(BaseException):
    """Raised at a sync's next step when the server closes (not an error of the sync)."""


T = TypeVar("T")


class WriteSession(Protocol):
    """One write to the served index (app.services.WriteSession); ``run`` closes it."""

    def run(self, work: Callable[[Ingestor], T]) -> T: ...


class SyncHost(Protocol):
    """What the scheduler needs from the server it runs in (app.services.Services)."""

    settings: Settings
    metrics: Counters | None

    def begin_write(self, kind: str = "ingest") -> WriteSession: ...

    def engine(self) -> Engine: ...


class SyncScheduler:
    def __init__(self, services: SyncHost) -> None:
        self.services = services
        self.settings = services.settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: tuple[str, float] | None = None
        self._last: SyncRun | None = None
        self._waiting: str | None = None
        self._look_error: str | None = None  # the sources could not be read
        self._cache: tuple[tuple[object, ...], tuple[SourceState, ...]] | None = None
        self._warned_empty = False

    @property
    def background(self) -> bool:
        return self.settings.sync != "off"

    # --- the background thread ------------------------------------------------------------
    def start(self) -> None:
        if not self.background or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="newsrag-sync", daemon=True)
        self._thread.start()
        log.info(
            "background sync on (NEWSRAG_SYNC=%s): due sources of %s are synced, looked at "
            "every %g s at most", self.settings.sync, self.settings.index_dir,
            self.settings.sync_check_seconds,
        )  # fmt: skip

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.warning("the background sync did not stop in %g s; it is left behind "
                            "(the next sync finishes what it was writing)", timeout)  # fmt: skip
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pause = self._round()
            except Exception:  # a bug here must not end the thread either
                log.exception("the background sync failed; trying again later")
                pause = self.settings.sync_check_seconds
            self._stop.wait(pause)

    def _round(self) -> float:
        """Syncs what is due; returns how long to sleep before looking again."""
        check = self.settings.sync_check_seconds
        try:
            due_in = self._due_in()
        except (NewsragError, sqlite3.Error) as err:  # the sources file cannot be read
            log.warning("background sync: %s", _reason(err))
            with self._lock:
                self._look_error = _reason(err)
            return check
        if due_in is None:
            if self.settings.sync == "on" and not self._warned_empty:
                log.warning(
                    "NEWSRAG_SYNC=on but %s follows no sources yet: add one with `newsrag "
                    "sources add URL|PATH --index %s` (noticed within %g s)",
                    self.settings.index_dir, self.settings.index_dir, check,
                )  # fmt: skip
                self._warned_empty = True
            return check
        if due_in > 0:
            return min(due_in, check)
        try:
            self.run(trigger="schedule")
        except IndexBusyError as err:  # an ingest here, or another process writing
            log.info("background sync waits for another write: %s", err)
            with self._lock:
                self._waiting = str(err)
            return min(BUSY_RETRY_S, check)
        except _Stopped:
            return 0.0
        except NewsragError as err:
            log.warning("background sync failed: %s; tried again in %g s", err, check)
            return check
        except Exception:
            log.exception("background sync failed; tried again in %g s", check)
            return check
        return MIN_PAUSE_S

    def _due_in(self) -> float | None:
        index_dir = self.settings.index_dir
        due_in = None
        if SourceRegistry.exists(index_dir):
            with SourceRegistry(index_dir) as registry:
                due_in = registry.next_due_in()
        with self._lock:
            self._look_error = None
        return due_in

    # --- one sync -------------------------------------------------------------------------
    def run(
        self,
        *,
        names: Sequence[str] = (),
        force: bool = False,
        trigger: str = "admin",
        progress: Callable[[str], None] | None = None,
        session: WriteSession | None = None,
    ) -> SyncReport:
        """Syncs the due sources (or ``names`` now, or all with ``force``) through this
        server's writer. Raises WriteBusy/IndexBusyError when another write runs."""
        if session is None:
            session = self.services.begin_write("sync")
        started = time.time()
        with self._lock:
            self._running, self._waiting = (trigger, started), None

        def step(message: str) -> None:
            if self._stop.is_set():
                raise _Stopped
            if progress is not None:
                progress(message)

        try:
            report = session.run(
                lambda ingestor: sync_sources(
                    ingestor, self.settings, names=names, force=force, progress=step
                )
            )
        except _Stopped:
            log.info("sync stopped: the server is closing (the next sync finishes it)")
            with self._lock:
                self._running = None
            raise
        except BaseException as err:
            failed = SyncRun(trigger, started, time.time(), tuple(names), error=_reason(err))
            with self._lock:
                self._running, self._last = None, failed
            if self.services.metrics is not None:
                self.services.metrics.sync_failed(trigger)
            raise
        if self.services.metrics is not None:
            self.services.metrics.synced(report)
        run = SyncRun(
            trigger, started, time.time(), tuple(s.name for s in report.sources),
            added=report.added, updated=report.updated, problems=len(report.problems),
        )  # fmt: skip
        with self._lock:
            self._running = None
            if report.sources or (
                self._last is not None and self._last.error
            ):  # a sync that found nothing due keeps the last one shown
                self._last = run
        if report.sources:
            log.info(
                "%s sync: %s; %d added, %d updated, %d problems in %.1f s", trigger,
                ", ".join(run.sources), run.added, run.updated, run.problems, report.seconds,
            )  # fmt: skip
        return report

    # --- status ---------------------------------------------------------------------------
    def status(self) -> SyncStatus:
        unreadable = None
        try:
            sources = self.sources()
        except (NewsragError, sqlite3.Error) as err:  # a damaged sources file: the rest stands
            sources, unreadable = (), _reason(err)
        next_at = min((s.next_sync_at for s in sources), default=None)
        with self._lock:
            running = self._running
            last_error = self._last.error if self._last else None
            return SyncStatus(
                mode=self.settings.sync,
                background=self._thread is not None,
                running=running[0] if running else None,
                running_since=running[1] if running else None,
                next_sync_at=next_at,
                waiting=self._waiting,
                error=unreadable or self._look_error or last_error,
                last=self._last,
                sources=sources,
            )

    def sources(self) -> tuple[SourceState, ...]:
        """The sources with their last sync and articles; read again only when the sources
        or the archive changed (the counts read every article id)."""
        index_dir = self.settings.index_dir
        if not SourceRegistry.exists(index_dir):
            return ()
        generation = self.services.engine().retriever.index.manifest.generation()
        with SourceRegistry(index_dir) as registry:
            key = (generation, *registry.fingerprint())
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            listed = registry.all()
            counts = article_counts(index_dir, registry, listed)
        states = tuple(_state(s, counts[s.name]) for s in listed)
        self._cache = (key, states)
        return states


def _state(s: Source, articles: int) -> SourceState:
    last = s.last
    return SourceState(
        name=s.name, kind=s.kind, location=s.location, detected=s.detected,
        every_seconds=s.every_seconds, last_sync_at=s.last_sync_at,
        next_sync_at=s.due_at() if s.last_sync_at else s.added_at, articles=articles,
        reached=last.reached if last else None, added=last.added if last else 0,
        updated=last.updated if last else 0, problems=last.problems if last else (),
    )  # fmt: skip


def _reason(err: BaseException) -> str:
    if isinstance(err, NewsragError):
        return str(err)
    if isinstance(err, sqlite3.Error):
        return (
            f"the sources file cannot be read ({type(err).__name__}: {err}); if it is damaged, "
            "move INDEX/sources.sqlite away and add the sources again (`newsrag sources add`)"
        )
    return f"{type(err).__name__}: {err}"
