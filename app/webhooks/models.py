"""Webhook subscriptions, the event outbox, deliveries and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class EventType(StrEnum):
    """Events other help-desk tools can subscribe to."""

    CALL_OPENED = "call.opened"
    CALL_ESCALATED = "call.escalated"
    CALL_ACCEPTED = "call.accepted"
    CALL_DECLINED = "call.declined"
    CALL_RESOLVED = "call.resolved"
    CALL_CANCELLED = "call.cancelled"
    CALL_TARGET_MISSED = "call.target_missed"
    WORK_ORDER_REQUESTED = "work_order.requested"
    WORK_ORDER_UPDATED = "work_order.updated"
    ACTION_ASSIGNED = "action.assigned"
    ACTION_UPDATED = "action.updated"
    ACTION_OVERDUE = "action.overdue"
    ARTICLE_PUBLISHED = "article.published"


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry; can be re-delivered on request


class Subscription(Base):
    """A receiver URL, its signing secret and the event types it wants."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(Text)  # encrypted (app/webhooks/secrets.py)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEvent(Base):
    """An event, written in the same transaction as the change it reports."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One event to one subscription, retried until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    """One HTTP attempt of a delivery."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(default=0.0)
