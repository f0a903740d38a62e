"""Outbox, signed deliveries with exponential back-off, and re-delivery."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.errors import NotFound
from app.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    OutboxEvent,
    Subscription,
)
from app.webhooks.schemas import DeliveryAttemptRead, DeliveryRead, SubscriptionCreate

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Helpdesk-Signature"


Listener = Callable[[Session, OutboxEvent], None]
_listeners: builtins.list[Listener] = []


def listen(listener: Listener) -> None:
    """Have `listener` see every event emitted, in the emitting transaction (the
    notifications follow the outbox this way, without this domain knowing them)."""
    if listener not in _listeners:
        _listeners.append(listener)


def emit(*, session: Session, type: EventType, payload: dict[str, Any]) -> None:
    """Queue an event in the caller's transaction (it is sent only if that commits)."""
    event = OutboxEvent(type=type, payload=payload, created_at=utcnow())
    session.add(event)
    session.flush()
    for listener in _listeners:
        listener(session, event)
    for sub in session.scalars(select(Subscription).where(Subscription.active.is_(True))):
        if type in sub.event_types:
            session.add(
                Delivery(
                    event_id=event.id,
                    subscription_id=sub.id,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=utcnow(),
                )
            )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """Check a signature header (what a receiver does); rejects stale timestamps."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def create_subscription(*, session: Session, data: SubscriptionCreate) -> Subscription:
    """Subscribe a receiver."""
    sub = Subscription(
        url=str(data.url), secret=data.secret, event_types=[str(t) for t in data.event_types]
    )
    session.add(sub)
    session.flush()
    return sub


def list_subscriptions(*, session: Session) -> builtins.list[Subscription]:
    """All subscriptions."""
    return builtins.list(session.scalars(select(Subscription).order_by(Subscription.id)))


def delete_subscription(*, session: Session, subscription_id: int) -> None:
    """Stop delivering to a receiver (its delivery history stays)."""
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise NotFound(f"no subscription with id {subscription_id}")
    sub.active = False
    session.flush()


def _delivery_read(session: Session, d: Delivery) -> DeliveryRead:
    event = session.get(OutboxEvent, d.event_id)
    attempts = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == d.id)
        .order_by(DeliveryAttempt.id)
    )
    return DeliveryRead(
        id=d.id,
        event_id=d.event_id,
        event_type=event.type if event else "",
        subscription_id=d.subscription_id,
        status=DeliveryStatus(d.status),
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        delivered_at=d.delivered_at,
        last_error=d.last_error,
        attempt_log=[DeliveryAttemptRead.model_validate(a) for a in attempts],
    )


def list_deliveries(
    *, session: Session, subscription_id: int | None = None, status: DeliveryStatus | None = None
) -> builtins.list[DeliveryRead]:
    """Deliveries with their attempt log, newest first."""
    stmt = select(Delivery).order_by(Delivery.id.desc()).limit(200)
    if subscription_id is not None:
        stmt = stmt.where(Delivery.subscription_id == subscription_id)
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    return [_delivery_read(session, d) for d in session.scalars(stmt)]


def redeliver(*, session: Session, delivery_id: int) -> DeliveryRead:
    """Send a delivery again now, whatever its status."""
    d = session.get(Delivery, delivery_id)
    if d is None:
        raise NotFound(f"no delivery with id {delivery_id}")
    d.status = DeliveryStatus.PENDING
    d.next_attempt_at = utcnow()
    session.flush()
    return _delivery_read(session, d)


class DeliveryWorker:
    """Background thread sending due deliveries; survives restarts because the state is
    in the database (a pending delivery is picked up by the next process)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_seconds: float = 0.5,
        backoff_seconds: float = 2.0,
        max_attempts: int = 8,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # made on the first delivery: httpx and its TLS set-up would slow every start
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                import httpx

                self._http = httpx.Client(timeout=self.timeout_seconds)
            return self._http

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current delivery."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_seconds + 2)
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:  # keep the worker alive; the delivery stays pending
                log.exception("webhook delivery loop failed")
                sent = 0
            if not sent:
                self._stop.wait(self.poll_seconds)

    def run_once(self, limit: int = 20) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        with self.sessions() as session:
            due = session.scalars(
                select(Delivery.id)
                .where(Delivery.status == DeliveryStatus.PENDING)
                .where(Delivery.next_attempt_at <= utcnow())
                .order_by(Delivery.next_attempt_at)
                .limit(limit)
            ).all()
        for delivery_id in due:
            self._attempt(delivery_id)
        return len(due)

    def _attempt(self, delivery_id: int) -> None:
        with self.sessions() as session:
            d = session.get(Delivery, delivery_id)
            if d is None or d.status != DeliveryStatus.PENDING:
                return
            # claim it: push the next attempt out so a second worker does not send it too
            claim_until = utcnow() + timedelta(seconds=self.timeout_seconds * 3)
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == d.id, Delivery.next_attempt_at == d.next_attempt_at)
                .values(next_attempt_at=claim_until)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            if not claimed:
                return
            event = session.get(OutboxEvent, d.event_id)
            sub = session.get(Subscription, d.subscription_id)
            if event is None or sub is None:
                return
            body = json.dumps(
                {
                    "id": event.id,
                    "type": event.type,
                    "created_at": event.created_at.isoformat(),
                    "data": event.payload,
                },
                separators=(",", ":"),
            ).encode()
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(sub.secret, int(time.time()), body),
                "X-Helpdesk-Event": event.type,
                "X-Helpdesk-Delivery": str(d.id),
            }
            started = time.perf_counter()
            code: int | None = None
            error: str | None = None
            import httpx  # imported on the first delivery, not at start-up

            try:
                response = self._client().post(sub.url, content=body, headers=headers)
                code = response.status_code
                if not 200 <= code < 300:
                    error = f"receiver answered {code}"
            except httpx.HTTPError as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            took = (time.perf_counter() - started) * 1000
            d = session.get(Delivery, delivery_id)
            assert d is not None
            session.add(
                DeliveryAttempt(delivery_id=d.id, status_code=code, error=error, duration_ms=took)
            )
            d.attempts += 1
            if error is None:
                d.status = DeliveryStatus.DELIVERED
                d.delivered_at = utcnow()
                d.last_error = None
            else:
                d.last_error = error
                if d.attempts >= self.max_attempts:
                    d.status = DeliveryStatus.FAILED
                else:
                    delay = self.backoff_seconds * 2 ** (d.attempts - 1)
                    d.next_attempt_at = utcnow() + timedelta(seconds=delay)
            session.commit()
