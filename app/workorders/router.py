"""Work orders (field visits) over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, IfMatch, Route, set_etag
from app.schemas import MAX_ID, DbId
from app.workorders import service
from app.workorders.models import WorkOrder, WorkOrderState
from app.workorders.schemas import (
    WorkOrderCancel,
    WorkOrderComplete,
    WorkOrderCreate,
    WorkOrderRead,
    WorkOrderSchedule,
)

router = APIRouter(tags=["work orders"], route_class=Route)
Reader = Annotated[Principal, permit(P.WORK_ORDERS_READ)]
Requester = Annotated[Principal, permit(P.WORK_ORDERS_REQUEST)]
FieldEngineer = Annotated[Principal, permit(P.WORK_ORDERS_WORK)]


def _read(response: Response, order: WorkOrder) -> WorkOrderRead:
    """The work order as returned, with its version as ETag (what If-Match sends back)."""
    set_etag(response, order.version)
    return WorkOrderRead.model_validate(service.view(order), from_attributes=True)


@router.post(
    "/calls/{call_id}/work-orders",
    status_code=status.HTTP_201_CREATED,
    summary="Request a field visit (tier 2)",
)
def request_work_order(
    call_id: DbId,
    data: WorkOrderCreate,
    response: Response,
    session: DbSession,
    principal: Requester,
) -> WorkOrderRead:
    """On a call in state `accepted`, by the tier-2 engineer who has it (or an admin):
    the fault found, the parts identified, the field engineer (default: the scanner's
    primary engineer; an active field engineer), a target date and notes for the visit.
    The call moves to `field` and the field engineer becomes its current owner; the
    follow-up owner stays. Another call state is a 409 naming it; emits
    `work_order.requested`."""
    order = service.request(session=session, call_id=call_id, data=data, principal=principal)
    response.headers["Location"] = f"/work-orders/{order.id}"
    return _read(response, order)


@router.get("/work-orders", summary="List work orders")
def list_work_orders(
    session: DbSession,
    _: Reader,
    state: WorkOrderState | None = None,
    field_engineer_id: DbId | None = None,
    call_id: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[WorkOrderRead]:
    """Newest first, optionally by state, field engineer or call."""
    orders = service.list_work_orders(
        session=session,
        state=state,
        field_engineer_id=field_engineer_id,
        call_id=call_id,
        limit=limit,
        offset=offset,
    )
    return [WorkOrderRead.model_validate(service.view(o), from_attributes=True) for o in orders]


@router.get("/work-orders/{work_order_id}", summary="Read a work order")
def read_work_order(
    work_order_id: DbId, response: Response, session: DbSession, _: Reader
) -> WorkOrderRead:
    """The visit and how far it got, with the moves it allows now; the ETag is its
    version, for If-Match on the next step."""
    return _read(response, service.get(session=session, work_order_id=work_order_id))


@router.post("/work-orders/{work_order_id}/schedule", summary="Schedule the visit")
def schedule(
    work_order_id: DbId,
    data: WorkOrderSchedule,
    response: Response,
    session: DbSession,
    principal: FieldEngineer,
    if_match: IfMatch,
) -> WorkOrderRead:
    """requested → scheduled, by the assigned field engineer (or an admin; anyone else
    403). A stale If-Match is a 412; another state a 409 with the allowed ones."""
    order = service.schedule(
        session=session,
        work_order_id=work_order_id,
        scheduled_for=data.scheduled_for,
        if_match=if_match,
        principal=principal,
    )
    return _read(response, order)


@router.post("/work-orders/{work_order_id}/arrive", summary="Record arrival on site")
def arrive(
    work_order_id: DbId,
    response: Response,
    session: DbSession,
    principal: FieldEngineer,
    if_match: IfMatch,
) -> WorkOrderRead:
    """requested or scheduled → on_site, by the assigned field engineer (or an admin;
    anyone else 403). A stale If-Match is a 412; another state a 409."""
    order = service.arrive(
        session=session, work_order_id=work_order_id, if_match=if_match, principal=principal
    )
    return _read(response, order)


@router.post("/work-orders/{work_order_id}/complete", summary="Complete the visit")
def complete(
    work_order_id: DbId,
    data: WorkOrderComplete,
    response: Response,
    session: DbSession,
    principal: FieldEngineer,
    if_match: IfMatch,
) -> WorkOrderRead:
    """on_site → completed, by the assigned field engineer (or an admin), with what was
    done, the parts used and the result. `fixed` resolves the call at tier 3 with what
    was done as its notes; `returned_to_tier2` (findings required) moves the call back to
    `accepted`, owned by the tier-2 engineer who asked for the visit."""
    order = service.complete(
        session=session,
        work_order_id=work_order_id,
        data=data,
        if_match=if_match,
        principal=principal,
    )
    return _read(response, order)


@router.post("/work-orders/{work_order_id}/cancel", summary="Cancel the visit (tier 2)")
def cancel(
    work_order_id: DbId,
    data: WorkOrderCancel,
    response: Response,
    session: DbSession,
    principal: Requester,
    if_match: IfMatch,
) -> WorkOrderRead:
    """requested, scheduled or on_site → cancelled, with a reason. The call moves back to
    `accepted`, owned by the tier-2 engineer who asked for the visit."""
    order = service.cancel(
        session=session,
        work_order_id=work_order_id,
        reason=data.reason,
        if_match=if_match,
        principal=principal,
    )
    return _read(response, order)
