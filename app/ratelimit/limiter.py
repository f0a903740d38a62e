"""Moving-window rate limits through the `limits` library, counted in Redis when
REDIS_URL is set (one budget for every process) and in this process's memory otherwise.

Redis being unreachable never fails a request: the limits are skipped (fail open), a
warning is logged once, and Redis is tried again after `RETRY_DOWN_SECONDS`."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from limits import RateLimitItem, WindowStats, parse_many
from limits.aio.storage import RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.config import Settings

log = logging.getLogger(__name__)

# a Redis that does not answer costs each request at most this, then is left alone
REDIS_TIMEOUT_SECONDS = 0.5
RETRY_DOWN_SECONDS = 5.0


def parse(notation: str) -> tuple[RateLimitItem, ...]:
    """The limits of a setting such as "20/second;600/minute" (empty or 0: none)."""
    notation = notation.strip()
    return () if notation in ("", "0") else tuple(parse_many(notation))


def redis_storage(url: str, prefix: str) -> RedisStorage:
    """An asyncio Redis storage (redis-py) that gives up quickly instead of retrying."""
    # imported only when Redis is configured: redis-py's imports would slow every start
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, Any] = {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        # redis-py retries with back-off by default: seconds per request while Redis is down
        "retry": Retry(NoBackoff(), 0),
    }
    return RedisStorage(
        f"async+{url}",
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=prefix,
        **options,
    )


class _Strategy(Protocol):
    async def hit(self, item: RateLimitItem, *ids: str) -> bool: ...
    async def test(self, item: RateLimitItem, *ids: str) -> bool: ...
    async def get_window_stats(self, item: RateLimitItem, *ids: str) -> WindowStats: ...


class _InMemory:
    """A moving window per key in this process's memory: each key's request times in
    order, the expired ones dropped as it is hit. The `limits` library's memory storage
    started a timer thread every 10 ms under load and sorted every key's times in it,
    more CPU than a search's whole event-loop share (docs/benchmarks.md)."""

    SWEEP_EVERY = 10_000  # hits between sweeps of keys nobody used for a whole window

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._hits = 0

    @staticmethod
    def _name(item: RateLimitItem, ids: tuple[str, ...]) -> str:
        return item.key_for(*ids)

    def _window(self, item: RateLimitItem, ids: tuple[str, ...], now: float) -> deque[float]:
        times = self._times.setdefault(self._name(item, ids), deque())
        start = now - item.get_expiry()
        while times and times[0] <= start:
            times.popleft()
        return times

    async def hit(self, item: RateLimitItem, *ids: str) -> bool:
        now = time.time()
        with self._lock:
            times = self._window(item, ids, now)
            if len(times) >= item.amount:
                return False
            times.append(now)
            self._hits += 1
            if self._hits % self.SWEEP_EVERY == 0:
                self._sweep(now)
            return True

    async def test(self, item: RateLimitItem, *ids: str) -> bool:
        with self._lock:
            return len(self._window(item, ids, time.time())) < item.amount

    async def get_window_stats(self, item: RateLimitItem, *ids: str) -> WindowStats:
        now = time.time()
        with self._lock:
            times = self._window(item, ids, now)
            reset = times[0] + item.get_expiry() if times else now
            return WindowStats(reset, max(0, item.amount - len(times)))

    def _sweep(self, now: float) -> None:
        # a key's times are in order: its newest tells whether any is still in a window
        longest = 24 * 3600.0
        for name in [n for n, t in self._times.items() if not t or t[-1] <= now - longest]:
            del self._times[name]


class RateLimiter:
    """Per-key request budgets and per-address budgets of failed authentications."""

    def __init__(
        self,
        *,
        per_key: str,
        auth_failures: str,
        redis_url: str | None = None,
        prefix: str = "helpdesk",
    ) -> None:
        self.per_key = parse(per_key)
        self.auth_failures = parse(auth_failures)
        self.redis_url = redis_url
        self.storage: Storage | None = redis_storage(redis_url, prefix) if redis_url else None
        self.strategy: _Strategy = (
            MovingWindowRateLimiter(self.storage) if self.storage is not None else _InMemory()
        )
        self._down_until = 0.0
        self._down = False

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """The limiter the settings describe."""
        return cls(
            per_key=settings.rate_limit,
            auth_failures=settings.auth_failure_limit,
            redis_url=settings.redis_url,
            prefix=settings.rate_limit_prefix,
        )

    async def charge_key(self, key_id: int) -> int | None:
        """Count a request of an API key: None when within its budget, else the seconds
        until the budget allows one more."""
        return await self._hit(self.per_key, "key", str(key_id))

    async def address_wait(self, address: str) -> int | None:
        """Seconds until `address` may try a key again (None: it may now)."""
        return await self._guarded(lambda: self._wait(self.auth_failures, "auth-failure", address))

    async def note_failure(self, address: str) -> None:
        """Count a failed authentication from `address`."""
        await self._hit(self.auth_failures, "auth-failure", address)

    async def aclose(self) -> None:
        """Close the Redis connections (nothing to do in memory)."""
        if isinstance(self.storage, RedisStorage) and isinstance(
            self.storage.bridge, RedispyBridge
        ):
            await self.storage.bridge.storage.aclose()

    async def _hit(self, items: tuple[RateLimitItem, ...], *ids: str) -> int | None:
        return await self._guarded(lambda: self._consume(items, *ids))

    async def _consume(self, items: tuple[RateLimitItem, ...], *ids: str) -> int | None:
        for item in items:
            if not await self.strategy.hit(item, *ids):
                return await self._retry_after(item, *ids)
        return None

    async def _wait(self, items: tuple[RateLimitItem, ...], *ids: str) -> int | None:
        waits = [await self._retry_after(i, *ids) for i in items if not await self._free(i, *ids)]
        return max(waits) if waits else None

    async def _free(self, item: RateLimitItem, *ids: str) -> bool:
        return await self.strategy.test(item, *ids)

    async def _retry_after(self, item: RateLimitItem, *ids: str) -> int:
        # the moving window frees a slot when its oldest request leaves it
        stats = await self.strategy.get_window_stats(item, *ids)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def _guarded(self, call: Callable[[], Awaitable[int | None]]) -> int | None:
        """`call`'s answer, or None (no limit) while the storage does not answer."""
        if self._down and time.monotonic() < self._down_until:
            return None
        try:
            result = await call()
        except (StorageError, OSError, TimeoutError) as exc:
            if not self._down:
                log.warning(
                    "rate limits are not applied: Redis at %s does not answer (%s: %s); "
                    "requests are let through until it does",
                    _redacted(self.redis_url),
                    exc.__class__.__name__,
                    exc,
                )
            self._down = True
            self._down_until = time.monotonic() + RETRY_DOWN_SECONDS
            return None
        if self._down:
            log.warning("rate limits apply again: Redis answers")
            self._down = False
        return result


def _redacted(url: str | None) -> str:
    """A Redis URL without its password, for the log."""
    if not url or "@" not in url:
        return str(url)
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
