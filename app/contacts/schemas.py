"""The customer contact log over the API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from app.auth.schemas import PersonRead
from app.contacts.models import ContactOutcome
from app.schemas import DbId, Strict


class ContactStatus(StrEnum):
    """Where an entry of the log stands (derived: made once it has an outcome)."""

    SCHEDULED = "scheduled"  # a callback promised, still to make
    MADE = "made"


class ContactCreate(Strict):
    """Either a callback to make (`scheduled_for`) or a call made now (`outcome`)."""

    scheduled_for: AwareDatetime | None = Field(
        None, description="A callback: when, in the future, with its offset."
    )
    outcome: ContactOutcome | None = Field(None, description="A call made now: how it went.")
    owner_id: DbId | None = Field(
        None,
        description="Who makes the callback (an active person); defaults to the call's "
        "follow-up owner. Only with scheduled_for.",
    )
    number: str | None = Field(
        None, max_length=40, description="Defaults to the call's callback number."
    )
    contact_name: str | None = Field(
        None, max_length=100, description="Whom to ask for; defaults to the caller."
    )
    notes: str = Field("", max_length=4000, description="What to tell, or what was said.")


class ContactMade(Strict):
    """A scheduled callback was made: how it went, and maybe when to try again."""

    outcome: ContactOutcome
    notes: str = Field("", max_length=4000, description="What was said.")
    next_attempt_at: AwareDatetime | None = Field(
        None,
        description="Schedule the next callback (same owner, number and contact), in the "
        "future, with its offset: typical after no_answer or left_message.",
    )


class ContactRead(BaseModel):
    """One entry of a call's contact log."""

    id: int
    call_id: int
    status: ContactStatus
    owner: PersonRead = Field(description="Who makes (or made) the call to the customer.")
    number: str
    contact_name: str
    scheduled_for: datetime | None = Field(description="None for a call logged as made now.")
    scheduled_by: PersonRead | None
    made_at: datetime | None
    made_by: PersonRead | None
    outcome: ContactOutcome | None
    notes: str
    created_at: datetime
    due: bool = Field(description="Still to make, and due within the next hour or overdue.")
    overdue: bool = Field(description="Still to make, and past its time.")
    version: int


class ContactMadeRead(BaseModel):
    """The callback as made, and the next one when one was scheduled with it."""

    made: ContactRead
    next_attempt: ContactRead | None
