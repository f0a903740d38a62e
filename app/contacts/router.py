"""The customer contact log of a call over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.contacts import service
from app.contacts.schemas import ContactCreate, ContactMade, ContactMadeRead, ContactRead
from app.deps import DbSession, IfMatch, Route, set_etag
from app.schemas import DbId

router = APIRouter(tags=["calls"], route_class=Route)
Reader = Annotated[Principal, permit(P.CALLS_READ)]
Writer = Annotated[Principal, permit(P.CALLS_NOTE)]


@router.get("/calls/{call_id}/contacts", summary="The customer contact log")
def contact_log(call_id: DbId, session: DbSession, _: Reader) -> list[ContactRead]:
    """Callbacks scheduled and calls made to the customer, oldest first: each with its
    owner, number and contact, whether it was made and how it went (reached, left a
    message, no answer), and whether it is due (within the hour) or overdue."""
    return service.contact_log(session=session, call_id=call_id)


@router.post(
    "/calls/{call_id}/contacts",
    status_code=status.HTTP_201_CREATED,
    summary="Schedule a callback or log a call made",
)
def log_contact(
    call_id: DbId,
    data: ContactCreate,
    response: Response,
    session: DbSession,
    principal: Writer,
) -> ContactRead:
    """Either `scheduled_for` (a callback, in the future; `owner_id` defaults to the
    call's follow-up owner, an active person) or `outcome` (a call made now, by you):
    exactly one of them, else a 422 naming both. The number defaults to the call's
    callback number, the contact to the caller. By anyone working the call, or noting it
    (`calls:note`: a field engineer on a call of a scanner they look after or a call
    they own). Allowed on a resolved call (the follow-up owner confirms the fix with the
    customer); a closed or cancelled call is a 409. On the timeline as a note."""
    contact = service.log(session=session, call_id=call_id, data=data, principal=principal)
    response.headers["Location"] = f"/calls/{call_id}/contacts/{contact.id}"
    set_etag(response, contact.version)
    return service.read(session, contact)


@router.get("/calls/{call_id}/contacts/{contact_id}", summary="Read a contact")
def read_contact(
    call_id: DbId, contact_id: DbId, response: Response, session: DbSession, _: Reader
) -> ContactRead:
    """One entry of the log; the ETag is its version, for If-Match when it is made."""
    contact = service.get(session=session, call_id=call_id, contact_id=contact_id)
    set_etag(response, contact.version)
    return service.read(session, contact)


@router.post("/calls/{call_id}/contacts/{contact_id}/made", summary="Record a callback made")
def record_made(
    call_id: DbId,
    contact_id: DbId,
    data: ContactMade,
    response: Response,
    session: DbSession,
    principal: Writer,
    if_match: IfMatch,
) -> ContactMadeRead:
    """The scheduled callback was made, by you, with its outcome and notes;
    `next_attempt_at` (in the future) schedules the next one in the same request, for
    the same owner, number and contact. One already made is a 409 (nothing more to do on
    it); a stale If-Match a 412. Same permissions and call states as logging."""
    contact, following = service.record_made(
        session=session,
        call_id=call_id,
        contact_id=contact_id,
        data=data,
        if_match=if_match,
        principal=principal,
    )
    set_etag(response, contact.version)
    return service.made_read(session, contact, following)
