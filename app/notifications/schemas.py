"""Notifications over the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class NotificationRead(BaseModel):
    """One thing the person should know."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="The event: call.escalated, work_order.requested, ...")
    call_id: int | None
    text: str
    data: dict[str, Any] = Field(description="The event's payload, as webhooks carry it.")
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    """The person's notifications, unread first, newest first."""

    items: list[NotificationRead]
    unread: int


class MarkedRead(BaseModel):
    """How many notifications were marked read."""

    marked: int
