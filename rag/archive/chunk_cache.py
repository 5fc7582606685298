"""Chunks read from the vector store, remembered until the archive changes.

Reading a question's 60-80 candidate chunks (text, metadata, vector) from Chroma was the
largest part of a search once the question was embedded by onnxruntime (bench/query.py: 15-19
ms of a 45 ms search), and the same chunks come back question after question. Most of what is
left is Chroma reading metadata: 5.8 ms for 60 chunks, 3.2 ms for their vectors alone.

The cache holds what the store returned, keyed by chunk id. Every write that changes the
archive moves the manifest's generation (Manifest.mark_done, deletions); the first read after
it drops the chunks of the articles written or removed since (Manifest.touched), or everything
when the change log does not reach back, so a rewritten article is never scored from its old
text and a sync of a few articles leaves the rest in memory. A chunk being written is not yet
"done" in the manifest, and is left out of results as before. ``fill`` reads the newest
articles' chunks in at start, so the first questions do not wait for them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .store import Neighbour, VectorStore

SIZE = 8192  # chunks: about 30 MB of text, metadata and 384-d vectors
FILL_BATCH = 1000  # chunks per read of ``fill``
Touched = Callable[[int, int], "set[str] | None"]  # Manifest.touched


class ChunkCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[str, dict[str, Any], np.ndarray]] = OrderedDict()
        self._generation: int | None = None
        self._lock = threading.Lock()

    def _advance(self, generation: int, touched: Touched | None) -> None:
        """Move to ``generation`` (under the lock), dropping what changed since."""
        if generation == self._generation:
            return
        changed = None
        if touched is not None and self._generation is not None:
            changed = touched(self._generation, generation)
        if changed is None:
            self._items.clear()
        else:
            for key in [
                k for k, item in self._items.items() if item[1].get("article_id") in changed
            ]:
                del self._items[key]
        self._generation = generation

    def read(
        self,
        store: VectorStore,
        ids: Sequence[str],
        vector: np.ndarray,
        generation: int,
        touched: Touched | None = None,
    ) -> list[Neighbour]:
        """The chunks ``ids`` (those the store has), in that order, scored by cosine with
        ``vector`` as ``store.get_chunks`` scores them. ``touched(since, until)``: the
        articles changed between two generations (Manifest.touched); without it a new
        generation empties the cache."""
        with self._lock:
            self._advance(generation, touched)
            known = {}
            for i in ids:
                item = self._items.get(i)
                if item is not None:
                    self._items.move_to_end(i)
                    known[i] = item
        missing = [i for i in ids if i not in known]
        fresh = store.get_chunks(missing, vector) if missing else []
        self._keep(fresh, generation)
        found = {h.id: h for h in fresh}
        query = np.asarray(vector, dtype=np.float32)
        for i, (document, metadata, v) in known.items():
            found[i] = Neighbour(i, float(v @ query), document, dict(metadata), v)
        return [found[i] for i in ids if i in found]

    def _keep(self, hits: Sequence[Neighbour], generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                for h in hits:
                    if h.vector is not None:
                        self._items[h.id] = (h.document, dict(h.metadata), h.vector)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)

    def fill(
        self, store: VectorStore, ids: Sequence[str], generation: int,
        touched: Touched | None = None,
    ) -> int:  # fmt: skip
        """Read the chunks ``ids`` in (at most ``size``; those already here are skipped), as
        of ``generation``; how many were read."""
        with self._lock:
            self._advance(generation, touched)
            missing = [i for i in ids[: self.size] if i not in self._items]
        zero = np.zeros(store.dim, dtype=np.float32)
        hits = [h for i in range(0, len(missing), FILL_BATCH)
                for h in store.get_chunks(missing[i : i + FILL_BATCH], zero)]  # fmt: skip
        self._keep(hits[::-1], generation)  # the newest last: the last to be dropped
        return len(hits)
