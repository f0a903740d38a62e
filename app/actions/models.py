"""Actions: a task on a call given to one person, with a due time (order a part, call the
customer back, send a loaner probe)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Person
from app.db import Base, UTCDateTime, utcnow


class ActionState(StrEnum):
    """Lifecycle of an action; its moves are `actions.service.LIFECYCLE`."""

    OPEN = "open"  # assigned, not yet seen by the assignee
    ACKNOWLEDGED = "acknowledged"  # the assignee has taken it on
    DONE = "done"
    CANCELLED = "cancelled"


class Action(Base):
    """One action on one call, owned by its assignee until done or cancelled."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    # the call's scanner when the action was assigned (its primary engineer is informed)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    title: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), index=True)  # ActionState
    assignee_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    assigned_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # set once, by the process that claimed the overdue notice
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    assignee: Mapped[Person] = relationship(foreign_keys=[assignee_id], lazy="joined")
    assigner: Mapped[Person] = relationship(foreign_keys=[assigned_by], lazy="joined")

    # the assignee and the assigner act on the same action: neither overwrites the other
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
