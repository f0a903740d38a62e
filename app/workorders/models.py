"""Work orders: a field visit requested by tier 2 on a call, done by a field engineer."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Person
from app.db import Base, UTCDateTime, utcnow


class WorkOrderState(StrEnum):
    """Lifecycle of a work order; its moves are `workorders.service.LIFECYCLE`."""

    REQUESTED = "requested"  # tier 2 asked for a visit
    SCHEDULED = "scheduled"  # the field engineer set a time
    ON_SITE = "on_site"  # the field engineer is with the scanner
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class WorkOrderResult(StrEnum):
    """How a completed visit ended."""

    FIXED = "fixed"  # the call is resolved
    RETURNED_TO_TIER2 = "returned_to_tier2"  # the call goes back with findings


class WorkOrder(Base):
    """One field visit for one call; parts are lists of {part_number, description,
    quantity}."""

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    # the scanner when the visit was asked for (None: the call knows only site and modality)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    state: Mapped[str] = mapped_column(String(20), index=True)  # WorkOrderState
    fault: Mapped[str] = mapped_column(Text)
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    field_engineer_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    target_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")  # for the visit
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(String(30))  # WorkOrderResult
    work_done: Mapped[str | None] = mapped_column(Text)
    parts_used: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    findings: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    field_engineer: Mapped[Person] = relationship(foreign_keys=[field_engineer_id], lazy="joined")
    requester: Mapped[Person] = relationship(foreign_keys=[requested_by], lazy="joined")

    # the field engineer and tier 2 act on the same visit: neither overwrites the other
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
