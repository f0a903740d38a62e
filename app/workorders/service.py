"""Work orders, the third tier: tier 2 sends an accepted call to the field; the field
engineer schedules the visit, arrives and completes it, which resolves the call or hands
it back to tier 2 with findings.

The call follows the work order: requesting moves it to `field` with the field engineer
as its current owner (the follow-up owner is left as it is); a visit returned or
cancelled moves it back to `accepted`, owned by the tier-2 engineer who asked for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assets import service as asset_service
from app.auth import service as auth_service
from app.auth.models import Person
from app.auth.permissions import Role
from app.auth.service import Principal
from app.calls import resolution as call_resolution
from app.calls import service as call_service
from app.calls.models import Call, CallState, EventKind, OwnerKind
from app.calls.schemas import ResolveRequest
from app.db import isoformat, utcnow
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.lifecycle import Lifecycle, check_version
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from app.webhooks.payloads import WORK_ORDER_EVENTS, CallPayload, WorkOrderPayload
from app.workorders.models import WorkOrder, WorkOrderResult, WorkOrderState
from app.workorders.schemas import WorkOrderComplete, WorkOrderCreate, WorkOrderPart

W = WorkOrderState
LIFECYCLE = Lifecycle(
    "work order",
    {
        # an engineer already near the scanner may go straight there without a booking
        W.REQUESTED: frozenset({W.SCHEDULED, W.ON_SITE, W.CANCELLED}),
        W.SCHEDULED: frozenset({W.ON_SITE, W.CANCELLED}),
        W.ON_SITE: frozenset({W.COMPLETED, W.CANCELLED}),
        W.COMPLETED: frozenset(),
        W.CANCELLED: frozenset(),
    },
    field="state",
)
OPEN_STATES = (W.REQUESTED, W.SCHEDULED, W.ON_SITE)
FIELDS = (
    "id",
    "call_id",
    "asset_id",
    "state",
    "fault",
    "parts",
    "requested_at",
    "target_date",
    "notes",
    "scheduled_for",
    "arrived_at",
    "completed_at",
    "result",
    "work_done",
    "parts_used",
    "findings",
    "cancelled_at",
    "cancel_reason",
    "version",
)


# -- helpers ------------------------------------------------------------------------------


def _parts(parts: list[WorkOrderPart]) -> list[dict[str, Any]]:
    return [p.model_dump() for p in parts]


def payload(
    session: Session, order: WorkOrder, call: Call, event: type[WorkOrderPayload]
) -> WorkOrderPayload:
    """The work order as webhook events carry it, as the payload model `event`: enough
    to act without calling back."""
    engineer, requester = order.field_engineer, order.requester
    return event(
        work_order_id=order.id,
        call_id=order.call_id,
        state=order.state,
        field_engineer_id=engineer.id,
        field_engineer_name=engineer.name,
        field_engineer_phone=engineer.phone,
        requested_by_id=requester.id,
        requested_by_name=requester.name,
        asset_id=order.asset_id,
        fault=order.fault,
        parts=order.parts,
        target_date=order.target_date,
        notes=order.notes,
        scheduled_for=order.scheduled_for,
        arrived_at=order.arrived_at,
        completed_at=order.completed_at,
        result=order.result,
        work_done=order.work_done,
        parts_used=order.parts_used,
        findings=order.findings,
        cancel_reason=order.cancel_reason,
        call=call_service.call_payload(session, call, CallPayload),
    )


def _event(
    session: Session, order: WorkOrder, call: Call, principal: Principal, **details: Any
) -> None:
    """One step of the work order on its call's timeline."""
    call_service.add_event(
        session,
        call,
        EventKind.WORK_ORDER,
        principal,
        work_order_id=order.id,
        state=order.state,
        **details,
    )


def _emit(session: Session, order: WorkOrder, call: Call, type: EventType) -> None:
    """The step as a webhook event, in the same transaction as the change."""
    event = WORK_ORDER_EVENTS[type]
    webhook_service.emit(session=session, type=type, payload=payload(session, order, call, event))


def _for_engineer(
    session: Session, work_order_id: int, if_match: int | None, principal: Principal
) -> WorkOrder:
    """The work order, for its field engineer (or an admin) at the version they saw."""
    order = get(session=session, work_order_id=work_order_id)
    if principal.person_id != order.field_engineer_id and not principal.is_admin:
        raise Forbidden(
            f"work order {order.id} is assigned to {order.field_engineer.name}; only they "
            "(or an admin) may work it",
            field_engineer_id=order.field_engineer_id,
        )
    check_version(f"work order {order.id}", order.version, if_match, required=False)
    return order


