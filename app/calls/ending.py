"""Ending a call ends the work hanging off it: a cancelled call calls off its open
visits and actions, and a call with a visit under way is resolved by that visit, not around it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.actions import service as action_service
from app.auth.service import Principal
from app.calls import resolution
from app.calls.models import Call
from app.calls.schemas import CancelRequest, ResolveRequest
from app.errors import Conflict
from app.workorders import service as workorder_service


def resolve(*, session: Session, call_id: int, data: ResolveRequest, principal: Principal) -> Call:
    """Resolve the call (409 while a work order on it is open)."""
    orders = workorder_service.open_orders(session=session, call_id=call_id)
    if orders:
        listed = ", ".join(f"{o.id} ({o.state})" for o in orders)
        raise Conflict(
            f"work order {listed} is open on call {call_id}: completing it resolves the call; "
            "or cancel it first",
            work_order_ids=[o.id for o in orders],
        )
    return resolution.resolve(session=session, call_id=call_id, data=data, principal=principal)


def cancel(*, session: Session, call_id: int, data: CancelRequest, principal: Principal) -> Call:
    """Cancel the call, every open work order and every action still to do on it."""
    call = resolution.cancel(session=session, call_id=call_id, data=data, principal=principal)
    workorder_service.cancel_with_call(session=session, call=call, principal=principal)
    action_service.cancel_with_call(session=session, call=call, principal=principal)
    return call
