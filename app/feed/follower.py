"""Each process follows the change feed to keep what it holds in memory in step.

The follower reads the feed from where it started, hands each topic's changes to its
handler (the search index refreshes those articles, the key cache forgets), and waits:
on PostgreSQL for a NOTIFY from any process's commit, with a poll as the fallback; on
SQLite for the poll. Handlers re-read the database, so a change applied twice (this
process already applied its own write after commit) costs a comparison, not a re-embed;
the index re-embeds on its own low-priority thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.feed import service
from app.feed.models import Topic

log = logging.getLogger(__name__)

Handler = Callable[[Session, list[str]], object]
TRIM_EVERY_SECONDS = 3600.0


class FeedFollower:
    """A thread applying the feed's changes to this process's caches."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        handlers: Mapping[Topic, Handler],
        *,
        poll_seconds: float = 1.0,
        keep_hours: float = 48.0,
        resync: Callable[[], object] | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        self.keep_hours = keep_hours
        self.resync = resync  # everything compared again, after an absence longer than the feed
        self.position = 0
        self.applied = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None
        self._last_read = time.monotonic()
        self._last_trim = 0.0
        self._failing = False
        # on PostgreSQL a commit wakes the follower (NOTIFY); elsewhere it polls
        self._notified = engine.dialect.name == "postgresql"

    def mark(self) -> int:
        """The feed's current end: read it before comparing the caches with the database,
        then `start` from it, so a change committed during the comparison is not missed."""
        with self.sessions() as session:
            return service.latest(session=session)

    def start(self, position: int) -> None:
        """Follow the changes after `position` (from `mark`, taken before the caller
        compared its caches with the database; changes in between apply twice, harmlessly)."""
        self.position = position
        self._last_read = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_seconds + 5)
        self._close_listener()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until changes up to `position` are applied here (for tests and jobs)."""
        deadline = time.monotonic() + timeout
        with self.applied:
            while self.position < position:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.applied.wait(left)
        return True

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._notified:
                    # listening before reading: a commit after the read wakes the wait
                    self._listen()
                self.catch_up()
                self._trim()
                if self._failing:
                    log.info("change feed: reading again")
                    self._failing = False
            except Exception:
                if not self._failing:  # once per outage, not once per poll
                    log.exception("change feed: reading failed; retrying")
                    self._failing = True
                self._close_listener()
            self._wait()

    def catch_up(self) -> int:
        """Apply every change committed since the last read; returns how many."""
        if self.resync is not None and time.monotonic() - self._last_read > self._keep_seconds:
            # away longer than the feed keeps rows: some may be gone, so compare everything
            log.warning(
                "change feed: not read for over %s h; comparing everything", self.keep_hours
            )
            with self.sessions() as session:
                end = service.latest(session=session)
            self.resync()
            self._advance(end)
            self._last_read = time.monotonic()
            return 0
        done = 0
        while True:
            with self.sessions() as session:
                changes = service.after(session=session, position=self.position)
                if not changes:
                    break
                for topic, handler in self.handlers.items():
                    if any(c.topic == topic for c in changes):
                        handler(session, service.refs(changes, topic))
                done += len(changes)
                end = changes[-1].id
            self._advance(end)
        self._last_read = time.monotonic()
        return done

    @property
    def _keep_seconds(self) -> float:
        return self.keep_hours * 3600

    def _advance(self, position: int) -> None:
        with self.applied:
            self.position = max(self.position, position)
            self.applied.notify_all()

    def _trim(self) -> None:
        now = time.monotonic()
        if now - self._last_trim < TRIM_EVERY_SECONDS:
            return
        self._last_trim = now
        # every process trims: deleting the same old rows twice is harmless
        with self.sessions() as session:
            gone = service.trim(
                session=session, before=utcnow() - timedelta(seconds=self._keep_seconds)
            )
            session.commit()
        if gone:
            log.info("change feed: %d rows older than %s h deleted", gone, self.keep_hours)

    # -- waking up -----------------------------------------------------------------------

    def _wait(self) -> None:
        if self._listener is None:  # SQLite, or reading failed: poll until it works again
            self._stop.wait(self.poll_seconds)
            return
        try:
            listener = self._listener
            # returns at the first notification, or after the poll interval
            for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                pass
        except Exception:
            self._close_listener()
            self._stop.wait(self.poll_seconds)

    def _listen(self) -> Any:
        if self._listener is None:
            import psycopg

            url = self.engine.url.set(drivername="postgresql")
            conn = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
            )
            conn.execute(f"LISTEN {service.CHANNEL}")
            self._listener = conn
        return self._listener

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                listener.close()
