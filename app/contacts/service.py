"""The customer contact log: callbacks promised to the customer (with a time and an owner)
and calls made to them (reached, left a message, no answer).

Every entry is a `note` on the call's timeline carrying `contact_id`, so the timeline
reads on its own. A callback still to make shows, once due within `DUE_WITHIN` or
overdue, in its owner's work and on the scanner's round of the primary engineer. A call
closed or cancelled takes no more entries; a resolved one does (the follow-up owner
calls to confirm the fix).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Person
from app.auth.schemas import PersonRead
from app.auth.service import Principal
from app.calls import service as call_service
from app.calls import work
from app.calls.models import Call, CallState, EventKind, OwnerKind
from app.contacts.models import ContactOutcome, CustomerContact
from app.contacts.schemas import (
    ContactCreate,
    ContactMade,
    ContactMadeRead,
    ContactRead,
    ContactStatus,
)
from app.db import isoformat, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.lifecycle import check_version

# how far ahead a callback counts as due (in the owner's work and the primary's round)
DUE_WITHIN = timedelta(hours=1)
MAX_AHEAD = timedelta(days=366)
# calls on which nothing more is logged
ENDED_CALLS = (CallState.CLOSED, CallState.CANCELLED)
# calls whose customer is still called back: until closed
FOLLOWED_CALLS = tuple(s for s in CallState if s not in ENDED_CALLS)
FIELDS = (
    "id",
    "call_id",
    "number",
    "contact_name",
    "scheduled_for",
    "made_at",
    "outcome",
    "notes",
    "created_at",
    "version",
)
SAID = {
    ContactOutcome.REACHED: "reached",
    ContactOutcome.LEFT_MESSAGE: "left a message",
    ContactOutcome.NO_ANSWER: "no answer",
}


# -- helpers ------------------------------------------------------------------------------


def is_overdue(contact: CustomerContact, now: datetime | None = None) -> bool:
    """Still to make and past its time."""
    late = contact.scheduled_for is not None and contact.scheduled_for < (now or utcnow())
    return contact.made_at is None and late


def is_due(contact: CustomerContact, now: datetime | None = None) -> bool:
    """Still to make, and due within `DUE_WITHIN` (or overdue)."""
    soon = (now or utcnow()) + DUE_WITHIN
    scheduled = contact.scheduled_for
    return contact.made_at is None and scheduled is not None and scheduled <= soon


def _person(session: Session, person_id: int | None) -> PersonRead | None:
    found = session.get(Person, person_id) if person_id is not None else None
    return PersonRead.model_validate(found) if found is not None else None


def read(session: Session, contact: CustomerContact) -> ContactRead:
    """The entry as the API shows it, with the people named."""
    now = utcnow()
    owner = _person(session, contact.owner_id)
    assert owner is not None  # a foreign key: the owner exists
    return ContactRead(
        **{c: getattr(contact, c) for c in FIELDS},
        status=ContactStatus.MADE if contact.made_at else ContactStatus.SCHEDULED,
        owner=owner,
        scheduled_by=_person(session, contact.scheduled_by),
        made_by=_person(session, contact.made_by),
        due=is_due(contact, now),
        overdue=is_overdue(contact, now),
    )


def _writable(session: Session, call_id: int, principal: Principal) -> Call:
    """The call, for someone who may write on it, while it still takes entries."""
    call = call_service.get(session=session, call_id=call_id)
    work.check_may_write(session, call, principal, "log customer contacts")
    if call.state in ENDED_CALLS:
        raise Conflict(
            f"call {call.id} is {call.state}; reopen it to log customer contacts",
            current_state=call.state,
        )
    return call


def _future(when: datetime, field: str, now: datetime) -> datetime:
    """`when` in UTC, refused (422 naming `field`) unless it is still to come, and within
    `MAX_AHEAD` (a year-9999 time would overflow on its way to UTC)."""
    ahead = when - now
    if ahead <= timedelta(0) or ahead > MAX_AHEAD:
        message = "must be in the future" if ahead <= timedelta(0) else "at most a year ahead"
        raise InvalidInput(
            f"{field} {when.isoformat()}: {message}",
            errors=[{"field": field, "message": message}],
        )
    return when.astimezone(UTC)


def _owner(session: Session, call: Call, owner_id: int | None, principal: Principal) -> Person:
    """Who makes the callback: the one named (active, else 422), else the call's follow-up
    owner, else the caller of the API."""
    if owner_id is not None:
        found = session.get(Person, owner_id)
        if found is None or not found.active:
            raise InvalidInput(
                f"person {owner_id} is not an active person",
                errors=[{"field": "owner_id", "message": "must be an active person"}],
            )
        return found
    follow = call_service.owner_interval(session, call.id, OwnerKind.FOLLOW_UP)
    if follow is not None:
        return call_service.person(session, follow.person_id)
    return call_service.acting_person(session, principal)


def _check_kind(data: ContactCreate) -> None:
    """Exactly one of a callback to make (`scheduled_for`) and a call made (`outcome`)."""
    both = data.scheduled_for is not None and data.outcome is not None
    if both or (data.scheduled_for is None and data.outcome is None):
        message = "not both" if both else "one is required"
        raise InvalidInput(
            "give scheduled_for (a callback to make) or outcome (a call made now): " + message,
            errors=[
                {"field": "scheduled_for", "message": message},
                {"field": "outcome", "message": message},
            ],
        )
    if data.outcome is not None and data.owner_id is not None:
        raise InvalidInput(
            "a call made now is logged as made by you: owner_id is for a scheduled callback",
            errors=[{"field": "owner_id", "message": "only with scheduled_for"}],
        )


def _scheduled_event(
    session: Session, call: Call, contact: CustomerContact, owner: Person, principal: Principal
) -> None:
    """The callback promised, on the call's timeline."""
    assert contact.scheduled_for is not None
    who = f" ({contact.contact_name})" if contact.contact_name else ""
    text = (
        f"Callback scheduled for {isoformat(contact.scheduled_for)} on "
        f"{contact.number or 'no number'}{who}, by {owner.name}"
    )
    call_service.add_event(
        session,
        call,
        EventKind.CONTACT,
        principal,
        text=f"{text}: {contact.notes}" if contact.notes else text,
        contact_id=contact.id,
        contact="scheduled",
        scheduled_for=isoformat(contact.scheduled_for),
        owner_id=owner.id,
        owner_name=owner.name,
        number=contact.number,
        contact_name=contact.contact_name,
    )


