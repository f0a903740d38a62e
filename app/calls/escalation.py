"""The warm transfer to tier 2: the completeness check, the preview, the escalation with
its package, the tier-2 queue, accept and decline."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.articles.models import Article
from app.auth.models import Person
from app.auth.permissions import Role
from app.auth.service import Principal
from app.calls.models import (
    URGENCY_RANK,
    Call,
    CallArticle,
    CallEvent,
    CallState,
    Escalation,
    EscalationStatus,
    EventKind,
    OwnerKind,
    Urgency,
)
from app.calls.package import build_package
from app.calls.package_schemas import EscalationPackage
from app.calls.schemas import EscalateRequest, QueueItem
from app.calls.service import acting_person, add_event, call_payload, get, move, person, set_owner
from app.db import utcnow
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.lifecycle import Lifecycle
from app.search.index import ArticleIndex
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from app.webhooks.payloads import CallAccepted, CallDeclined, CallEscalated, PersonRef

E = EscalationStatus
LIFECYCLE = Lifecycle(
    "escalation",
    {
        E.PENDING: frozenset({E.ACCEPTED, E.CLOSED}),
        E.ACCEPTED: frozenset({E.CLOSED}),
        E.CLOSED: frozenset(),
    },
    field="status",
)
Missing = list[dict[str, str]]


def missing_for_escalation(
    *, session: Session, call: Call, nothing_applicable: str | None = None
) -> Missing:
    """What the completeness check still needs (empty: ready to transfer): the caller's
    details, a search, and a fix tried or the reason none applies."""
    missing = []
    if not call.callback_number.strip():
        missing.append(
            {"field": "callback_number", "message": "ask the caller for a callback number"}
        )
    if call.asset_id is None and (call.site_id is None or call.modality is None):
        missing.append({"field": "asset", "message": "identify the scanner (or site and modality)"})
    if not call.symptom.strip():
        missing.append({"field": "symptom", "message": "record the symptom in the caller's words"})
    searches = session.scalar(
        select(func.count())
        .select_from(CallEvent)
        .where(CallEvent.call_id == call.id, CallEvent.kind == EventKind.SEARCHED)
    )
    if not searches:
        missing.append({"field": "searches", "message": "run at least one search"})
    tried = session.scalar(
        select(func.count())
        .select_from(CallEvent)
        .where(CallEvent.call_id == call.id, CallEvent.kind == EventKind.STEP_TRIED)
    )
    if not tried and not (nothing_applicable or "").strip():
        missing.append(
            {
                "field": "nothing_applicable",
                "message": "record what the caller tried, or say why no suggested fix applies",
            }
        )
    open_without_outcome = session.execute(
        select(Article.id, Article.title)
        .join(CallArticle, CallArticle.article_id == Article.id)
        .where(
            CallArticle.call_id == call.id,
            CallArticle.opened.is_(True),
            CallArticle.outcome.is_(None),
        )
        .order_by(Article.id)
    ).all()
    for article_id, title in open_without_outcome:
        missing.append(
            {
                "field": f"outcome.article_{article_id}",
                "message": f"record the outcome of '{title}' (opened, no outcome)",
            }
        )
    return missing


def _draft(
    session: Session, call: Call, data: EscalateRequest, by: Person, targets: dict[str, int]
) -> tuple[Escalation, Person | None]:
    """An unsaved escalation for the request, with its target checked."""
    target: Person | None = None
    if data.engineer_id is not None:
        target = person(session, data.engineer_id)
        if Role.REMOTE_ENGINEER not in target.roles or not target.active:
            raise InvalidInput(
                f"person {target.id} is not an active tier-2 engineer",
                errors=[{"field": "engineer_id", "message": "must have the engineer role"}],
            )
    urgency = Urgency(data.urgency or call.urgency)
    now = utcnow()
    escalation = Escalation(
        call_id=call.id,
        reason=data.reason,
        urgency=urgency,
        target_person_id=target.id if target else None,
        queue=data.queue,
        status=EscalationStatus.PENDING,
        package={},
        created_by=by.id,
        created_at=now,
        due_at=now + timedelta(minutes=targets[urgency]),
    )
    return escalation, target


def preview_escalation(
    *,
    session: Session,
    index: ArticleIndex,
    call_id: int,
    data: EscalateRequest,
    principal: Principal,
    targets: dict[str, int],
) -> tuple[Missing, EscalationPackage]:
    """What the check still needs and the package as tier 2 would get it now (nothing is
    saved; the preview's escalation_id is 0)."""
    call = get(session=session, call_id=call_id)
    by = acting_person(session, principal)
    missing = (
        []
        if data.safety
        else missing_for_escalation(
            session=session, call=call, nothing_applicable=data.nothing_applicable
        )
    )
    escalation, target = _draft(session, call, data, by, targets)
    escalation.id = 0
    minutes = targets[Urgency(escalation.urgency)]
    package = build_package(
        session=session,
        index=index,
        call=call,
        escalation=escalation,
        data=data,
        by=by,
        target=target,
        minutes=minutes,
    )
    return missing, package


def _fingerprint(data: EscalateRequest) -> str:
    """What identifies a request body, to tell a retry from another use of the same key."""
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


def _replayed(session: Session, call_id: int, key: str, fingerprint: str) -> Escalation | None:
    """The escalation an Idempotency-Key already made on this call, if any; the same key
    with another request is a 422 (the first escalation is not silently returned)."""
    found = session.scalars(
        select(Escalation).where(Escalation.call_id == call_id, Escalation.idempotency_key == key)
    ).first()
    if found is not None and found.request_hash not in (None, fingerprint):
        raise InvalidInput(
            f"Idempotency-Key {key!r} was already used on call {call_id} with another request",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "message": "already used with a different body; use a new key",
                }
            ],
        )
    return found


