"""Rate limiting: a token bucket per client, shared by the API and the chat page."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute, bursts up to the same.

    Thread-safe (the Gradio page calls it from worker threads). ``per_minute=0`` disables it.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must not be negative")
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, updated)
        self._lock = threading.Lock()

    def check(self, client: str) -> int | None:
        """Takes one token for ``client``: None if allowed, else seconds to wait (>= 1)."""
        if self.per_minute == 0:
            return None
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - updated) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                if len(self._buckets) > 10_000:
                    self._forget_full(now, rate)
                return None
            self._buckets[client] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def _forget_full(self, now: float, rate: float) -> None:
        """Drops buckets that have refilled: they hold nothing a new bucket would not."""
        full = [
            c
            for c, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * rate >= self.per_minute
        ]
        for c in full:
            del self._buckets[c]
