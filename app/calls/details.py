"""What the caller tells beyond the symptom, corrected or completed while the call is
worked: every change is on the timeline, and an edit names the version it is based on."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.calls.models import Call, CallState, EventKind
from app.calls.schemas import CallUpdate
from app.calls.service import add_event, get
from app.errors import Conflict, PreconditionFailed, PreconditionRequired

S = CallState
# the states in which a call is still being worked (and so can be edited)
WORKING = frozenset({S.OPEN, S.ESCALATED, S.ACCEPTED, S.FIELD})


def check_version(call: Call, if_match: int | None) -> None:
    """An edit names the version it was based on (If-Match); a stale one is refused."""
    if if_match is None:
        raise PreconditionRequired(
            f'say which version you edited: send If-Match: "{call.version}"',
            current_version=call.version,
        )
    if if_match != call.version:
        raise PreconditionFailed(
            f"call {call.id} is at version {call.version} but your edit was based on "
            f"version {if_match}; reload it, reapply your change and retry",
            current_version=call.version,
            your_version=if_match,
        )


def edit(
    *, session: Session, call_id: int, data: CallUpdate, if_match: int | None, principal: Principal
) -> Call:
    """Correct or complete what the caller said; each change goes on the timeline."""
    call = get(session=session, call_id=call_id)
    check_version(call, if_match)
    if CallState(call.state) not in WORKING:
        raise Conflict(
            f"call {call.id} is {call.state}: reopen it to change it", current_state=call.state
        )
    changes = {
        name: {"from": getattr(call, name), "to": value}
        for name, value in data.model_dump(exclude_unset=True, mode="json").items()
        if getattr(call, name) != value
    }
    if not changes:
        return call
    for name, change in changes.items():
        setattr(call, name, change["to"])
    add_event(session, call, EventKind.EDITED, principal, changes=changes)
    session.flush()
    return call
