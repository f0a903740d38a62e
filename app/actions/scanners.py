"""The primary engineer's view: every scanner they look after, with what is open on it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.actions.models import Action
from app.actions.service import LIVE_STATES, WORKING_CALLS
from app.assets.models import Asset
from app.auth import service as auth_service
from app.calls import service as call_service
from app.calls.models import Call, CallState
from app.contacts import service as contact_service
from app.contacts.schemas import ContactRead
from app.workorders import service as workorder_service
from app.workorders.models import WorkOrder

# a follow-up goes on after the repair until the call is closed
FOLLOWED = (*WORKING_CALLS, CallState.RESOLVED)


@dataclass
class ScannerWork:
    """One scanner and what is open on it."""

    asset: Asset
    open_calls: list[tuple[Call, str]]
    work_orders: list[WorkOrder]
    actions: list[Action]
    follow_ups: list[tuple[Call, str]]
    follow_ups_due: list[ContactRead]


def scanners_of(*, session: Session, person_id: int) -> list[ScannerWork]:
    """The scanners a person is primary or backup engineer of (404 for an unknown person),
    each with its working calls, open work orders, live actions (soonest due first), the
    calls whose customer this person keeps informed and the callbacks on its calls now
    due."""
    auth_service.get_person(session=session, person_id=person_id)
    assets = session.scalars(
        select(Asset)
        .where(or_(Asset.primary_engineer_id == person_id, Asset.backup_engineer_id == person_id))
        .order_by(Asset.serial_number)
    ).unique()
    out = []
    for asset in assets:
        orders = session.scalars(
            select(WorkOrder)
            .where(
                WorkOrder.asset_id == asset.id,
                WorkOrder.state.in_(workorder_service.OPEN_STATES),
            )
            .order_by(WorkOrder.id.desc())
        )
        actions = session.scalars(
            select(Action)
            .where(Action.asset_id == asset.id, Action.state.in_(LIVE_STATES))
            .order_by(Action.due_at, Action.id)
        )
        out.append(
            ScannerWork(
                asset=asset,
                open_calls=call_service.list(
                    session=session, asset_id=asset.id, states=WORKING_CALLS, limit=200
                ),
                work_orders=list(orders),
                actions=list(actions),
                follow_ups=call_service.list(
                    session=session,
                    asset_id=asset.id,
                    states=FOLLOWED,
                    follow_up_id=person_id,
                    limit=200,
                ),
                follow_ups_due=contact_service.due_callbacks(session=session, asset_id=asset.id),
            )
        )
    return out
