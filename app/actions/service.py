"""Actions: anyone working a call gives a task on it to a person, with a due time; the
assignee owns it, acknowledges and completes it; the assigner (or an admin) may cancel it.

Every step is an `action` entry on the call's timeline and an `action.assigned` /
`action.updated` webhook event naming the scanner's primary engineer, who is informed
that way. Lists are soonest due first, so what is overdue comes first.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, not_, select
from sqlalchemy.orm import Session

from app.actions.models import Action, ActionState
from app.actions.schemas import ActionCreate
from app.assets.models import Asset
from app.auth.models import Person
from app.auth.service import Principal
from app.calls import service as call_service
from app.calls import work
from app.calls.models import Call, CallState, EventKind
from app.contacts import service as contact_service
from app.contacts.schemas import ContactRead
from app.db import isoformat, utcnow
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.lifecycle import Lifecycle, check_version
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from app.webhooks.payloads import ACTION_EVENTS, ActionPayload, CallPayload
from app.workorders import service as workorder_service
from app.workorders.models import WorkOrder

A = ActionState
T = TypeVar("T")
LIFECYCLE = Lifecycle(
    "action",
    {
        A.OPEN: frozenset({A.ACKNOWLEDGED, A.CANCELLED}),
        A.ACKNOWLEDGED: frozenset({A.DONE, A.CANCELLED}),
        A.DONE: frozenset(),
        A.CANCELLED: frozenset(),
    },
    field="state",
)
LIVE_STATES = (A.OPEN, A.ACKNOWLEDGED)
# calls on which nothing more is to be done
ENDED_CALLS = (CallState.CLOSED, CallState.CANCELLED)
WORKING_CALLS = (CallState.OPEN, CallState.ESCALATED, CallState.ACCEPTED, CallState.FIELD)
FIELDS = (
    "id",
    "call_id",
    "asset_id",
    "title",
    "details",
    "state",
    "assigned_at",
    "due_at",
    "acknowledged_at",
    "completed_at",
    "outcome",
    "cancelled_at",
    "cancel_reason",
    "version",
)


# -- helpers ------------------------------------------------------------------------------


def is_overdue(action: Action, now: datetime | None = None) -> bool:
    """Still to be done and past its due time."""
    return action.state in LIVE_STATES and action.due_at < (now or utcnow())


def _primary(session: Session, call: Call) -> Person | None:
    """The scanner's primary engineer, who is informed of every action on its calls."""
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    return asset.primary_engineer if asset else None


AP = TypeVar("AP", bound=ActionPayload)


def payload(session: Session, action: Action, call: Call, event: type[AP], **more: Any) -> AP:
    """The action as webhook events carry it, as the payload model `event` (with that
    event's own fields `more`): enough to act without calling back."""
    assignee, assigner, primary = action.assignee, action.assigner, _primary(session, call)
    fields: dict[str, Any] = {
        "action_id": action.id,
        "call_id": action.call_id,
        "asset_id": action.asset_id,
        "title": action.title,
        "details": action.details,
        "state": action.state,
        "assignee_id": assignee.id,
        "assignee_name": assignee.name,
        "assignee_phone": assignee.phone,
        "assigned_by_id": assigner.id,
        "assigned_by_name": assigner.name,
        "due_at": action.due_at,
        "overdue": is_overdue(action),
        "acknowledged_at": action.acknowledged_at,
        "completed_at": action.completed_at,
        "outcome": action.outcome,
        "cancel_reason": action.cancel_reason,
        "primary_engineer_id": primary.id if primary else None,
        "primary_engineer_name": primary.name if primary else None,
        "call": call_service.call_payload(session, call, CallPayload),
    }
    return event(**fields | more)


def _step(
    session: Session,
    action: Action,
    call: Call,
    principal: Principal,
    type: EventType,
    **data: Any,
) -> None:
    """One step of the action on its call's timeline and as a webhook event, in the same
    transaction as the change."""
    call_service.add_event(
        session,
        call,
        EventKind.ACTION,
        principal,
        action_id=action.id,
        state=action.state,
        title=action.title,
        assignee_id=action.assignee_id,
        assignee_name=action.assignee.name,
        due_at=isoformat(action.due_at),
        **data,
    )
    webhook_service.emit(
        session=session, type=type, payload=payload(session, action, call, ACTION_EVENTS[type])
    )
    session.flush()


