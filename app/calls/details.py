"""What the caller tells beyond the symptom, corrected or completed while the call is
worked: every change is on the timeline, and an edit names the version it is based on."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.calls.models import Call, CallState, EventKind
from app.calls.schemas import CallUpdate
from app.calls.service import add_event, get
from app.errors import Conflict
from app.lifecycle import check_version

S = CallState
# the states in which a call is still being worked (and so can be edited)
WORKING = frozenset({S.OPEN, S.ESCALATED, S.ACCEPTED, S.FIELD})


def edit(
    *, session: Session, call_id: int, data: CallUpdate, if_match: int | None, principal: Principal
) -> Call:
    """Correct or complete what the caller said; each change goes on the timeline."""
    call = get(session=session, call_id=call_id)
    check_version(f"call {call.id}", call.version, if_match, required=True)
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
