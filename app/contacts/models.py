"""The customer contact log: callbacks promised and calls made to the customer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class ContactOutcome(StrEnum):
    """How a call to the customer went."""

    REACHED = "reached"
    LEFT_MESSAGE = "left_message"
    NO_ANSWER = "no_answer"


class CustomerContact(Base):
    """A callback: scheduled (a promise with a time and an owner), made (with its
    outcome), or both: a scheduled one is made when its outcome is recorded."""

    __tablename__ = "customer_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    # who calls the customer back (a scheduled callback is theirs until made)
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    number: Mapped[str] = mapped_column(String(40), default="")
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    scheduled_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    made_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    made_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    outcome: Mapped[str | None] = mapped_column(String(20))  # ContactOutcome
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
