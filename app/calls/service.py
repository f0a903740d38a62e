"""Calls: opening, reading, the lifecycle's moves, ownership and the timeline.

The other flows of a call have modules of their own beside this one: `resolution` (its
ends: resolve, close, reopen, cancel), `work` (in-call search, articles opened and tried,
notes), `escalation` (the warm transfer to tier 2 and its queue, with the package built
in `package`) and `reuse` (what the library learns from calls). They share the helpers
here.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.assets import service as asset_service
from app.assets.models import Asset, Site
from app.auth.models import Person
from app.auth.permissions import Role
from app.auth.service import Principal
from app.calls.history import repeat_fault, scanner_history
from app.calls.models import (
    DETAIL_FIELDS,
    Call,
    CallArticle,
    CallEvent,
    CallState,
    Escalation,
    EventKind,
    OwnerKind,
    Ownership,
)
from app.calls.schemas import CallCreate
from app.db import utcnow
from app.errors import InvalidInput, NotFound
from app.later import wait_for_records
from app.lifecycle import Lifecycle
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from app.webhooks.payloads import CallOpened, CallPayload, PersonRef, ScannerRef, SiteRef

S = CallState
LIFECYCLE = Lifecycle(
    "call",
    {
        S.OPEN: frozenset({S.RESOLVED, S.ESCALATED, S.CANCELLED}),
        S.ESCALATED: frozenset({S.ACCEPTED, S.CANCELLED}),
        S.ACCEPTED: frozenset({S.RESOLVED, S.FIELD, S.CANCELLED}),
        # a work order completed resolves the call; returned, it goes back to tier 2
        S.FIELD: frozenset({S.RESOLVED, S.ACCEPTED, S.CANCELLED}),
        S.RESOLVED: frozenset({S.CLOSED, S.OPEN}),
        S.CLOSED: frozenset({S.OPEN}),
        S.CANCELLED: frozenset({S.OPEN}),
    },
    field="state",
)
CALL_FIELDS = (
    "id",
    "state",
    "caller_name",
    "callback_number",
    "modality",
    "symptom",
    "urgency",
    "patient_impact",
    "opened_at",
    "resolved_at",
    "resolved_tier",
    "fixed_by_article_id",
    "resolution_reason",
    "resolution_notes",
    "draft_article_id",
    "cancel_reason",
    "cancel_note",
    "version",
    *DETAIL_FIELDS,
)
OWNERSHIP_FIELDS = ("kind", "person_id", "role", "started_at", "ended_at", "reason")


# -- helpers shared by the call's flows ---------------------------------------------------


def person(session: Session, person_id: int) -> Person:
    """A person by id (404 when unknown)."""
    found = session.get(Person, person_id)
    if found is None:
        raise NotFound(f"no person with id {person_id}")
    return found


def acting_person(session: Session, principal: Principal) -> Person:
    """Call work is done by people: an integration client must name one."""
    if principal.person_id is None:
        raise InvalidInput(
            "this action needs a person's key (integration clients cannot own calls)",
            errors=[{"field": "key", "message": "use a person's API key"}],
        )
    return person(session, principal.person_id)


def add_event(
    session: Session, call: Call, kind: EventKind, principal: Principal, **data: Any
) -> CallEvent:
    """Append one entry to the call's timeline."""
    event = CallEvent(
        call_id=call.id,
        kind=kind,
        actor_id=principal.person_id,
        actor_name=principal.name,
        at=utcnow(),
        data=data,
    )
    session.add(event)
    return event


def owner_interval(session: Session, call_id: int, kind: OwnerKind) -> Ownership | None:
    """The open ownership interval of one kind."""
    return session.scalars(
        select(Ownership).where(
            Ownership.call_id == call_id, Ownership.kind == kind, Ownership.ended_at.is_(None)
        )
    ).first()


def set_owner(
    session: Session,
    call: Call,
    kind: OwnerKind,
    owner: Person,
    role: str,
    reason: str,
    principal: Principal,
) -> None:
    """End the current interval of this kind and start one for `owner` (kept on the
    timeline); nothing happens when `owner` already holds it."""
    now = utcnow()
    current = owner_interval(session, call.id, kind)
    if current is not None:
        if current.person_id == owner.id:
            return
        current.ended_at = now
    session.add(
        Ownership(
            call_id=call.id,
            kind=kind,
            person_id=owner.id,
            role=role,
            started_at=now,
            reason=reason,
        )
    )
    add_event(
        session,
        call,
        EventKind.OWNER_CHANGED,
        principal,
        owner_kind=str(kind),
        person_id=owner.id,
        person_name=owner.name,
        reason=reason,
        previous_person_id=current.person_id if current else None,
    )


