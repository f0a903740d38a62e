"""Outbox, subscriptions (checked addresses, encrypted secrets), deliveries and re-delivery;
the sending is in app/webhooks/worker.py."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import InvalidInput, NotFound
from app.webhooks.guard import AddressPolicy, AddressRefused, Unresolvable
from app.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    OutboxEvent,
    Subscription,
)
from app.webhooks.payloads import PAYLOADS, Payload
from app.webhooks.schemas import DeliveryAttemptRead, DeliveryRead, SubscriptionCreate
from app.webhooks.secrets import SecretBox

# re-exported: where app/main.py, receivers' examples and the tests have found them
from app.webhooks.signing import SIGNATURE_HEADER as SIGNATURE_HEADER
from app.webhooks.signing import sign as sign
from app.webhooks.signing import verify as verify
from app.webhooks.worker import DeliveryWorker as DeliveryWorker

log = logging.getLogger(__name__)


Listener = Callable[[Session, OutboxEvent], None]
_listeners: builtins.list[Listener] = []


def listen(listener: Listener) -> None:
    """Have `listener` see every event emitted, in the emitting transaction (the
    notifications follow the outbox this way, without this domain knowing them)."""
    if listener not in _listeners:
        _listeners.append(listener)


def event_data(type: EventType, payload: Payload | Mapping[str, Any]) -> dict[str, Any]:
    """The event's `data` as sent: the payload as its type's model (app/webhooks/payloads.py)
    dumps it; a mapping is validated into that model first."""
    model = PAYLOADS[type]
    if isinstance(payload, Mapping):
        payload = model.model_validate(payload)
    elif not isinstance(payload, model):
        raise TypeError(f"a {type} event carries a {model.__name__}, not a {payload!r}")
    return payload.model_dump(mode="json")


def emit(*, session: Session, type: EventType, payload: Payload | Mapping[str, Any]) -> None:
    """Queue an event in the caller's transaction (it is sent only if that commits)."""
    event = OutboxEvent(type=type, payload=event_data(type, payload), created_at=utcnow())
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


def create_subscription(
    *, session: Session, data: SubscriptionCreate, policy: AddressPolicy, box: SecretBox
) -> Subscription:
    """Subscribe a receiver at an address the policy allows; its secret stored encrypted."""
    try:
        policy.check_url(str(data.url))
    except AddressRefused as exc:
        why = f"its host is a {exc.kind} address"
        raise InvalidInput(
            f"webhooks may not be sent to this URL: {why}",
            errors=[
                {
                    "field": "url",
                    "message": f"{why}; internal receivers must be listed in "
                    "WEBHOOK_ALLOWED_NETWORKS",
                }
            ],
        ) from None
    except Unresolvable:
        raise InvalidInput(
            "webhooks may not be sent to this URL: its host name does not resolve",
            errors=[{"field": "url", "message": "the host name does not resolve"}],
        ) from None
    sub = Subscription(
        url=str(data.url),
        secret=box.seal(data.secret),
        event_types=[str(t) for t in data.event_types],
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
    """Send a delivery again now, whatever its status, with a new retry window."""
    d = session.get(Delivery, delivery_id)
    if d is None:
        raise NotFound(f"no delivery with id {delivery_id}")
    d.status = DeliveryStatus.PENDING
    d.next_attempt_at = utcnow()
    session.flush()
    return _delivery_read(session, d)
