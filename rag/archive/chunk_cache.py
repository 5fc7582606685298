"""Chunks read from the vector store, remembered until the archive changes.

Reading a question's 60-80 candidate chunks (text, metadata, vector) from Chroma was the
largest part of a search once the question was embedded by onnxruntime (bench/query.py: 15-19
ms of a 45 ms search), and the same chunks come back question after question. The cache holds
what the store returned, keyed by chunk id, for one manifest generation: every write that
changes the archive moves the generation (Manifest.mark_done, deletions), and the first read
after it starts afresh, so a rewritten article is never scored from its old text. A chunk
being written is not yet "done" in the manifest, and is left out of results as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .store import Neighbour, VectorStore

SIZE = 8192  # chunks: about 30 MB of text, metadata and 384-d vectors


class ChunkCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[str, dict[str, Any], np.ndarray]] = OrderedDict()
        self._generation: int | None = None
        self._lock = threading.Lock()

    def read(
        self, store: VectorStore, ids: Sequence[str], vector: np.ndarray, generation: int
    ) -> list[Neighbour]:
        """The chunks ``ids`` (those the store has), in that order, scored by cosine with
        ``vector`` as ``store.get_chunks`` scores them."""
        with self._lock:
            if generation != self._generation:
                self._items.clear()
                self._generation = generation
            known = {}
            for i in ids:
                item = self._items.get(i)
                if item is not None:
                    self._items.move_to_end(i)
                    known[i] = item
        missing = [i for i in ids if i not in known]
        fresh = store.get_chunks(missing, vector) if missing else []
        with self._lock:
            if generation == self._generation:
                for h in fresh:
                    if h.vector is not None:
                        self._items[h.id] = (h.document, dict(h.metadata), h.vector)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        found = {h.id: h for h in fresh}
        query = np.asarray(vector, dtype=np.float32)
        for i, (document, metadata, v) in known.items():
            found[i] = Neighbour(i, float(v @ query), document, dict(metadata), v)
        return [found[i] for i in ids if i in found]
