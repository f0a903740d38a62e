"""The call screen's customer contact log: callbacks promised, calls made and how they
went (the other side panels are in `call_panels`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import ValidationError

from app.contacts import service as contact_service
from app.contacts.models import ContactOutcome
from app.contacts.schemas import ContactCreate, ContactMade
from app.deps import Route
from app.errors import DomainError, InvalidInput
from app.schemas import DbId
from app.web.call_panels import Noter, Short, Stamp, Text, Version, answer, aware, refused

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)


@router.post("/calls/{call_id}/callbacks")
def schedule_callback(
    call_id: DbId,
    ui: Noter,
    scheduled_for: Stamp = "",
    scheduled_tz: Stamp = "",
    owner_id: Stamp = "",
    number: Annotated[str, Form(max_length=40)] = "",
    notes: Text = "",
) -> Response:
    """Promise the customer a callback: when, by whom (the follow-up owner unless
    chosen), on which number (the call's unless given)."""
    values = {"scheduled_for": scheduled_for, "scheduled_tz": scheduled_tz}
    values |= {"owner_id": owner_id, "number": number, "notes": notes}
    try:
        when = aware(scheduled_for, scheduled_tz, "scheduled_for", "say when to call back")
        data = ContactCreate(
            scheduled_for=when,
            owner_id=int(owner_id) if owner_id.isdigit() else None,
            number=number.strip() or None,
            notes=notes,
        )
        contact_service.log(
            session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal
        )
    except (ValidationError, DomainError) as exc:
        return answer(ui, call_id, "contacts", "", refused("schedule", exc, values))
    return answer(ui, call_id, "contacts", "scheduled", None)


def _outcome(outcome: str) -> ContactOutcome:
    if outcome not in ContactOutcome.__members__.values():
        message = "choose how the call went"
        raise InvalidInput(message, errors=[{"field": "outcome", "message": message}])
    return ContactOutcome(outcome)


@router.post("/calls/{call_id}/contacts")
def log_call_made(call_id: DbId, ui: Noter, call_outcome: Short = "", notes: Text = "") -> Response:
    """A call to the customer made just now, and how it went."""
    values = {"outcome": call_outcome, "notes": notes}
    try:
        data = ContactCreate(outcome=_outcome(call_outcome), notes=notes)
        contact_service.log(
            session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal
        )
    except (ValidationError, DomainError) as exc:
        return answer(ui, call_id, "contacts", "", refused("made-now", exc, values))
    return answer(ui, call_id, "contacts", "logged", None)


@router.post("/calls/{call_id}/contacts/{contact_id}/made")
def record_made(
    call_id: DbId,
    contact_id: DbId,
    ui: Noter,
    version: Version = None,
    call_outcome: Short = "",
    notes: Text = "",
) -> Response:
    """The scheduled callback was made, with how it went."""
    values = {"outcome": call_outcome, "notes": notes}
    try:
        data = ContactMade(outcome=_outcome(call_outcome), notes=notes)
        contact_service.record_made(
            session=ui.session,
            call_id=call_id,
            contact_id=contact_id,
            data=data,
            if_match=version,
            principal=ui.signed.principal,
        )
    except (ValidationError, DomainError) as exc:
        problem = refused(f"contact-{contact_id}", exc, values)
        return answer(ui, call_id, "contacts", "", problem)
    return answer(ui, call_id, "contacts", "made", None)