def move(session: Session, call: Call, target: CallState, principal: Principal, why: str) -> None:
    """Move the call along its lifecycle (409 for an illegal move), on the timeline."""
    current = LIFECYCLE.move(call, target)
    add_event(
        session,
        call,
        EventKind.STATE_CHANGED,
        principal,
        **{"from": current, "to": target, "reason": why},
    )


def link(session: Session, call_id: int, article_id: int) -> CallArticle:
    """What happened to one article on one call (created on first use)."""
    found = session.get(CallArticle, (call_id, article_id))
    if found is None:
        # two requests on one call at once (a double click, a search beside an attempt)
        # may both create it: the later one waits for the first and finds its row
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(CallArticle)
            .values(call_id=call_id, article_id=article_id, suggested=0, opened=False)
            .on_conflict_do_nothing()
        )
        found = session.get(CallArticle, (call_id, article_id))
        assert found is not None
    return found


P = TypeVar("P", bound=CallPayload)


def _opened_fields(call: Call) -> dict[str, Any]:
    """What the call's "opened" entry and every call event say of the call itself."""
    return {
        "call_id": call.id,
        "state": call.state,
        "urgency": call.urgency,
        "patient_impact": call.patient_impact,
        "asset_id": call.asset_id,
        "site_id": call.site_id,
        "symptom": call.symptom,
    }


def call_payload(session: Session, call: Call, event: type[P], **more: Any) -> P:
    """The call as webhook events carry it, as the payload model `event` with that
    event's own fields `more` (no customer contact data: receivers are not vetted for it)."""
    asset = session.get(Asset, call.asset_id) if call.asset_id is not None else None
    site = asset.site if asset else session.get(Site, call.site_id) if call.site_id else None
    current = owner_interval(session, call.id, OwnerKind.CURRENT)
    owner = session.get(Person, current.person_id) if current else None
    fields: dict[str, Any] = {
        **_opened_fields(call),
        "modality": call.modality,
        "scanner": None,
        "site": SiteRef(id=site.id, hospital=site.hospital, department=site.department)
        if site
        else None,
        "owner": PersonRef(id=owner.id, name=owner.name) if owner else None,
        "primary_engineer": None,
    }
    if asset is not None:
        fields["scanner"] = ScannerRef(
            id=asset.id,
            serial_number=asset.serial_number,
            manufacturer=asset.manufacturer,
            model=asset.model,
            modality=asset.modality,
            room=asset.room,
            site_name=", ".join(x for x in (asset.site.hospital, asset.site.department) if x),
        )
        primary = asset.primary_engineer
        fields["primary_engineer"] = PersonRef(id=primary.id, name=primary.name)
    return event(**fields | more)


def role_of(someone: Person) -> str:
    """The role a person acts in when they take a call over."""
    return someone.roles[0] if someone.roles else "unknown"


# -- the lifecycle -----------------------------------------------------------------------


def _scanner(session: Session, data: CallCreate) -> Asset | None:
    """The scanner the caller named, or None when only a site and modality are known."""
    asset: Asset | None = None
    if data.asset_id is not None:
        asset = asset_service.get_asset(session=session, asset_id=data.asset_id)
    elif data.serial_number:
        asset = asset_service.get_by_serial(session=session, serial_number=data.serial_number)
    if asset is None and (data.site_id is None or data.modality is None):
        raise InvalidInput(
            "say which scanner: asset_id or serial_number, or site_id and modality",
            errors=[{"field": "asset_id", "message": "or serial_number, or site_id + modality"}],
        )
    if asset is None and data.site_id is not None:
        asset_service.get_site(session=session, site_id=data.site_id)
    return asset


def open_call(*, session: Session, data: CallCreate, principal: Principal) -> Call:
    """Open a call; the opener (or `owner_id`) owns it, the scanner's primary engineer
    follows up."""
    owner_id = data.owner_id or principal.person_id
    if owner_id is None:
        raise InvalidInput(
            "an integration client must say which dispatcher owns the call",
            errors=[{"field": "owner_id", "message": "required for client keys"}],
        )
    owner = person(session, owner_id)
    asset = _scanner(session, data)
    call = Call(
        caller_name=data.caller_name,
        callback_number=data.callback_number,
        asset_id=asset.id if asset else None,
        site_id=asset.site_id if asset else data.site_id,
        modality=asset.modality if asset else data.modality,
        symptom=data.symptom,
        urgency=data.urgency,
        patient_impact=data.patient_impact,
        state=CallState.OPEN,
        opened_by=owner.id,
        opened_at=utcnow(),
        **{name: getattr(data, name) for name in DETAIL_FIELDS},
    )
    session.add(call)
    session.flush()
    opened = _opened_fields(call)
    contact = {"caller_name": call.caller_name, "callback_number": call.callback_number}
    add_event(session, call, EventKind.OPENED, principal, **opened, **contact)
    set_owner(
        session, call, OwnerKind.CURRENT, owner, Role.DISPATCHER, "opened the call", principal
    )
    follow = asset.primary_engineer if asset else owner
    set_owner(
        session,
        call,
        OwnerKind.FOLLOW_UP,
        follow,
        Role.FIELD_ENGINEER if asset else Role.DISPATCHER,
        "primary engineer of the scanner" if asset else "no scanner known: the opener",
        principal,
    )
    webhook_service.emit(
        session=session,
        type=EventType.CALL_OPENED,
        payload=call_payload(session, call, CallOpened),
    )
    session.flush()
    return call