def escalate(
    *,
    session: Session,
    index: ArticleIndex,
    call_id: int,
    data: EscalateRequest,
    idempotency_key: str | None,
    principal: Principal,
    targets: dict[str, int],
) -> tuple[Escalation, bool]:
    """Warm transfer to tier 2; returns (escalation, created). A retried request with the
    same Idempotency-Key returns the first escalation, even when the two race."""
    call = get(session=session, call_id=call_id)
    fingerprint = _fingerprint(data)
    if idempotency_key:
        found = _replayed(session, call.id, idempotency_key, fingerprint)
        if found is not None:
            return found, False
    try:
        return _escalate(
            session, index, call, data, idempotency_key, fingerprint, principal, targets
        )
    except (IntegrityError, StaleDataError) as exc:
        if not idempotency_key:
            raise  # someone else moved the call meanwhile: a 409
        # the same key raced us and won: its escalation is the answer
        session.rollback()
        found = _replayed(session, call_id, idempotency_key, fingerprint)
        if found is None:
            raise Conflict(f"call {call_id} was changed by someone else meanwhile; reload") from exc
        return found, False


def _escalate(
    session: Session,
    index: ArticleIndex,
    call: Call,
    data: EscalateRequest,
    idempotency_key: str | None,
    fingerprint: str,
    principal: Principal,
    targets: dict[str, int],
) -> tuple[Escalation, bool]:
    by = acting_person(session, principal)
    if data.safety is None:
        missing = missing_for_escalation(
            session=session, call=call, nothing_applicable=data.nothing_applicable
        )
        if missing:
            raise InvalidInput(
                "the escalation is incomplete: " + "; ".join(m["message"] for m in missing),
                errors=missing,
            )
    escalation, target = _draft(session, call, data, by, targets)
    move(session, call, CallState.ESCALATED, principal, data.reason)
    escalation.idempotency_key = idempotency_key
    escalation.request_hash = fingerprint
    urgency = Urgency(escalation.urgency)
    session.add(escalation)
    session.flush()
    package = build_package(
        session=session,
        index=index,
        call=call,
        escalation=escalation,
        data=data,
        by=by,
        target=target,
        minutes=targets[urgency],
    )
    escalation.package = package.model_dump(mode="json")
    add_event(
        session,
        call,
        EventKind.ESCALATED,
        principal,
        escalation_id=escalation.id,
        reason=data.reason,
        urgency=urgency,
        engineer_id=escalation.target_person_id,
        queue=data.queue,
        safety=data.safety.model_dump() if data.safety else None,
    )
    webhook_service.emit(
        session=session,
        type=EventType.CALL_ESCALATED,
        payload=call_payload(
            session,
            call,
            CallEscalated,
            escalation_id=escalation.id,
            urgency=urgency,
            due_at=escalation.due_at,
            reason=escalation.reason,
            queue=escalation.queue,
            target_engineer=PersonRef(id=target.id, name=target.name) if target else None,
        ),
    )
    session.flush()
    return escalation, True


def get_escalation(*, session: Session, escalation_id: int) -> Escalation:
    """An escalation by id."""
    found = session.get(Escalation, escalation_id)
    if found is None:
        raise NotFound(f"no escalation with id {escalation_id}")
    return found


