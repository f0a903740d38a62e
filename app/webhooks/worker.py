"""The background sender of due deliveries: claimed in the database (so that any number of
processes send each delivery once), sent a few at a time to different receivers (so that
one slow receiver holds up no other), retried with capped back-off for WEBHOOK_RETRY_HOURS."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.errors import OutageLog
from app.webhooks.guard import AddressPolicy
from app.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, OutboxEvent, Subscription
from app.webhooks.secrets import SecretBox, SecretUnreadable, box_for, seal_plain
from app.webhooks.signing import SIGNATURE_HEADER, sign

if TYPE_CHECKING:
    from app.config import Settings
    from app.webhooks.sender import Outcome, Sender

log = logging.getLogger(__name__)
UNREADABLE_SECRET = "signing secret unreadable: SECRET_KEY is not the key that encrypted it"


def next_attempt(
    *,
    failures: int,
    first_at: datetime,
    now: datetime,
    backoff_seconds: float,
    max_backoff_seconds: float,
    retry_seconds: float,
) -> datetime | None:
    """When to try again after `failures` failed attempts in a row, the first at
    `first_at`: the back-off doubles up to its cap, and the last try falls at the end of
    the retry window; None once the window has passed."""
    end = first_at + timedelta(seconds=retry_seconds)
    if now >= end:
        return None
    delay = min(backoff_seconds * 2 ** min(failures - 1, 60), max_backoff_seconds)
    return min(now + timedelta(seconds=delay), end)


def current_round(
    attempts: list[tuple[datetime, bool]], *, retry_seconds: float, late_seconds: float
) -> tuple[datetime, int]:
    """The start of the delivery's current round of tries and how many it has had, from
    its attempt log ((when, succeeded), oldest first). A round ends with a success, or with
    the retry window: an attempt after a success, or later than the window (and the time a
    due try can take to be made), was re-delivered and starts a new round."""
    start, tries, succeeded = attempts[0][0], 0, False
    for at, ok in attempts:
        if succeeded or at > start + timedelta(seconds=retry_seconds + late_seconds):
            start, tries = at, 0
        tries += 1
        succeeded = ok
    return start, tries


class DeliveryWorker:
    """Sends due deliveries from a daemon thread through a small pool; the state is in the
    database, so a pending delivery is picked up by whichever process is running."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        settings: Settings | None = None,
        poll_seconds: float | None = None,
        backoff_seconds: float | None = None,
        max_attempts: int | None = None,
        timeout_seconds: float | None = None,
        policy: AddressPolicy | None = None,
        sender: Sender | None = None,
    ) -> None:
        if settings is None:
            from app.config import get_settings

            settings = get_settings()
        self.sessions = sessions
        self.settings = settings
        self.poll_seconds = poll_seconds or settings.webhook_poll_seconds
        self.backoff_seconds = (
            settings.webhook_backoff_seconds if backoff_seconds is None else backoff_seconds
        )
        self.max_backoff_seconds = settings.webhook_backoff_max_seconds
        self.retry_seconds = settings.webhook_retry_hours * 3600
        # an optional cap on the tries of one round (None: the retry window alone)
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds or settings.webhook_timeout_seconds
        self.concurrency = settings.webhook_concurrency
        # a claim outlives the send it covers (the sender's deadline; the name look-up has
        # the resolver's own limit): after it a delivery is due again, for another process
        self.lease_seconds = 2 * self.timeout_seconds + 60
        self.policy = policy or AddressPolicy.from_entries(settings.webhook_allowed_networks)
        self._sender = sender
        self._box: SecretBox | None = None
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook-send")
        self._busy: set[int] = set()  # subscriptions with a delivery being sent
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._outage = OutageLog(log, "webhook delivery")
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def sender(self) -> Sender:
        """The HTTP sender, made on the first delivery (its imports would slow every start)."""
        if self._sender is None:
            from app.webhooks.sender import Sender

            self._sender = Sender(self.policy, timeout_seconds=self.timeout_seconds)
        return self._sender

    def box(self) -> SecretBox:
        """The secrets' box (its key file is made on first use)."""
        if self._box is None:
            self._box = box_for(self.settings)
        return self._box

    def start(self) -> None:
        """Start sending in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming, and wait for the deliveries being sent (each within its timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_seconds + 2)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def seal_plain_secrets(self) -> int:
        """Encrypt the signing secrets stored before encryption; returns how many."""
        with self.sessions() as session:
            sealed = seal_plain(session=session, box=self.box())
            session.commit()
        if sealed:
            log.info("encrypted %d webhook signing secrets stored in plain text", sealed)
        return sealed

    def _loop(self) -> None:
        try:
            self.seal_plain_secrets()
        except Exception:  # the secrets are still read as they are
            log.exception("could not encrypt the plain webhook secrets")
        while not self._stop.is_set():
            try:
                started = self._dispatch()
                self._outage.succeeded()
            except Exception as exc:  # keep the worker alive; the deliveries stay pending
                self._outage.failed(exc)
                started = 0
            if not started:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def _dispatch(self) -> int:
        """Claim one due delivery for each idle subscription, as many as there are idle
        threads, and start sending them; returns how many were started."""
        with self._lock:
            free = self.concurrency - len(self._busy)
            busy = set(self._busy)
        if free <= 0:
            return 0
        claimed = self._claim(limit=free, skip_subscriptions=busy)
        for delivery_id, subscription_id in claimed:
            with self._lock:
                self._busy.add(subscription_id)
            self._pool.submit(self._send_and_release, delivery_id, subscription_id)
        return len(claimed)

    def _send_and_release(self, delivery_id: int, subscription_id: int) -> None:
        try:
            self.send(delivery_id)
        except Exception:  # the claim runs out and the delivery is due again
            log.exception("webhook delivery %s failed", delivery_id)
        finally:
            with self._lock:
                self._busy.discard(subscription_id)
            self._wake.set()

    def run_once(self, limit: int = 20) -> int:
        """Attempt due deliveries, each at most once, up to `limit`, and wait for them;
        returns how many were attempted."""
        attempted: set[int] = set()
        while len(attempted) < limit:
            claimed = self._claim(
                limit=min(self.concurrency, limit - len(attempted)), skip_deliveries=attempted
            )
            if not claimed:
                break
            wait([self._pool.submit(self.send, delivery_id) for delivery_id, _ in claimed])
            attempted.update(delivery_id for delivery_id, _ in claimed)
        return len(attempted)

    def _claim(
        self,
        *,
        limit: int,
        skip_subscriptions: set[int] | None = None,
        skip_deliveries: set[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Take the oldest due delivery of up to `limit` subscriptions: its next attempt is
        pushed past the lease in one committed transaction, so no other worker (thread or
        process) takes it. (delivery id, subscription id) of each one taken."""
        now = utcnow()
        due = [Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now]
        if skip_deliveries:
            due.append(Delivery.id.not_in(skip_deliveries))
        oldest_first = (
            select(Delivery.subscription_id)
            .where(*due)
            .group_by(Delivery.subscription_id)
            .order_by(func.min(Delivery.next_attempt_at))
        )
        if skip_subscriptions:
            oldest_first = oldest_first.where(Delivery.subscription_id.not_in(skip_subscriptions))
        claimed: list[tuple[int, int]] = []
        with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                # the lock FOR UPDATE takes, taken first: a claim that took a weaker one
                # first could deadlock with a schema change (a migration) waiting between
                session.execute(text("LOCK TABLE webhook_deliveries IN ROW SHARE MODE"))
            for subscription_id in session.scalars(oldest_first.limit(limit)).all():
                # PostgreSQL: rows another worker is claiming are skipped, not waited for;
                # SQLite has no row locks, and the conditional update below decides
                delivery_id = session.scalar(
                    select(Delivery.id)
                    .where(*due, Delivery.subscription_id == subscription_id)
                    .order_by(Delivery.next_attempt_at, Delivery.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if delivery_id is None:
                    continue
                taken = session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, *due)
                    .values(next_attempt_at=now + timedelta(seconds=self.lease_seconds))
                ).rowcount  # type: ignore[attr-defined]
                if taken:
                    claimed.append((delivery_id, subscription_id))
            session.commit()
        return claimed

    def send(self, delivery_id: int) -> None:
        """Attempt a claimed delivery once and record the outcome."""
        with self.sessions() as session:
            d = session.get(Delivery, delivery_id)
            event = session.get(OutboxEvent, d.event_id) if d else None
            sub = session.get(Subscription, d.subscription_id) if d else None
            if d is None or event is None or sub is None:
                return
            url, stored_secret = sub.url, sub.secret
            body = json.dumps(
                {
                    "id": event.id,
                    "type": event.type,
                    "created_at": event.created_at.isoformat(),
                    "data": event.payload,
                },
                separators=(",", ":"),
            ).encode()
            event_type = event.type
        # no database connection is held while the receiver takes its time
        started = time.perf_counter()
        try:
            secret = self.box().open(stored_secret)
        except SecretUnreadable:
            from app.webhooks.sender import Outcome

            outcome = Outcome(None, UNREADABLE_SECRET)
        else:
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, int(time.time()), body),
                "X-Helpdesk-Event": event_type,
                "X-Helpdesk-Delivery": str(delivery_id),
            }
            outcome = self.sender.post(url, body, headers)
        self._record(delivery_id, outcome, (time.perf_counter() - started) * 1000)

    def _record(self, delivery_id: int, outcome: Outcome, took_ms: float) -> None:
        with self.sessions() as session:
            d = session.get(Delivery, delivery_id)
            if d is None:
                return
            session.add(
                DeliveryAttempt(
                    delivery_id=d.id,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=took_ms,
                )
            )
            d.attempts += 1
            now = utcnow()
            if outcome.error is None:
                d.status = DeliveryStatus.DELIVERED
                d.delivered_at = now
                d.last_error = None
            else:
                d.last_error = outcome.error
                history = session.execute(
                    select(DeliveryAttempt.at, DeliveryAttempt.error)
                    .where(DeliveryAttempt.delivery_id == d.id)
                    .order_by(DeliveryAttempt.id)
                ).all()
                started, tries = current_round(
                    [(at, error is None) for at, error in history],
                    retry_seconds=self.retry_seconds,
                    late_seconds=self.timeout_seconds + self.poll_seconds + 1,
                )
                retry = next_attempt(
                    failures=tries,
                    first_at=started,
                    now=now,
                    backoff_seconds=self.backoff_seconds,
                    max_backoff_seconds=self.max_backoff_seconds,
                    retry_seconds=self.retry_seconds,
                )
                if retry is None or (self.max_attempts and tries >= self.max_attempts):
                    d.status = DeliveryStatus.FAILED
                else:
                    d.next_attempt_at = retry
            session.commit()
