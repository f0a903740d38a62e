"""The scheduler thread: looks for missed targets and overdue actions on a clock."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction
from app.errors import OutageLog
from app.targets import service

log = logging.getLogger(__name__)


class TargetWorker:
    """Every TARGET_CHECK_SECONDS, claims the breaches due and emits their events; safe
    to run in every process (a breach is claimed in the database, once)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._stop = threading.Event()
        self._outage = OutageLog(log, "target check")
        self._thread: threading.Thread | None = None
        self.rounds = 0  # rounds finished by the thread
        self._round_done = threading.Condition()

    def start(self) -> None:
        """Start in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="targets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                self._outage.succeeded()
            except Exception as exc:  # keep looking; an unclaimed breach is found next round
                self._outage.failed(exc)
            with self._round_done:
                self.rounds += 1
                self._round_done.notify_all()
            self._stop.wait(self.settings.target_check_seconds)

    def wait_rounds(self, rounds: int, timeout: float) -> bool:
        """Wait until the thread has finished `rounds` rounds (False on timeout)."""
        with self._round_done:
            return self._round_done.wait_for(lambda: self.rounds >= rounds, timeout)

    def run_once(self) -> int:
        """One look; returns how many breaches it claimed."""
        with transaction(self.sessions) as session:
            found = service.check(
                session=session,
                response_minutes=self.settings.response_target_minutes,
                resolution_minutes=self.settings.resolution_target_minutes,
            )
        if found.total:
            log.info(
                "targets: %d response, %d resolution missed; %d actions overdue",
                found.response,
                found.resolution,
                found.overdue_actions,
            )
        return found.total
