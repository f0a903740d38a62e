"""Audit log responses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AuditRead(BaseModel):
    """One recorded write."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str | None
    person_id: int | None
    client_id: int | None
    key_id: int | None
    method: str
    path: str
    action: str | None
    status: int
    client_ip: str | None


class AuditPage(BaseModel):
    """A page of the log, newest first."""

    items: list[AuditRead]
    total: int
    limit: int
    offset: int