def minutes_left(escalation: Escalation, now: datetime | None = None) -> int:
    """Minutes until the response target (negative when overdue)."""
    return int(((escalation.due_at - (now or utcnow())).total_seconds()) // 60)


def _queue_item(e: Escalation, now: datetime) -> QueueItem:
    pkg = EscalationPackage.model_validate(e.package)
    site = " ".join(x for x in (pkg.site.hospital, pkg.site.department) if x) if pkg.site else ""
    asset = pkg.asset
    scanner = (
        " ".join(x for x in (asset.modality, asset.model, asset.serial_number) if x)
        if (asset)
        else ""
    )
    return QueueItem(
        escalation_id=e.id,
        call_id=e.call_id,
        urgency=Urgency(e.urgency),
        patient_impact=pkg.patient_impact,
        symptom=pkg.symptom,
        site=site or None,
        asset=scanner or None,
        target_engineer_id=e.target_person_id,
        waiting_minutes=int((now - e.created_at).total_seconds() // 60),
        minutes_left=minutes_left(e, now),
        created_at=e.created_at,
    )


def queue(*, session: Session, queue_name: str | None = None) -> list[QueueItem]:
    """Pending escalations, most urgent first, then oldest first."""
    stmt = select(Escalation).where(Escalation.status == EscalationStatus.PENDING)
    if queue_name:
        stmt = stmt.where(Escalation.queue == queue_name)
    items = list(session.scalars(stmt))
    items.sort(key=lambda e: (URGENCY_RANK[Urgency(e.urgency)], e.created_at, e.id))
    now = utcnow()
    return [_queue_item(e, now) for e in items]


def _only_the_target(escalation: Escalation, engineer: Person, principal: Principal) -> None:
    """An escalation addressed to one engineer is theirs to accept or decline (an admin
    may act for them); one sent to a queue is anyone's."""
    target = escalation.target_person_id
    if target not in (None, engineer.id) and not principal.is_admin:
        raise Forbidden(
            f"escalation {escalation.id} is addressed to person {target}; they accept or "
            "decline it (or hand it back to the queue)",
        )


def _taken(session: Session, escalation: Escalation) -> Conflict:
    """The refusal of an accept that came too late, naming who has it."""
    who = session.get(Person, escalation.accepted_by) if escalation.accepted_by else None
    return Conflict(
        f"escalation {escalation.id} is already {escalation.status}"
        + (f" by {who.name}" if who else ""),
        current_status=escalation.status,
    )


def accept(*, session: Session, escalation_id: int, principal: Principal) -> Escalation:
    """Tier 2 takes the call; exactly one engineer can win."""
    engineer = acting_person(session, principal)
    escalation = get_escalation(session=session, escalation_id=escalation_id)
    _only_the_target(escalation, engineer, principal)
    if not LIFECYCLE.can(EscalationStatus(escalation.status), E.ACCEPTED):
        raise _taken(session, escalation)
    # the single winner: a conditional update that only one transaction can make
    claimed = session.execute(
        update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.status == E.PENDING)
        .values(status=E.ACCEPTED, accepted_by=engineer.id, accepted_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        session.rollback()  # to read what the winner committed
        session.refresh(escalation)
        raise _taken(session, escalation)
    call = get(session=session, call_id=escalation.call_id)
    why = f"accepted escalation {escalation.id}"
    move(session, call, CallState.ACCEPTED, principal, why)
    set_owner(session, call, OwnerKind.CURRENT, engineer, Role.REMOTE_ENGINEER, why, principal)
    add_event(session, call, EventKind.ACCEPTED, principal, escalation_id=escalation.id)
    webhook_service.emit(
        session=session,
        type=EventType.CALL_ACCEPTED,
        payload=call_payload(
            session,
            call,
            CallAccepted,
            escalation_id=escalation.id,
            accepted_by=engineer.name,
            accepted_by_id=engineer.id,
        ),
    )
    session.flush()
    session.refresh(escalation)
    return escalation


def decline(
    *, session: Session, escalation_id: int, reason: str, principal: Principal
) -> Escalation:
    """Hand an escalation back to its queue (it stays pending for someone else)."""
    engineer = acting_person(session, principal)
    escalation = get_escalation(session=session, escalation_id=escalation_id)
    _only_the_target(escalation, engineer, principal)
    if escalation.status != EscalationStatus.PENDING:
        raise Conflict(
            f"escalation {escalation.id} is {escalation.status}, not pending",
            current_status=escalation.status,
        )
    escalation.target_person_id = None
    call = get(session=session, call_id=escalation.call_id)
    add_event(
        session,
        call,
        EventKind.DECLINED,
        principal,
        escalation_id=escalation.id,
        reason=reason,
        engineer_id=engineer.id,
    )
    webhook_service.emit(
        session=session,
        type=EventType.CALL_DECLINED,
        payload=call_payload(
            session,
            call,
            CallDeclined,
            escalation_id=escalation.id,
            declined_by=engineer.name,
            declined_by_id=engineer.id,
            reason=reason,
            queue=escalation.queue,
        ),
    )
    session.flush()
    return escalation
