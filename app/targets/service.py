"""Missed targets and overdue actions, each noticed once however many processes look.

A breach is claimed by stamping its row (`escalations.response_missed_at`,
`calls.resolution_missed_at`, `actions.overdue_notified_at`) with an UPDATE that only
matches while the stamp is empty; the event is emitted in the same transaction, so a
process that loses the race (its UPDATE matches nothing once the winner commits) emits
nothing, and a process that dies before committing leaves the breach to the next look."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.actions import service as action_service
from app.actions.models import Action
from app.auth.service import Principal
from app.calls import service as call_service
from app.calls.models import Call, CallState, Escalation, EscalationStatus, EventKind, OwnerKind
from app.db import isoformat, utcnow
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from app.webhooks.payloads import ActionOverdue, CallTargetMissed

# the actor named on the timeline for what the scheduler notices
SCHEDULER = Principal(
    key_id=0, name="Scheduler", person_id=None, client_id=None, roles=(), permissions=frozenset()
)
# a call still being worked: its resolution target runs
WORKED = (CallState.OPEN, CallState.ESCALATED, CallState.ACCEPTED, CallState.FIELD)
BATCH = 200


class Target(StrEnum):
    """The two targets a call is held to."""

    RESPONSE = "response"  # tier 2 accepts the escalation
    RESOLUTION = "resolution"  # the call is resolved


@dataclass(frozen=True)
class Found:
    """What one look claimed."""

    response: int = 0
    resolution: int = 0
    overdue_actions: int = 0

    @property
    def total(self) -> int:
        """Every breach claimed."""
        return self.response + self.resolution + self.overdue_actions


def resolution_due(call: Call, minutes: Mapping[str, int]) -> datetime:
    """When the call should be resolved, by its urgency."""
    return call.opened_at + timedelta(minutes=minutes[call.urgency])


def check(
    *,
    session: Session,
    response_minutes: Mapping[str, int],
    resolution_minutes: Mapping[str, int],
    now: datetime | None = None,
) -> Found:
    """Claim every breach due by `now` and emit its event; the caller commits."""
    now = now or utcnow()
    return Found(
        response=_responses(session, now, response_minutes),
        resolution=_resolutions(session, now, resolution_minutes),
        overdue_actions=_overdue_actions(session, now),
    )


def _claim(session: Session, stamp: Any, key: Any, row_id: int, now: datetime) -> bool:
    """Stamp one row if nobody has: True when this transaction won it."""
    done = session.execute(
        update(stamp.class_)
        .where(key == row_id, stamp.is_(None))
        .values({stamp.key: now})
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done)


def _responses(session: Session, now: datetime, minutes: Mapping[str, int]) -> int:
    due = session.scalars(
        select(Escalation)
        .where(
            Escalation.status == EscalationStatus.PENDING,
            Escalation.response_missed_at.is_(None),
            Escalation.due_at <= now,
        )
        .order_by(Escalation.due_at)
        .limit(BATCH)
    ).all()
    claimed = 0
    for escalation in due:
        if not _claim(session, Escalation.response_missed_at, Escalation.id, escalation.id, now):
            continue
        call = call_service.get(session=session, call_id=escalation.call_id)
        _missed(
            session,
            call,
            Target.RESPONSE,
            escalation.due_at,
            now,
            minutes[escalation.urgency],
            escalation_id=escalation.id,
            engineer_id=escalation.target_person_id,
            queue=escalation.queue,
        )
        claimed += 1
    return claimed


def _resolutions(session: Session, now: datetime, minutes: Mapping[str, int]) -> int:
    # opened before now minus its urgency's target
    late = or_(
        *(
            and_(Call.urgency == urgency, Call.opened_at <= now - timedelta(minutes=m))
            for urgency, m in minutes.items()
        )
    )
    due = session.scalars(
        select(Call)
        .where(Call.state.in_(WORKED), Call.resolution_missed_at.is_(None), late)
        .order_by(Call.opened_at)
        .limit(BATCH)
    ).all()
    claimed = 0
    for call in due:
        if not _claim(session, Call.resolution_missed_at, Call.id, call.id, now):
            continue
        _missed(
            session,
            call,
            Target.RESOLUTION,
            resolution_due(call, minutes),
            now,
            minutes[call.urgency],
        )
        claimed += 1
    return claimed


def _missed(
    session: Session,
    call: Call,
    target: Target,
    due_at: datetime,
    now: datetime,
    target_minutes: int,
    **extra: Any,
) -> None:
    """The breach on the call's timeline and as `call.target_missed`."""
    owner = call_service.owner_interval(session, call.id, OwnerKind.CURRENT)
    follow_up = call_service.owner_interval(session, call.id, OwnerKind.FOLLOW_UP)
    late = int((now - due_at).total_seconds() // 60)
    facts: dict[str, Any] = {
        "target": str(target),
        "target_minutes": target_minutes,
        "due_at": isoformat(due_at),
        "minutes_late": late,
        "owner_id": owner.person_id if owner else None,
        "follow_up_owner_id": follow_up.person_id if follow_up else None,
        **extra,
    }
    call_service.add_event(session, call, EventKind.TARGET_MISSED, SCHEDULER, **facts)
    webhook_service.emit(
        session=session,
        type=EventType.CALL_TARGET_MISSED,
        payload=call_service.call_payload(session, call, CallTargetMissed, **facts),
    )


def _overdue_actions(session: Session, now: datetime) -> int:
    due = session.scalars(
        select(Action)
        .where(
            Action.state.in_(action_service.LIVE_STATES),
            Action.overdue_notified_at.is_(None),
            Action.due_at <= now,
        )
        .order_by(Action.due_at)
        .limit(BATCH)
    ).all()
    claimed = 0
    for action in due:
        if not _claim(session, Action.overdue_notified_at, Action.id, action.id, now):
            continue
        call = call_service.get(session=session, call_id=action.call_id)
        late = int((now - action.due_at).total_seconds() // 60)
        call_service.add_event(
            session,
            call,
            EventKind.ACTION,
            SCHEDULER,
            action_id=action.id,
            state=action.state,
            title=action.title,
            assignee_id=action.assignee_id,
            assignee_name=action.assignee.name,
            due_at=isoformat(action.due_at),
            overdue=True,
            minutes_late=late,
        )
        webhook_service.emit(
            session=session,
            type=EventType.ACTION_OVERDUE,
            payload=action_service.payload(
                session, action, call, ActionOverdue, overdue=True, minutes_late=late
            ),
        )
        claimed += 1
    return claimed