def _for_assignee(
    session: Session, action_id: int, if_match: int | None, principal: Principal
) -> Action:
    """The action, for its assignee (or an admin) at the version they saw."""
    action = get(session=session, action_id=action_id)
    if principal.person_id != action.assignee_id and not principal.is_admin:
        raise Forbidden(
            f"action {action.id} is assigned to {action.assignee.name}; only they (or an "
            "admin) may work it",
            assignee_id=action.assignee_id,
        )
    check_version(f"action {action.id}", action.version, if_match, required=False)
    return action


# -- assigning ----------------------------------------------------------------------------


def _assignee(session: Session, person_id: int) -> Person:
    """The person given the action: they must exist and be active (422 otherwise)."""
    found = session.get(Person, person_id)
    if found is None or not found.active:
        raise InvalidInput(
            f"person {person_id} is not an active person",
            errors=[{"field": "assignee_id", "message": "must be an active person"}],
        )
    return found


def assign(*, session: Session, call_id: int, data: ActionCreate, principal: Principal) -> Action:
    """Give a task on a call to a person, who owns it from now on."""
    call = call_service.get(session=session, call_id=call_id)
    work.check_may_write(session, call, principal, "assign actions on it")
    by = call_service.acting_person(session, principal)
    if call.state in ENDED_CALLS:
        raise Conflict(
            f"call {call.id} is {call.state}; reopen it to assign actions on it",
            current_state=call.state,
        )
    assignee = _assignee(session, data.assignee_id)
    action = Action(
        call_id=call.id,
        asset_id=call.asset_id,
        title=data.title,
        details=data.details,
        state=A.OPEN,
        assignee=assignee,
        assigner=by,
        assigned_at=utcnow(),
        due_at=data.due_at.astimezone(UTC),
    )
    session.add(action)
    session.flush()
    _step(
        session,
        action,
        call,
        principal,
        EventType.ACTION_ASSIGNED,
        details=action.details,
        assigned_by_id=by.id,
        assigned_by_name=by.name,
    )
    return action


# -- reading ------------------------------------------------------------------------------


def get(*, session: Session, action_id: int) -> Action:
    """An action by id."""
    action = session.get(Action, action_id)
    if action is None:
        raise NotFound(f"no action with id {action_id}")
    return action


def _overdue_clause(now: datetime) -> Any:
    return and_(Action.state.in_(LIVE_STATES), Action.due_at < now)


def _soonest_first(stmt: Select[T]) -> Select[T]:
    return stmt.order_by(Action.due_at, Action.id)


