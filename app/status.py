"""What the runtime reports about itself: the served archive and the sources' syncs.

Plain frozen records, built by app.services (``Services.status``) and app.sync_scheduler
(``SyncScheduler.status``) and shaped for the web by ui/web/present.py; ``Counters`` is what
those two tell the server's /metrics (ui/web/metrics.py), without knowing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rag.types import Problem

if TYPE_CHECKING:
    from ingest.source_sync import SyncReport


class Counters(Protocol):
    """Where answers and syncs are counted (ui/web/metrics.py's Metrics)."""

    def answered(self, outcome: str) -> None: ...

    def synced(self, report: SyncReport) -> None: ...

    def sync_failed(self, trigger: str) -> None: ...


@dataclass(frozen=True)
class ArchiveStatus:
    articles: int
    chunks: int
    last_updated: float | None  # when the set of articles last changed (epoch seconds)
    generation: int  # the manifest's
    serving_generation: int  # the one questions are answered from
    refreshed_at: float | None
    refresh_seconds: float | None
    refresh_error: str | None
    store: str  # "embedded" or "chroma server"
    writes_here: bool  # this server holds the index's writer lock
    answer_judge: str = "off"  # "on", "off" or "unavailable" (rag/answer/judge)
    answer_judge_problem: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.serving_generation == self.generation


@dataclass(frozen=True)
class SyncRun:
    """One sync through this server, finished or failed."""

    trigger: str  # "schedule" (the background thread) or "admin" (POST /api/admin/sync)
    started_at: float
    finished_at: float
    sources: tuple[str, ...]  # the sources it synced
    added: int = 0
    updated: int = 0
    problems: int = 0
    error: str | None = None  # why it failed as a whole (then nothing else is known)


@dataclass(frozen=True)
class SourceState:
    """A source as /api/status shows it."""

    name: str
    kind: str  # web | folder
    location: str  # its URL, or the folder
    detected: str | None
    every_seconds: int
    last_sync_at: float | None
    next_sync_at: float  # when it is due (its first sync: at once)
    articles: int  # stored articles it gave
    reached: bool | None  # the last sync read the source itself (None: never synced)
    added: int  # by its last sync
    updated: int
    problems: tuple[Problem, ...]  # of its last sync, by URL


@dataclass(frozen=True)
class SyncStatus:
    mode: str  # NEWSRAG_SYNC: on, off or auto
    background: bool  # this process syncs the due sources by itself
    running: str | None  # what sync runs now ("schedule" or "admin"), if one does
    running_since: float | None
    next_sync_at: float | None  # when the next source is due; None without sources
    waiting: str | None  # why a due sync could not start yet (another write)
    error: str | None  # why the sources cannot be read, or why the last sync failed
    last: SyncRun | None  # the last sync that synced something, or failed
    sources: tuple[SourceState, ...]
