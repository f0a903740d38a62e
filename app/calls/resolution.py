"""The ends of a call: resolved (by article or notes, at the tier it is with), closed,
reopened, cancelled. What ending a call does to the work hanging off it is in `ending`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.articles import service as article_service
from app.auth.service import Principal
from app.calls import past
from app.calls.models import (
    AttemptOutcome,
    Call,
    CallState,
    Escalation,
    EscalationStatus,
    EventKind,
    OwnerKind,
)
from app.calls.schemas import CancelRequest, ResolveRequest
from app.calls.service import (
    acting_person,
    add_event,
    call_payload,
    get,
    link,
    move,
    role_of,
    set_owner,
)
from app.db import utcnow
from app.errors import InvalidInput
from app.learning import service as learning
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from app.webhooks.payloads import CallCancelled, CallResolved

# who resolves a call in each state: tier 1 at the desk, tier 2 remotely, tier 3 on site
TIERS = {CallState.ACCEPTED: 2, CallState.FIELD: 3}


def _close_escalations(session: Session, call: Call) -> None:
    """Every escalation of the call still pending or accepted is closed with it."""
    session.execute(
        update(Escalation)
        .where(Escalation.call_id == call.id, Escalation.status != EscalationStatus.CLOSED)
        .values(status=EscalationStatus.CLOSED)
        .execution_options(synchronize_session=False)
    )


def resolve(*, session: Session, call_id: int, data: ResolveRequest, principal: Principal) -> Call:
    """Tier 1 names the fixing article; tier 2 gives resolution notes."""
    call = get(session=session, call_id=call_id)
    tier = TIERS.get(CallState(call.state), 1)
    if tier == 1 and data.article_id is None and data.reason is None:
        raise InvalidInput(
            "tier 1 resolves by naming the article that fixed it, or how it was resolved",
            errors=[{"field": "article_id", "message": "or a reason, at tier 1"}],
        )
    if tier > 1 and not data.notes:
        raise InvalidInput(
            f"tier {tier} resolves with resolution notes",
            errors=[{"field": "notes", "message": f"required at tier {tier}"}],
        )
    why = data.notes or (str(data.reason) if data.reason else "fixed by article")
    move(session, call, CallState.RESOLVED, principal, why)
    if data.article_id is not None:
        article = article_service.get(session=session, ref=data.article_id)
        fixed = link(session, call.id, article.id)
        fixed.outcome = AttemptOutcome.FIXED
        fixed.outcome_at, fixed.outcome_by = utcnow(), principal.person_id
        learning.changed(session=session, article_id=article.id)
        fixed.fixed_tier = tier
        call.fixed_by_article_id = article.id
    call.resolution_reason = data.reason
    call.resolution_notes = data.notes
    call.resolved_tier = tier
    call.resolved_at = utcnow()
    _close_escalations(session, call)
    notes: dict[str, Any] = {"tier": tier, "article_id": data.article_id, "notes": data.notes}
    notes["reason"] = data.reason
    add_event(session, call, EventKind.RESOLVED, principal, **notes)
    past.resolved(session=session, call_id=call.id)  # similar past calls
    webhook_service.emit(
        session=session,
        type=EventType.CALL_RESOLVED,
        payload=call_payload(session, call, CallResolved, **notes),
    )
    session.flush()
    return call


def close(*, session: Session, call_id: int, principal: Principal) -> Call:
    """Close a resolved call."""
    call = get(session=session, call_id=call_id)
    move(session, call, CallState.CLOSED, principal, "closed")
    call.closed_at = utcnow()
    session.flush()
    return call


def reopen(*, session: Session, call_id: int, reason: str, principal: Principal) -> Call:
    """Reopen a resolved or closed call at tier 1; the reopener owns it."""
    call = get(session=session, call_id=call_id)
    someone = acting_person(session, principal)
    move(session, call, CallState.OPEN, principal, reason or "reopened")
    if call.fixed_by_article_id is not None:
        fixed = link(session, call.id, call.fixed_by_article_id)
        fixed.fixed_tier = None
        fixed.outcome = fixed.outcome_at = fixed.outcome_by = None
        learning.changed(session=session, article_id=fixed.article_id)
    call.fixed_by_article_id = None
    past.reopened(session=session, call_id=call.id)
    call.resolved_at = call.closed_at = call.resolved_tier = call.cancelled_at = None
    call.resolution_reason = call.cancel_reason = call.cancel_note = None
    why = reason or "reopened"
    set_owner(session, call, OwnerKind.CURRENT, someone, role_of(someone), why, principal)
    session.flush()
    return call


def cancel(*, session: Session, call_id: int, data: CancelRequest, principal: Principal) -> Call:
    """End a call without a repair (a duplicate, a wrong number, withdrawn by the customer)."""
    call = get(session=session, call_id=call_id)
    move(session, call, CallState.CANCELLED, principal, f"{data.reason}: {data.note}".rstrip(": "))
    call.cancel_reason = data.reason
    call.cancel_note = data.note or None
    call.cancelled_at = utcnow()
    _close_escalations(session, call)
    add_event(session, call, EventKind.CANCELLED, principal, reason=data.reason, note=data.note)
    webhook_service.emit(
        session=session,
        type=EventType.CALL_CANCELLED,
        payload=call_payload(session, call, CallCancelled, reason=data.reason, note=data.note),
    )
    session.flush()
    return call
