"""A person's notifications: what happened on the calls they work, own or look after."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class EmailStatus(StrEnum):
    """Where a notification's e-mail copy stands."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry


class Notification(Base):
    """One thing one person should know, from one event of the outbox."""

    __tablename__ = "notifications"
    # a person's unread ones, newest first
    __table_args__ = (Index("ix_notifications_person_read", "person_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    kind: Mapped[str] = mapped_column(String(50))  # the event type, e.g. call.escalated
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    text: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # e-mail copy (only when SMTP_URL is set and the person has an address):
    # None = not to be e-mailed; EmailStatus otherwise
    email_status: Mapped[str | None] = mapped_column(String(20), index=True)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_error: Mapped[str | None] = mapped_column(String(500))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
