"""Calls, their append-only timeline, ownership intervals, escalations, article links."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Urgency(StrEnum):
    """How badly the caller is affected (ordered: most urgent first)."""

    SYSTEM_DOWN = "system_down"
    DEGRADED = "degraded"
    INTERMITTENT = "intermittent"
    QUESTION = "question"


URGENCY_RANK = {u: n for n, u in enumerate(Urgency)}


class CallState(StrEnum):
    """Lifecycle of a call; its moves are `calls.service.LIFECYCLE`."""

    OPEN = "open"  # at tier 1
    ESCALATED = "escalated"  # waiting for tier 2
    ACCEPTED = "accepted"  # a tier-2 engineer has it
    FIELD = "field"  # a field engineer has it (a work order is open)
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"  # duplicate, wrong number, withdrawn


class ResolutionReason(StrEnum):
    """How a call was resolved when no article fixed it (keeps the link rate honest)."""

    FIXED_OTHER_MEANS = "fixed_other_means"
    NO_FAULT_FOUND = "no_fault_found"
    USER_TRAINING = "user_training"
    DUPLICATE = "duplicate"


class CancelReason(StrEnum):
    """Why a call was cancelled."""

    DUPLICATE = "duplicate"
    WRONG_NUMBER = "wrong_number"
    WITHDRAWN = "withdrawn"  # by the customer


class EscalationStatus(StrEnum):
    """Lifecycle of an escalation; its moves are `calls.escalation.LIFECYCLE`."""

    PENDING = "pending"  # in its queue (a decline puts it back here)
    ACCEPTED = "accepted"  # a tier-2 engineer has it
    CLOSED = "closed"  # the call was resolved


class AttemptOutcome(StrEnum):
    """What happened when the caller tried an article's steps."""

    FIXED = "fixed"
    NO_CHANGE = "no_change"
    COULD_NOT_DO = "could_not_do"
    MADE_WORSE = "made_worse"


# tried without fixing the fault: what counts against an article (ranking, its record)
FAILED_OUTCOMES = frozenset(
    {AttemptOutcome.NO_CHANGE, AttemptOutcome.COULD_NOT_DO, AttemptOutcome.MADE_WORSE}
)
# every outcome that says whether the article fixed the fault
COUNTED_OUTCOMES = frozenset({AttemptOutcome.FIXED, *FAILED_OUTCOMES})


class EventKind(StrEnum):
    """Kinds of timeline events."""

    OPENED = "opened"
    SEARCHED = "searched"
    ARTICLE_OPENED = "article_opened"
    STEP_TRIED = "step_tried"
    NOTE = "note"
    STATE_CHANGED = "state_changed"
    OWNER_CHANGED = "owner_changed"
    ESCALATED = "escalated"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    RESOLVED = "resolved"
    DRAFT_CREATED = "draft_created"
    EDITED = "edited"
    CANCELLED = "cancelled"
    WORK_ORDER = "work_order"  # a work order requested or moved on
    ACTION = "action"  # an action assigned on the call or moved on
    ATTACHMENT = "attachment"  # a file added to the call
    CONTACT = "contact"  # a callback scheduled or a call to the customer made
    TARGET_MISSED = "target_missed"  # the response or resolution target passed


class OwnerKind(StrEnum):
    """The two kinds of call ownership."""

    CURRENT = "current"  # working the call now
    FOLLOW_UP = "follow_up"  # keeps the customer informed


# what the caller tells beyond the symptom: set when the call opens, editable later
DETAIL_FIELDS = (
    "site_contact",
    "software_version",
    "screen_message",
    "started",
    "recent_changes",
    "system_state",
    "patient_on_table",
)


class Call(Base):
    """One customer call about one scanner (or a site and modality)."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_name: Mapped[str] = mapped_column(String(100))
    callback_number: Mapped[str] = mapped_column(String(40), default="")
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    modality: Mapped[str | None] = mapped_column(String(4))
    symptom: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(20))
    patient_impact: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), index=True)
    opened_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # the reports read the calls opened in a range (app/reports)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_tier: Mapped[int | None] = mapped_column(Integer)
    fixed_by_article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    draft_article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_reason: Mapped[str | None] = mapped_column(String(30))  # ResolutionReason
    cancel_reason: Mapped[str | None] = mapped_column(String(30))  # CancelReason
    cancel_note: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # what tier 2 would otherwise ask again, editable while the call is worked
    site_contact: Mapped[str] = mapped_column(String(200), default="")
    software_version: Mapped[str] = mapped_column(String(100), default="")
    screen_message: Mapped[str] = mapped_column(Text, default="")
    started: Mapped[str] = mapped_column(String(200), default="")
    recent_changes: Mapped[str] = mapped_column(Text, default="")
    system_state: Mapped[str] = mapped_column(String(200), default="")
    patient_on_table: Mapped[bool] = mapped_column(Boolean, default=False)
    # set once, by the process that claimed the breach of the resolution target
    resolution_missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # concurrent state changes (two accepts, accept vs. resolve) cannot both win
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CallEvent(Base):
    """One thing that happened on a call; never updated or deleted."""

    __tablename__ = "call_events"
    # the reports count each call's endings (resolved, cancelled) from this alone
    __table_args__ = (Index("ix_call_events_kind_call_id", "kind", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Ownership(Base):
    """An interval during which someone held one kind of ownership of a call."""

    __tablename__ = "call_ownership"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    role: Mapped[str] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(300))


class CallArticle(Base):
    """What happened to one article within one call (drives stats, demotion, checks)."""

    __tablename__ = "call_articles"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), primary_key=True)
    suggested: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(20))
    fixed_tier: Mapped[int | None] = mapped_column(Integer)
    # the latest outcome's vote: who recorded it and when (ranking learns from them)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class Escalation(Base):
    """A warm transfer to tier 2 with its immutable package."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("call_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    # what the key was first used with: the same key with another request is refused
    request_hash: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(20))
    target_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    queue: Mapped[str] = mapped_column(String(50), default="tier2")
    status: Mapped[str] = mapped_column(String(20), index=True)  # EscalationStatus
    package: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # set once, by the process that claimed the breach of the response target (due_at)
    response_missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallVector(Base):
    """A resolved call's text as a unit vector: derived, rebuilt from the calls (similar
    past calls, `app/calls/past.py`)."""

    __tablename__ = "call_vectors"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    encoder: Mapped[str] = mapped_column(String(200))  # whose vector: another one re-encodes
    text_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the text encoded
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
