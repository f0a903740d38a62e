"""A bounded memory of recent query vectors, so the same text is not encoded twice."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class VectorCache:
    """Vectors of the last `size` distinct texts, least recently used dropped first.

    A dispatcher's text is often searched more than once in a row: the console searches
    as they type and again when they press Enter, a filter is toggled on the same words,
    an integration retries. The vectors are read-only copies, safe to share between
    threads; an encoder gives the same vector for the same text, so nothing goes stale.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, text: str) -> np.ndarray | None:
        """The vector kept for this exact text, if any."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
            return vector

    def put(self, text: str, vector: np.ndarray) -> np.ndarray:
        """Keep a read-only copy of the vector (no-op at size 0); returns what was kept."""
        if self.size <= 0:
            return vector
        kept = np.array(vector, dtype=np.float32, copy=True)
        kept.flags.writeable = False
        with self._lock:
            self._vectors[text] = kept
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return kept
