"""What the web server hands to every page and route: settings, the engine, feedback, limits.

The engine (embedding model, index, BM25) takes seconds to load, so ``Services.start()`` loads
it in a background thread: ``/healthz`` answers at once, ``/readyz`` and every question wait
for ``engine()``, which raises ``NotReady`` (still loading) or the ``NewsragError`` that stopped
the load (no index yet, wrong model…) with its message for the person.

Once loaded, a ``Refresher`` keeps the served index current in the background
(rag/archive/refresh.py), and ``write`` gives the admin routes the one way to write the index while
it is served: one write at a time, under the index's writer lock (held by ``newsrag serve`` itself
on an embedded index), on a manifest connection of its own; when it returns, questions see what it
wrote. The sources' syncs (``syncs``: app/sync_scheduler.py, in the background and for POST
/api/admin/sync) are writes like any other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from rag.archive.index import ArchiveIndex
from rag.archive.manifest import Manifest
from rag.archive.refresh import Refresher
from rag.archive.writer_lock import WriterLock
from rag.chat import Engine
from rag.config import Settings
from rag.errors import IndexBusyError, NewsragError

from .compose import engine_parts, ingestor_for
from .feedback import FeedbackStore
from .ratelimit import RateLimiter
from .sources import has_sources
from .status import ArchiveStatus, Counters
from .sync_scheduler import SyncScheduler

if TYPE_CHECKING:
    from ingest.sync import Ingestor

T = TypeVar("T")


log = logging.getLogger(__name__)
LOAD_WAIT_S = 120.0  # the longest a stopping server waits for the model it is loading


class NotReady(NewsragError):
    """The index and models are still loading."""

    exit_code = 7


class WriteBusy(IndexBusyError):
    """Another write through this server is running."""


@dataclass
class Services:
    settings: Settings
    load: Callable[[Settings], Engine] | None = None  # default: app.compose.engine_parts
    feedback: FeedbackStore | None = None  # attached by ui.web.server.create_app
    limiter: RateLimiter | None = None
    metrics: Counters | None = None  # attached by ui.web.server.create_app (ui/web/metrics.py)
    writer_lock: WriterLock | None = None  # held for the process's life by `serve` (embedded)
    url: str | None = None  # where this server is reached, for the lock's holder details
    refresher: Refresher | None = None
    _engine: Engine | None = None
    _error: NewsragError | None = None
    _loaded: threading.Event = field(default_factory=threading.Event)
    _loading: threading.Thread | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _write_mutex: threading.Lock = field(default_factory=threading.Lock)
    _status_lock: threading.Lock = field(default_factory=threading.Lock)
    _totals: tuple[int, tuple[int, int]] = (-1, (0, 0))  # (generation, (articles, chunks))
    _writer: tuple[str, float] | None = None  # what writes through this server, since when
    _syncs: SyncScheduler | None = None

    @classmethod
    def with_engine(cls, settings: Settings, engine: Engine) -> Services:
        """Services around an engine built elsewhere (tests, benchmarks)."""
        services = cls(settings)
        services._engine = engine
        services._watch(engine)
        services._loaded.set()
        return services

    def _watch(self, engine: Engine) -> None:
        """Each answer's outcome reaches /metrics (removed again by ``close``)."""
        observers = getattr(engine, "observers", None)  # test doubles may have none
        if observers is None:
            return
        observers.append(self._answered)
        self._closers.append(lambda: observers.remove(self._answered))

    def _answered(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.answered(outcome)

    @property
    def syncs(self) -> SyncScheduler:
        """The sources' syncs through this server (background and admin)."""
        if self._syncs is None:
            self._syncs = SyncScheduler(self)
        return self._syncs

    def start(self, *, background: bool = True) -> None:
        if self._loaded.is_set():
            self._start_refresher()
            self._start_syncs()
            return
        if background:
            self._loading = threading.Thread(target=self._load, name="newsrag-load", daemon=True)
            self._loading.start()
        else:
            self._load()

    def _load(self) -> None:
        try:
            if self.load is not None:
                self._engine = self.load(self.settings)
            else:
                parts = engine_parts(self.settings, create=self.fills_itself())
                self._closers.append(parts.close)
                self._engine = parts.engine
            self._watch(self._engine)
            self._engine.warm_up()
            self._start_refresher()
            self._start_syncs()
        except NewsragError as err:
            self._error = err
        except Exception as err:  # a bug: keep the traceback in the log, say so in the page
            log.exception("loading the engine failed")
            self._error = NewsragError(
                f"The archive could not be loaded ({type(err).__name__}: {err}); "
                "see the server log."
            )
        finally:
            self._loaded.set()

    def fills_itself(self) -> bool:
        """No index yet, but sources that this server's background sync will read into it."""
        settings = self.settings
        return (
            settings.sync != "off"
            and not (settings.index_dir / "manifest.sqlite").exists()
            and has_sources(settings)
        )

    def wait(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    @property
    def ready(self) -> bool:
        return self._loaded.is_set() and self._engine is not None

    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        if self._error is not None:
            raise self._error
        raise NotReady("The archive is still loading; try again in a few seconds.")

    def _start_refresher(self) -> None:
        if self._engine is None or self.refresher is not None:
            return
        self.refresher = Refresher(
            self._engine.retriever.index,
            interval=self.settings.refresh_seconds,
            save=lambda: self.writer_lock is not None and self.writer_lock.held,
        )
        self.refresher.start()

    def _start_syncs(self) -> None:
        if self._engine is not None:
            self.syncs.start()

    @property
    def writing(self) -> bool:
        """A write through this server is running."""
        return self._write_mutex.locked()

    @property
    def current_write(self) -> str | None:
        """What writes through this server now ("ingest", "sync" or "backup"), if anything does."""
        writer = self._writer
        return writer[0] if writer else None

    def busy_message(self) -> str:
        """What a write that finds another one running through this server is told."""
        kind, since = self._writer or ("ingest", time.time())
        what = {"sync": "A sync of the sources", "backup": "A backup"}.get(kind, "Another ingest")
        started = time.strftime("%H:%M:%S", time.localtime(since))
        return (
            f"{what} through this server is running (since {started}): try again when it has "
            "finished (one write at a time keeps the counts exact)."
        )

    def begin_write(self, kind: str = "ingest") -> WriteSession:
        """Exclusive write access to the served index, until the session is closed.

        ``kind`` ("ingest" or "sync") names the write in the messages other writers get.
        Raises WriteBusy when another write through this server is running, IndexBusyError
        when another process writes the index (possible with a Chroma server, where `serve`
        does not hold the lock), NotReady while the engine loads.
        """
        return WriteSession(self, kind)

    @contextmanager
    def no_writes(self, kind: str = "backup") -> Iterator[None]:
        """No write through this server, nor by another process, until the block ends (a
        backup's copy); questions go on. Raises WriteBusy or IndexBusyError as begin_write."""
        if not self._write_mutex.acquire(blocking=False):
            raise WriteBusy(self.busy_message())
        own: WriterLock | None = None
        try:
            self._writer = (kind, time.time())
            if self.writer_lock is None or not self.writer_lock.held:
                own = WriterLock(self.settings.index_dir).acquire(kind, url=self.url)
            yield
        finally:
            if own is not None:
                own.release()
            self._writer = None
            self._write_mutex.release()

    def write(self, run: Callable[[Ingestor], T]) -> T:
        """``run`` with an Ingestor over the served index; questions see its work after it."""
        return self.begin_write().run(run)

    def status(self) -> ArchiveStatus:
        """What the served archive holds and how current the answers are (GET /api/status)."""
        engine = self.engine()
        index = engine.retriever.index
        manifest = index.manifest
        generation = manifest.generation()
        with self._status_lock:
            if self._totals[0] != generation:
                self._totals = (generation, manifest.totals())
            articles, chunks = self._totals[1]
        refreshed = self.refresher.status() if self.refresher else None
        serving = index.lexical().generation
        return ArchiveStatus(
            articles=articles,
            chunks=chunks,
            last_updated=manifest.last_write(),
            generation=generation,
            serving_generation=serving,
            refreshed_at=refreshed.refreshed_at if refreshed else None,
            refresh_seconds=refreshed.refresh_seconds if refreshed else None,
            refresh_error=refreshed.error if refreshed else None,
            store="chroma server" if self.settings.chroma_url else "embedded",
            writes_here=self.writer_lock is not None and self.writer_lock.held,
            answer_judge=engine.judge_state[0],
            answer_judge_problem=engine.judge_state[1],
        )

    def refresh_after_write(self) -> None:
        """Questions see the write when it returns (even one cut short: what it stored)."""
        self._start_refresher()
        assert self.refresher is not None
        try:
            self.refresher.refresh_now(save=True)  # still the writer: it saves
        except Exception:
            log.exception("refreshing after a write failed; the next check tries again")

    def close(self) -> None:
        loading = self._loading
        if loading is not None:
            # a server stopped while it loads the model waits for the load: a process that
            # exits with a thread inside onnxruntime aborts ("terminate called without an
            # active exception") instead of ending cleanly
            loading.join(LOAD_WAIT_S)
        if self._syncs is not None:
            self._syncs.stop()  # a background sync stops at its next step, before the index
        if self.refresher is not None:
            self.refresher.stop()
        for close in self._closers:
            close()
        self._closers.clear()


class WriteSession:
    """One write through the server (see Services.begin_write); ``run`` closes it."""

    def __init__(self, services: Services, kind: str = "ingest") -> None:
        engine = services.engine()
        if not services._write_mutex.acquire(blocking=False):
            raise WriteBusy(services.busy_message())
        services._writer = (kind, time.time())
        self.kind = kind
        self._services = services
        self._own_lock: WriterLock | None = None
        self._open = False
        try:
            held = services.writer_lock
            if held is None or not held.held:
                self._own_lock = WriterLock(services.settings.index_dir).acquire(
                    kind, url=services.url
                )
            served = engine.retriever.index
            # a connection of its own: its transactions never mix with the questions' reads
            self._index = ArchiveIndex(served.index_dir, Manifest(served.index_dir), served.store)
        except BaseException:
            self._release()
            raise
        self.ingestor = ingestor_for(
            services.settings, self._index, engine.embedder, update_lexical=False
        )
        self._open = True

    def run(self, work: Callable[[Ingestor], T]) -> T:
        try:
            return work(self.ingestor)
        finally:
            self.close()

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._index.close()
            self._services.refresh_after_write()
        finally:
            self._release()

    def _release(self) -> None:
        if self._own_lock is not None:
            self._own_lock.release()
            self._own_lock = None
        self._services._writer = None
        self._services._write_mutex.release()