def open_orders(*, session: Session, call_id: int) -> list[WorkOrder]:
    """The call's work orders not yet completed or cancelled."""
    return list(
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.call_id == call_id, WorkOrder.state.in_(OPEN_STATES))
            .order_by(WorkOrder.id)
        )
    )


def cancel_with_call(*, session: Session, call: Call, principal: Principal) -> list[WorkOrder]:
    """The call was cancelled: its open visits are called off with it."""
    orders = open_orders(session=session, call_id=call.id)
    for order in orders:
        LIFECYCLE.move(order, W.CANCELLED)
        order.cancelled_at = utcnow()
        order.cancel_reason = f"call {call.id} cancelled"
        _event(session, order, call, principal, reason=order.cancel_reason)
        _emit(session, order, call, EventType.WORK_ORDER_UPDATED)
    session.flush()
    return orders


def _back_to_tier2(
    session: Session, order: WorkOrder, call: Call, principal: Principal, why: str
) -> None:
    """The call returns to the tier-2 engineer who asked for the visit."""
    if call.state != CallState.FIELD:
        return  # the call left the field without this visit (resolved or cancelled)
    call_service.move(session, call, CallState.ACCEPTED, principal, why)
    call_service.set_owner(
        session,
        call,
        OwnerKind.CURRENT,
        order.requester,
        Role.REMOTE_ENGINEER,
        f"work order {order.id} back at tier 2",
        principal,
    )


# -- requesting ---------------------------------------------------------------------------


def _field_engineer(session: Session, call: Call, data: WorkOrderCreate) -> Person:
    """Who visits: the one named, else the scanner's primary engineer."""
    engineer_id = data.field_engineer_id
    if engineer_id is None and call.asset_id is not None:
        engineer_id = asset_service.get_asset(
            session=session, asset_id=call.asset_id
        ).primary_engineer_id
    if engineer_id is None:
        raise InvalidInput(
            f"call {call.id} names no scanner, so it has no primary engineer: say who visits",
            errors=[{"field": "field_engineer_id", "message": "required when no scanner is known"}],
        )
    return auth_service.require_role(
        session=session,
        person_id=engineer_id,
        role=Role.FIELD_ENGINEER,
        field="field_engineer_id",
    )


def _check_requestable(session: Session, call: Call, principal: Principal) -> None:
    """Only a call tier 2 has accepted, by the engineer who has it (or an admin), with no
    visit already open."""
    if call.state != CallState.ACCEPTED:
        raise Conflict(
            f"call {call.id} is {call.state}; a work order needs a call tier 2 has accepted",
            current_state=call.state,
            required_state=CallState.ACCEPTED,
        )
    owner = call_service.owner_interval(session, call.id, OwnerKind.CURRENT)
    if owner is not None and owner.person_id != principal.person_id and not principal.is_admin:
        raise Forbidden(
            f"call {call.id} is owned by person {owner.person_id}; the tier-2 engineer who "
            "accepted it (or an admin) asks for a visit",
            current_owner_id=owner.person_id,
        )
    # a call cancelled and reopened during a visit could otherwise get a second one
    already = session.scalar(
        select(WorkOrder.id).where(WorkOrder.call_id == call.id, WorkOrder.state.in_(OPEN_STATES))
    )
    if already is not None:
        raise Conflict(
            f"call {call.id} already has open work order {already}", work_order_id=already
        )


def request(
    *, session: Session, call_id: int, data: WorkOrderCreate, principal: Principal
) -> WorkOrder:
    """Tier 2 sends the call to the field: the call moves to `field` and the field
    engineer becomes its current owner."""
    call = call_service.get(session=session, call_id=call_id)
    by = call_service.acting_person(session, principal)
    _check_requestable(session, call, principal)
    engineer = _field_engineer(session, call, data)
    order = WorkOrder(
        call_id=call.id,
        asset_id=call.asset_id,
        state=W.REQUESTED,
        fault=data.fault,
        parts=_parts(data.parts),
        field_engineer=engineer,
        requester=by,
        requested_at=utcnow(),
        target_date=data.target_date,
        notes=data.notes,
        parts_used=[],
    )
    session.add(order)
    session.flush()
    why = f"work order {order.id}: field visit"
    call_service.move(session, call, CallState.FIELD, principal, why)
    call_service.set_owner(
        session, call, OwnerKind.CURRENT, engineer, Role.FIELD_ENGINEER, why, principal
    )
    _event(
        session,
        order,
        call,
        principal,
        field_engineer_id=engineer.id,
        field_engineer_name=engineer.name,
        fault=order.fault,
        parts=order.parts,
        target_date=order.target_date.isoformat() if order.target_date else None,
        notes=order.notes,
    )
    _emit(session, order, call, EventType.WORK_ORDER_REQUESTED)
    session.flush()
    return order