def _made_event(
    session: Session, call: Call, contact: CustomerContact, notes: str, principal: Principal
) -> None:
    """The call to the customer and how it went, on the call's timeline."""
    outcome = ContactOutcome(str(contact.outcome))
    who = f" ({contact.contact_name})" if contact.contact_name else ""
    text = f"Called the customer on {contact.number or 'no number'}{who}: {SAID[outcome]}"
    call_service.add_event(
        session,
        call,
        EventKind.CONTACT,
        principal,
        text=f"{text}: {notes}" if notes else text,
        contact_id=contact.id,
        contact="made",
        outcome=outcome,
        scheduled_for=isoformat(contact.scheduled_for),
        number=contact.number,
        contact_name=contact.contact_name,
    )


# -- logging ------------------------------------------------------------------------------


def _schedule(
    session: Session,
    call: Call,
    *,
    scheduled_for: datetime,
    owner: Person,
    number: str,
    contact_name: str,
    notes: str,
    principal: Principal,
) -> CustomerContact:
    contact = CustomerContact(
        call_id=call.id,
        owner_id=owner.id,
        number=number,
        contact_name=contact_name,
        scheduled_for=scheduled_for,
        scheduled_by=principal.person_id,
        notes=notes,
        created_at=utcnow(),
    )
    session.add(contact)
    session.flush()
    _scheduled_event(session, call, contact, owner, principal)
    return contact


def log(
    *, session: Session, call_id: int, data: ContactCreate, principal: Principal
) -> CustomerContact:
    """Schedule a callback to the customer, or log a call made to them just now."""
    call = _writable(session, call_id, principal)
    _check_kind(data)
    now = utcnow()
    number = call.callback_number if data.number is None else data.number
    name = call.caller_name if data.contact_name is None else data.contact_name
    if data.scheduled_for is not None:
        when = _future(data.scheduled_for, "scheduled_for", now)
        contact = _schedule(
            session,
            call,
            scheduled_for=when,
            owner=_owner(session, call, data.owner_id, principal),
            number=number,
            contact_name=name,
            notes=data.notes,
            principal=principal,
        )
    else:
        me = call_service.acting_person(session, principal)
        contact = CustomerContact(
            call_id=call.id,
            owner_id=me.id,
            number=number,
            contact_name=name,
            made_at=now,
            made_by=me.id,
            outcome=data.outcome,
            notes=data.notes,
            created_at=now,
        )
        session.add(contact)
        session.flush()
        _made_event(session, call, contact, data.notes, principal)
    session.flush()
    return contact


