"""What the web server hands to every page and route: settings, the engine, feedback, limits.

The engine (embedding model, index, BM25) takes seconds to load, so ``Services.start()`` loads
it in a background thread: ``/healthz`` answers at once, ``/readyz`` and every question wait
for ``engine()``, which raises ``NotReady`` (still loading) or the ``NewsragError`` that stopped
the load (no index yet, wrong model…) with its message for the person.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.chat import Engine
from rag.config import Settings
from rag.errors import NewsragError

if TYPE_CHECKING:
    from .feedback import FeedbackStore
    from .security import RateLimiter


log = logging.getLogger(__name__)


class NotReady(NewsragError):
    """The index and models are still loading."""

    exit_code = 7


@dataclass
class Services:
    settings: Settings
    load: Callable[[Settings], Engine] | None = None  # default: ui.compose.engine_parts
    feedback: FeedbackStore | None = None  # attached by ui.server.create_app
    limiter: RateLimiter | None = None
    _engine: Engine | None = None
    _error: NewsragError | None = None
    _loaded: threading.Event = field(default_factory=threading.Event)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def with_engine(cls, settings: Settings, engine: Engine) -> Services:
        """Services around an engine built elsewhere (tests, benchmarks)."""
        services = cls(settings)
        services._engine = engine
        services._loaded.set()
        return services

    def start(self, *, background: bool = True) -> None:
        if self._loaded.is_set():
            return
        if background:
            threading.Thread(target=self._load, name="newsrag-load", daemon=True).start()
        else:
            self._load()

    def _load(self) -> None:
        try:
            if self.load is not None:
                self._engine = self.load(self.settings)
            else:
                from .compose import engine_parts

                parts = engine_parts(self.settings)
                self._closers.append(parts.close)
                self._engine = parts.engine
            self._engine.warm_up()
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

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()
