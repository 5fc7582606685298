"""Vectors remembered by text: a question embedded by the retriever is not embedded again by
the answerer, and the sentences of often-asked articles stay embedded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np


class VectorCache:
    """Vectors by text; beyond ``size`` the least recently used go. Safe across threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(
        self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        """One row per text: remembered ones from here, the others from ``compute``."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for t in texts:
                if t in self._items:
                    self._items.move_to_end(t)
                    found[t] = self._items[t]
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = compute(missing)
            fresh.setflags(write=False)
            found.update(zip(missing, fresh, strict=True))
            with self._lock:
                self._items.update(zip(missing, fresh, strict=True))
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def question(
        self, texts: Sequence[str], compute: Callable[[Sequence[str]], np.ndarray]
    ) -> np.ndarray:
        """``compute(texts)``, remembered when it is one question: it is embedded by the
        retriever and again by the answerer. Batches are computed as they come."""
        if len(texts) != 1:
            return compute(texts)
        return self.vectors(texts, compute)
