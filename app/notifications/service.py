"""Who hears of each event of the outbox, and each person's list of what they heard.

Notifications follow the webhook outbox (one event stream, two consumers): every event
a service emits passes through `on_event`, in the emitting transaction, so a person is
told of exactly the writes that were kept. The scanner's primary engineer hears of
every step of a call on their scanner."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.auth.models import Person
from app.auth.permissions import Role
from app.calls.models import Call, Escalation
from app.db import utcnow
from app.errors import NotFound
from app.notifications.models import EmailStatus, Notification
from app.webhooks.models import EventType, OutboxEvent

T = EventType
# what each event says to whom it concerns, by the part they play
TEXTS: Mapping[str, str] = {
    T.CALL_OPENED: "Call {call_id} opened on {scanner}: {symptom}",
    T.CALL_ESCALATED: "Call {call_id} escalated to tier 2 ({urgency}): {symptom}",
    T.CALL_ACCEPTED: "Call {call_id} accepted by {accepted_by}",
    T.CALL_DECLINED: "Call {call_id}: escalation declined, back in the queue",
    T.CALL_RESOLVED: "Call {call_id} resolved at tier {tier}",
    T.CALL_CANCELLED: "Call {call_id} cancelled ({reason})",
    T.CALL_TARGET_MISSED: "Call {call_id} missed its {target} target by {minutes_late} min",
    T.WORK_ORDER_REQUESTED: "Work order {work_order_id} for {field_engineer_name}: {fault}",
    T.WORK_ORDER_UPDATED: "Work order {work_order_id} is {state}",
    T.ACTION_ASSIGNED: "Action for {assignee_name}: {title} (due {due_at})",
    T.ACTION_UPDATED: "Action {action_id} is {state}: {title}",
    T.ACTION_OVERDUE: "Action {action_id} for {assignee_name} is overdue: {title}",
}


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


def _call_of(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    nested = payload.get("call")
    return nested if isinstance(nested, Mapping) else payload


def _recipients(session: Session, type: str, payload: Mapping[str, Any]) -> set[int]:
    """The people an event concerns: the scanner's primary always, and by event the
    engineer or queue it goes to, the person it is assigned to, the one who asked."""
    call = _call_of(payload)
    people: set[int | None] = set()
    asset = session.get(Asset, call["asset_id"]) if call.get("asset_id") else None
    if asset is not None:
        people.add(asset.primary_engineer_id)
    escalation = (
        session.get(Escalation, payload["escalation_id"])
        if (payload.get("escalation_id"))
        else None
    )
    # an escalation waiting for tier 2 (new, or its response target missed) concerns its
    # engineer, or the whole queue
    waiting = type == T.CALL_ESCALATED or (
        type == T.CALL_TARGET_MISSED and payload.get("target") == "response"
    )
    if waiting and escalation is not None:
        if escalation.target_person_id is not None:
            people.add(escalation.target_person_id)
        else:  # sent to a queue: every active tier-2 engineer
            people |= _tier2(session)
    if type in (T.CALL_ACCEPTED, T.CALL_DECLINED) and escalation is not None:
        people.add(escalation.created_by)
    if type in (T.CALL_RESOLVED, T.CALL_CANCELLED) and call.get("call_id"):
        opened = session.get(Call, call["call_id"])
        people.add(opened.opened_by if opened else None)
    for key in (
        "field_engineer_id",
        "requested_by_id",
        "assignee_id",
        "assigned_by_id",
        "owner_id",
        "follow_up_owner_id",
    ):
        people.add(payload.get(key))
    return {p for p in people if isinstance(p, int)}


def _tier2(session: Session) -> set[int | None]:
    found = session.scalars(select(Person).where(Person.active.is_(True)))
    return {p.id for p in found if Role.REMOTE_ENGINEER in p.roles}


def _text(session: Session, type: str, payload: Mapping[str, Any]) -> str:
    call = _call_of(payload)
    asset = session.get(Asset, call["asset_id"]) if call.get("asset_id") else None
    scanner = f"{asset.modality} {asset.model} SN {asset.serial_number}" if asset else "a scanner"
    values = _Missing({**call, **payload, "scanner": scanner, "type": type})
    template = TEXTS.get(type, "{type} on call {call_id}")
    return template.format_map(values)[:300]


# set in a session's `info` (through its sessionmaker) by an app that sends e-mail: the
# listener is shared by every app in the process, the SMTP setting is not; a row written
# without it is never e-mailed (turning SMTP on later sends no old news)
EMAIL_NOTIFICATIONS = "email_notifications"


def _emailed(session: Session, people: set[int]) -> set[int]:
    """Who of `people` is also e-mailed: the active ones with an address, if the app sends."""
    if not session.info.get(EMAIL_NOTIFICATIONS):
        return set()
    found = session.scalars(
        select(Person.id).where(
            Person.id.in_(people), Person.active.is_(True), Person.email.is_not(None)
        )
    )
    return set(found)


def on_event(session: Session, event: OutboxEvent) -> None:
    """Notify everyone the event concerns (the emitter's listener, in its transaction)."""
    payload = event.payload
    people = _recipients(session, event.type, payload)
    if not people:
        return
    call_id = _call_of(payload).get("call_id")
    text = _text(session, event.type, payload)
    emailed = _emailed(session, people)
    for person_id in sorted(people):
        session.add(
            Notification(
                person_id=person_id,
                event_id=event.id,
                kind=event.type,
                call_id=call_id if isinstance(call_id, int) else None,
                text=text,
                data=payload,
                created_at=event.created_at or utcnow(),
                email_status=EmailStatus.PENDING if person_id in emailed else None,
                email_next_at=utcnow() if person_id in emailed else None,
            )
        )


def list(
    *, session: Session, person_id: int, unread_only: bool = False, limit: int = 50
) -> tuple[builtins.list[Notification], int]:
    """A person's notifications, unread first, newest first; and how many are unread."""
    stmt = select(Notification).where(Notification.person_id == person_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    unread_first = Notification.read_at.is_(None).desc()
    rows = session.scalars(stmt.order_by(unread_first, Notification.id.desc()).limit(limit))
    unread = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.person_id == person_id, Notification.read_at.is_(None))
    )
    return builtins.list(rows), int(unread or 0)


def mark_read(*, session: Session, person_id: int, notification_id: int) -> Notification:
    """Mark one of the person's notifications read (someone else's is a 404)."""
    found = session.get(Notification, notification_id)
    if found is None or found.person_id != person_id:
        raise NotFound(f"you have no notification with id {notification_id}")
    if found.read_at is None:
        found.read_at = utcnow()
        session.flush()
    return found


def mark_all_read(*, session: Session, person_id: int) -> int:
    """Mark every unread notification of the person read; returns how many."""
    done = session.execute(
        update(Notification)
        .where(Notification.person_id == person_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(done)