def list_actions(
    *,
    session: Session,
    assignee_id: int | None = None,
    state: ActionState | None = None,
    overdue: bool | None = None,
    call_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> builtins.list[Action]:
    """Actions, soonest due first (so the overdue lead), optionally by assignee, state,
    call, or whether they are overdue."""
    stmt = _soonest_first(select(Action)).limit(limit).offset(offset)
    if assignee_id is not None:
        stmt = stmt.where(Action.assignee_id == assignee_id)
    if state is not None:
        stmt = stmt.where(Action.state == state)
    if call_id is not None:
        stmt = stmt.where(Action.call_id == call_id)
    if overdue is not None:
        late = _overdue_clause(utcnow())
        stmt = stmt.where(late if overdue else not_(late))
    return builtins.list(session.scalars(stmt))


def view(action: Action) -> dict[str, Any]:
    """The action as the API shows it, with the moves it allows now."""
    return {
        **{c: getattr(action, c) for c in FIELDS},
        "allowed_transitions": LIFECYCLE.allowed(ActionState(action.state)),
        "assignee": action.assignee,
        "assigned_by": action.assigner,
        "overdue": is_overdue(action),
    }


@dataclass
class Work:
    """What one person has on their plate."""

    person_id: int
    actions: builtins.list[Action]
    work_orders: builtins.list[WorkOrder]
    calls: builtins.list[tuple[Call, str]]  # with the current owner's name
    overdue_on_my_scanners: builtins.list[Action]
    follow_ups_due: builtins.list[ContactRead]


def my_work(*, session: Session, principal: Principal) -> Work:
    """The signed-in person's plate: their live actions (overdue first), their open work
    orders, the working calls they own now, the overdue actions on calls of scanners
    they are primary engineer for, and their callbacks to customers now due."""
    me = call_service.acting_person(session, principal)
    mine = select(Action).where(Action.assignee_id == me.id, Action.state.in_(LIVE_STATES))
    on_my_scanners = (
        select(Action)
        .join(Call, Call.id == Action.call_id)
        .join(Asset, Asset.id == Call.asset_id)
        .where(Asset.primary_engineer_id == me.id, _overdue_clause(utcnow()))
    )
    orders = session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.field_engineer_id == me.id,
            WorkOrder.state.in_(workorder_service.OPEN_STATES),
        )
        .order_by(WorkOrder.id.desc())
    )
    owned = call_service.list(
        session=session, states=WORKING_CALLS, owner_id=me.id, limit=200 * len(WORKING_CALLS)
    )
    return Work(
        person_id=me.id,
        actions=builtins.list(session.scalars(_soonest_first(mine))),
        work_orders=builtins.list(orders),
        calls=owned,
        overdue_on_my_scanners=builtins.list(session.scalars(_soonest_first(on_my_scanners))),
        follow_ups_due=contact_service.due_callbacks(session=session, owner_id=me.id),
    )


# -- the assignee's steps, and cancelling --------------------------------------------------


def acknowledge(
    *, session: Session, action_id: int, if_match: int | None, principal: Principal
) -> Action:
    """The assignee has seen the action and takes it on."""
    action = _for_assignee(session, action_id, if_match, principal)
    LIFECYCLE.move(action, A.ACKNOWLEDGED)
    action.acknowledged_at = utcnow()
    call = call_service.get(session=session, call_id=action.call_id)
    _step(session, action, call, principal, EventType.ACTION_UPDATED)
    return action


def complete(
    *,
    session: Session,
    action_id: int,
    outcome: str | None,
    if_match: int | None,
    principal: Principal,
) -> Action:
    """The assignee has done it, with how it ended if worth saying."""
    action = _for_assignee(session, action_id, if_match, principal)
    LIFECYCLE.move(action, A.DONE)
    action.completed_at = utcnow()
    action.outcome = outcome
    call = call_service.get(session=session, call_id=action.call_id)
    _step(session, action, call, principal, EventType.ACTION_UPDATED, outcome=outcome)
    return action


def cancel_with_call(*, session: Session, call: Call, principal: Principal) -> list[Action]:
    """The call was cancelled: its actions still to do are called off with it."""
    actions = list(
        session.scalars(
            select(Action)
            .where(Action.call_id == call.id, Action.state.in_(LIVE_STATES))
            .order_by(Action.id)
        )
    )
    for action in actions:
        _call_off(session, action, call, principal, f"call {call.id} cancelled")
    return actions


def _call_off(
    session: Session, action: Action, call: Call, principal: Principal, reason: str
) -> None:
    """Cancel the action with a reason, on the timeline and as `action.updated`."""
    LIFECYCLE.move(action, A.CANCELLED)
    action.cancelled_at = utcnow()
    action.cancel_reason = reason
    _step(session, action, call, principal, EventType.ACTION_UPDATED, reason=reason)


def cancel(
    *,
    session: Session,
    action_id: int,
    reason: str,
    if_match: int | None,
    principal: Principal,
) -> Action:
    """The assigner (or an admin) calls the action off, with a reason."""
    action = get(session=session, action_id=action_id)
    if principal.person_id != action.assigned_by and not principal.is_admin:
        raise Forbidden(
            f"action {action.id} was assigned by {action.assigner.name}; only they (or an "
            "admin) may cancel it",
            assigned_by_id=action.assigned_by,
        )
    check_version(f"action {action.id}", action.version, if_match, required=False)
    call = call_service.get(session=session, call_id=action.call_id)
    _call_off(session, action, call, principal, reason)
    return action
