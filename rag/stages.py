"""Where a question's time goes: named stages, timed only when someone is collecting.

    with collect() as ms:
        engine.ask("Who attacked the base at Acharan?")
    ms  # {"embed": 15.2, "dense": 6.1, "lexical": 4.0, "names": 2.2, ...} (milliseconds)

The engine and the retriever wrap their steps in ``stage(name)``; outside ``collect`` that
costs one context-variable lookup. Collection is per thread (and per asyncio task), so
concurrent questions never mix. bench/query.py prints the p50 of each stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_collecting: ContextVar[dict[str, float] | None] = ContextVar("newsrag_stages", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the time spent inside to ``name``, when a ``collect`` is active."""
    into = _collecting.get()
    if into is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        into[name] = into.get(name, 0.0) + (time.perf_counter() - started) * 1000


@contextmanager
def collect() -> Iterator[dict[str, float]]:
    """The milliseconds of each stage run inside, by name."""
    into: dict[str, float] = {}
    token = _collecting.set(into)
    try:
        yield into
    finally:
        _collecting.reset(token)


def record(name: str, ms: float) -> None:
    """Add ``ms`` measured elsewhere (a turn's own laps) to ``name``, when collecting."""
    into = _collecting.get()
    if into is not None:
        into[name] = into.get(name, 0.0) + ms
