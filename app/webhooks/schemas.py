"""Webhook subscriptions and deliveries over the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from app.webhooks.models import DeliveryStatus, EventType


class SubscriptionCreate(BaseModel):
    """A receiver and the events it wants; deliveries are signed with `secret`."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    secret: str = Field(min_length=16, max_length=200)
    event_types: list[EventType] = Field(min_length=1)


class SubscriptionRead(BaseModel):
    """A subscription (the secret is never shown back)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    event_types: list[EventType]
    active: bool
    created_at: datetime


class DeliveryAttemptRead(BaseModel):
    """One HTTP attempt."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryRead(BaseModel):
    """One event to one subscription, with its attempts."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    event_type: str
    subscription_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    attempt_log: list[DeliveryAttemptRead]