def get(*, session: Session, call_id: int) -> Call:
    """A call by id (with any search record still on its way: `app/later.py`)."""
    wait_for_records(session, call_id)
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call with id {call_id}")
    return call


def list(
    *,
    session: Session,
    state: CallState | None = None,
    states: Iterable[CallState] | None = None,
    owner_id: int | None = None,
    asset_id: int | None = None,
    follow_up_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> builtins.list[tuple[Call, str]]:
    """Calls (newest first) with the current owner's name; by state (or any of
    `states`), current owner, scanner or follow-up owner."""
    stmt = (
        select(Call, Person.name)
        .join(
            Ownership,
            (Ownership.call_id == Call.id)
            & (Ownership.kind == OwnerKind.CURRENT)
            & Ownership.ended_at.is_(None),
        )
        .join(Person, Person.id == Ownership.person_id)
        .order_by(Call.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if state:
        stmt = stmt.where(Call.state == state)
    if states is not None:
        stmt = stmt.where(Call.state.in_(builtins.list(states)))
    if owner_id is not None:
        stmt = stmt.where(Ownership.person_id == owner_id)
    if asset_id is not None:
        stmt = stmt.where(Call.asset_id == asset_id)
    if follow_up_id is not None:
        follow = select(Ownership.call_id).where(
            Ownership.kind == OwnerKind.FOLLOW_UP,
            Ownership.ended_at.is_(None),
            Ownership.person_id == follow_up_id,
        )
        stmt = stmt.where(Call.id.in_(follow))
    return [(c, n) for c, n in session.execute(stmt).all()]


def _ownership(session: Session, call: Call, asset: Asset | None) -> dict[str, Any]:
    """The owners now and every ownership interval, with names."""
    history = session.scalars(
        select(Ownership).where(Ownership.call_id == call.id).order_by(Ownership.id)
    ).all()
    ids = {h.person_id for h in history}
    names = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ids)))}
    current = owner_interval(session, call.id, OwnerKind.CURRENT)
    follow = owner_interval(session, call.id, OwnerKind.FOLLOW_UP)
    assert current is not None
    assert follow is not None
    return {
        "owners": {
            "current": names[current.person_id],
            "follow_up": names[follow.person_id],
            "primary_engineer": asset.primary_engineer if asset else None,
        },
        "ownership_history": [
            {
                **{c: getattr(h, c) for c in OWNERSHIP_FIELDS},
                "person_name": names[h.person_id].name,
            }
            for h in history
        ],
    }


def view(*, session: Session, call_id: int) -> dict[str, Any]:
    """Everything the call screen shows: owners, timeline, ownership history."""
    call = get(session=session, call_id=call_id)
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    site = session.get(Site, call.site_id) if call.site_id else None
    events = session.scalars(
        select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
    ).all()
    escalations = session.scalars(
        select(Escalation.id).where(Escalation.call_id == call.id).order_by(Escalation.id)
    ).all()
    return {
        **{c: getattr(call, c) for c in CALL_FIELDS},
        "allowed_transitions": LIFECYCLE.allowed(CallState(call.state)),
        "site": site,
        "asset": asset,
        **_ownership(session, call, asset),
        "scanner_history": scanner_history(session, call),
        "repeat_fault": repeat_fault(session, call),
        "timeline": events,
        "escalation_ids": builtins.list(escalations),
    }


def set_follow_up(
    *, session: Session, call_id: int, person_id: int, reason: str, principal: Principal
) -> Call:
    """Hand the follow-up (keeping the customer informed) to someone else."""
    call = get(session=session, call_id=call_id)
    someone = person(session, person_id)
    why = reason or "reassigned"
    set_owner(session, call, OwnerKind.FOLLOW_UP, someone, role_of(someone), why, principal)
    session.flush()
    return call