# -- reading ------------------------------------------------------------------------------


def get(*, session: Session, work_order_id: int) -> WorkOrder:
    """A work order by id."""
    order = session.get(WorkOrder, work_order_id)
    if order is None:
        raise NotFound(f"no work order with id {work_order_id}")
    return order


def list_work_orders(
    *,
    session: Session,
    state: WorkOrderState | None = None,
    field_engineer_id: int | None = None,
    call_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[WorkOrder]:
    """Work orders, newest first, optionally by state, field engineer or call."""
    stmt = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit).offset(offset)
    if state is not None:
        stmt = stmt.where(WorkOrder.state == state)
    if field_engineer_id is not None:
        stmt = stmt.where(WorkOrder.field_engineer_id == field_engineer_id)
    if call_id is not None:
        stmt = stmt.where(WorkOrder.call_id == call_id)
    return list(session.scalars(stmt))


def view(order: WorkOrder) -> dict[str, Any]:
    """The work order as the API shows it, with the moves it allows now."""
    return {
        **{c: getattr(order, c) for c in FIELDS},
        "allowed_transitions": LIFECYCLE.allowed(WorkOrderState(order.state)),
        "field_engineer": order.field_engineer,
        "requested_by": order.requester,
    }


# -- the field engineer's steps -----------------------------------------------------------


def schedule(
    *,
    session: Session,
    work_order_id: int,
    scheduled_for: datetime,
    if_match: int | None,
    principal: Principal,
) -> WorkOrder:
    """The field engineer books the visit."""
    order = _for_engineer(session, work_order_id, if_match, principal)
    LIFECYCLE.move(order, W.SCHEDULED)
    order.scheduled_for = scheduled_for.astimezone(UTC)
    call = call_service.get(session=session, call_id=order.call_id)
    _event(session, order, call, principal, scheduled_for=isoformat(order.scheduled_for))
    _emit(session, order, call, EventType.WORK_ORDER_UPDATED)
    session.flush()
    return order


def arrive(
    *, session: Session, work_order_id: int, if_match: int | None, principal: Principal
) -> WorkOrder:
    """The field engineer is at the scanner."""
    order = _for_engineer(session, work_order_id, if_match, principal)
    LIFECYCLE.move(order, W.ON_SITE)
    order.arrived_at = utcnow()
    call = call_service.get(session=session, call_id=order.call_id)
    _event(session, order, call, principal, arrived_at=isoformat(order.arrived_at))
    _emit(session, order, call, EventType.WORK_ORDER_UPDATED)
    session.flush()
    return order


def complete(
    *,
    session: Session,
    work_order_id: int,
    data: WorkOrderComplete,
    if_match: int | None,
    principal: Principal,
) -> WorkOrder:
    """The visit is over: `fixed` resolves the call at tier 3 with what was done;
    `returned_to_tier2` hands it back to the requester with the findings."""
    order = _for_engineer(session, work_order_id, if_match, principal)
    LIFECYCLE.move(order, W.COMPLETED)
    order.completed_at = utcnow()
    order.result = data.result
    order.work_done = data.work_done
    order.parts_used = _parts(data.parts_used)
    order.findings = data.findings
    call = call_service.get(session=session, call_id=order.call_id)
    _event(
        session,
        order,
        call,
        principal,
        result=order.result,
        work_done=order.work_done,
        parts_used=order.parts_used,
        findings=order.findings,
    )
    if data.result == WorkOrderResult.RETURNED_TO_TIER2:
        why = f"work order {order.id} returned to tier 2: {data.findings}"
        _back_to_tier2(session, order, call, principal, why)
    elif call.state == CallState.FIELD:
        resolution = ResolveRequest(notes=data.work_done)
        call_resolution.resolve(
            session=session, call_id=call.id, data=resolution, principal=principal
        )
    _emit(session, order, call, EventType.WORK_ORDER_UPDATED)
    session.flush()
    return order


def cancel(
    *,
    session: Session,
    work_order_id: int,
    reason: str,
    if_match: int | None,
    principal: Principal,
) -> WorkOrder:
    """Tier 2 calls the visit off; the call returns to the engineer who asked for it."""
    order = get(session=session, work_order_id=work_order_id)
    check_version(f"work order {order.id}", order.version, if_match, required=False)
    LIFECYCLE.move(order, W.CANCELLED)
    order.cancelled_at = utcnow()
    order.cancel_reason = reason
    call = call_service.get(session=session, call_id=order.call_id)
    _event(session, order, call, principal, reason=reason)
    _back_to_tier2(session, order, call, principal, f"work order {order.id} cancelled: {reason}")
    _emit(session, order, call, EventType.WORK_ORDER_UPDATED)
    session.flush()
    return order