def get(*, session: Session, call_id: int, contact_id: int) -> CustomerContact:
    """An entry of a call's log (404 for an unknown call, or an entry of another call)."""
    call_service.get(session=session, call_id=call_id)
    contact = session.get(CustomerContact, contact_id)
    if contact is None or contact.call_id != call_id:
        raise NotFound(f"no contact {contact_id} on call {call_id}")
    return contact


def record_made(
    *,
    session: Session,
    call_id: int,
    contact_id: int,
    data: ContactMade,
    if_match: int | None,
    principal: Principal,
) -> tuple[CustomerContact, CustomerContact | None]:
    """A scheduled callback was made, with its outcome; `next_attempt_at` schedules the
    next one (same owner, number and contact). Returns both."""
    call = _writable(session, call_id, principal)
    contact = get(session=session, call_id=call_id, contact_id=contact_id)
    if contact.made_at is not None:
        raise Conflict(
            f"contact {contact.id} was made at {isoformat(contact.made_at)} "
            f"({contact.outcome}); nothing more to do on it",
            made_at=isoformat(contact.made_at),
            outcome=contact.outcome,
            allowed=[],
        )
    check_version(f"contact {contact.id}", contact.version, if_match, required=False)
    now = utcnow()
    when = None
    if data.next_attempt_at is not None:
        when = _future(data.next_attempt_at, "next_attempt_at", now)
    me = call_service.acting_person(session, principal)
    contact.made_at = now
    contact.made_by = me.id
    contact.outcome = data.outcome
    if data.notes:
        # what the callback was for stays, what was said follows it
        contact.notes = f"{contact.notes}\n{data.notes}" if contact.notes else data.notes
    session.flush()
    _made_event(session, call, contact, data.notes, principal)
    following = None
    if when is not None:
        following = _schedule(
            session,
            call,
            scheduled_for=when,
            owner=call_service.person(session, contact.owner_id),
            number=contact.number,
            contact_name=contact.contact_name,
            notes=f"next attempt after {SAID[data.outcome]}",
            principal=principal,
        )
    session.flush()
    return contact, following


def made_read(
    session: Session, contact: CustomerContact, following: CustomerContact | None
) -> ContactMadeRead:
    """The made callback and its follower as the API shows them."""
    return ContactMadeRead(
        made=read(session, contact),
        next_attempt=read(session, following) if following is not None else None,
    )


# -- reading ------------------------------------------------------------------------------


def contact_log(*, session: Session, call_id: int) -> list[ContactRead]:
    """The call's contact log, oldest first (404 for an unknown call); also what the
    escalation package carries."""
    call_service.get(session=session, call_id=call_id)
    contacts = session.scalars(
        select(CustomerContact)
        .where(CustomerContact.call_id == call_id)
        .order_by(CustomerContact.id)
    )
    return [read(session, c) for c in contacts]


def due_callbacks(
    *,
    session: Session,
    owner_id: int | None = None,
    asset_id: int | None = None,
    now: datetime | None = None,
) -> list[ContactRead]:
    """Callbacks still to make and due within `DUE_WITHIN` (or overdue), soonest first, on
    calls not yet closed; by owner or by the call's scanner."""
    stmt = (
        select(CustomerContact)
        .join(Call, Call.id == CustomerContact.call_id)
        .where(
            CustomerContact.made_at.is_(None),
            CustomerContact.scheduled_for <= (now or utcnow()) + DUE_WITHIN,
            Call.state.in_(FOLLOWED_CALLS),
        )
        .order_by(CustomerContact.scheduled_for, CustomerContact.id)
    )
    if owner_id is not None:
        stmt = stmt.where(CustomerContact.owner_id == owner_id)
    if asset_id is not None:
        stmt = stmt.where(Call.asset_id == asset_id)
    return [read(session, c) for c in session.scalars(stmt)]
