"""Recently verified API keys, so a request does not look its key up in the database."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from app.auth.service import Principal

MAX_KEYS = 10_000


class PrincipalCache:
    """Principal of each recently verified key, trusted for `ttl` seconds.

    Revoking a key or changing a person through the API clears the cache of every
    process (this one at once, the others through the change feed); a change written to
    the database directly takes effect within `ttl` seconds. Only successful look-ups are
    kept, so a refused key is checked again every time.
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(raw: str) -> str:
        # the secret itself is not kept in memory longer than the request
        return hashlib.sha256(raw.strip().encode()).hexdigest()

    def get(self, raw: str) -> Principal | None:
        """The principal of a key verified less than `ttl` seconds ago."""
        if self.ttl <= 0:
            return None
        key = self._key(raw)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, raw: str, principal: Principal) -> None:
        """Remember a key just verified against the database."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_KEYS:
                self._entries.clear()
            self._entries[self._key(raw)] = (self.clock() + self.ttl, principal)

    def clear(self) -> None:
        """Forget every key (after any change to keys or people)."""
        with self._lock:
            self._entries.clear()
