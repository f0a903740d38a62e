"""Actions on calls, and the signed-in person's work, over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.actions import scanners as scanner_service
from app.actions import service
from app.actions.models import Action, ActionState
from app.actions.schemas import (
    ActionCancel,
    ActionComplete,
    ActionCreate,
    ActionRead,
    MyWork,
    ScannerWorkRead,
)
from app.assets.schemas import AssetRead
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.calls.schemas import CallSummary
from app.deps import DbSession, IfMatch, Route, set_etag
from app.schemas import MAX_ID, DbId
from app.workorders import service as workorder_service
from app.workorders.schemas import WorkOrderRead

router = APIRouter(tags=["actions"], route_class=Route)
Reader = Annotated[Principal, permit(P.ACTIONS_READ)]
Assigner = Annotated[Principal, permit(P.ACTIONS_ASSIGN)]
Worker = Annotated[Principal, permit(P.ACTIONS_WORK)]


def _row(action: Action) -> ActionRead:
    return ActionRead.model_validate(service.view(action), from_attributes=True)


def _read(response: Response, action: Action) -> ActionRead:
    """The action as returned, with its version as ETag (what If-Match sends back)."""
    set_etag(response, action.version)
    return _row(action)


@router.post(
    "/calls/{call_id}/actions",
    status_code=status.HTTP_201_CREATED,
    summary="Assign an action on a call",
)
def assign_action(
    call_id: DbId,
    data: ActionCreate,
    response: Response,
    session: DbSession,
    principal: Assigner,
) -> ActionRead:
    """By anyone working the call (`calls:work`), or noting it (`calls:note`: a field
    engineer on a call of a scanner they look after or a call they own): a title,
    details, the assignee (an active person, who owns the action) and when it is due
    (with its offset). A closed or cancelled call is a 409; emits `action.assigned`."""
    action = service.assign(session=session, call_id=call_id, data=data, principal=principal)
    response.headers["Location"] = f"/actions/{action.id}"
    return _read(response, action)


@router.get("/actions", summary="List actions")
def list_actions(
    session: DbSession,
    _: Reader,
    assignee_id: DbId | None = None,
    state: ActionState | None = None,
    overdue: bool | None = None,
    call_id: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[ActionRead]:
    """Soonest due first (so the overdue lead), optionally by assignee, state, call, or
    whether they are overdue (open or acknowledged, past their due time)."""
    actions = service.list_actions(
        session=session,
        assignee_id=assignee_id,
        state=state,
        overdue=overdue,
        call_id=call_id,
        limit=limit,
        offset=offset,
    )
    return [_row(a) for a in actions]


@router.get("/actions/{action_id}", summary="Read an action")
def read_action(action_id: DbId, response: Response, session: DbSession, _: Reader) -> ActionRead:
    """The action and how far it got, with the moves it allows now; the ETag is its
    version, for If-Match on the next step."""
    return _read(response, service.get(session=session, action_id=action_id))


@router.post("/actions/{action_id}/acknowledge", summary="Acknowledge an action")
def acknowledge(
    action_id: DbId,
    response: Response,
    session: DbSession,
    principal: Worker,
    if_match: IfMatch,
) -> ActionRead:
    """open → acknowledged, by the assignee (or an admin; anyone else 403). A stale
    If-Match is a 412; another state a 409 with the allowed ones."""
    action = service.acknowledge(
        session=session, action_id=action_id, if_match=if_match, principal=principal
    )
    return _read(response, action)


@router.post("/actions/{action_id}/complete", summary="Complete an action")
def complete(
    action_id: DbId,
    response: Response,
    session: DbSession,
    principal: Worker,
    if_match: IfMatch,
    data: ActionComplete | None = None,
) -> ActionRead:
    """acknowledged → done, by the assignee (or an admin; anyone else 403), with an
    optional outcome note. A stale If-Match is a 412; another state a 409."""
    action = service.complete(
        session=session,
        action_id=action_id,
        outcome=data.outcome if data else None,
        if_match=if_match,
        principal=principal,
    )
    return _read(response, action)


@router.post("/actions/{action_id}/cancel", summary="Cancel an action")
def cancel(
    action_id: DbId,
    data: ActionCancel,
    response: Response,
    session: DbSession,
    principal: Worker,
    if_match: IfMatch,
) -> ActionRead:
    """open or acknowledged → cancelled, with a reason, by whoever assigned it (or an
    admin; anyone else 403)."""
    action = service.cancel(
        session=session,
        action_id=action_id,
        reason=data.reason,
        if_match=if_match,
        principal=principal,
    )
    return _read(response, action)


@router.get("/me/work", summary="My work")
def my_work(session: DbSession, principal: Reader) -> MyWork:
    """For the signed-in person: their open and acknowledged actions (overdue first),
    their open work orders, the calls they own now (not yet resolved), and the overdue
    actions on calls of scanners they are the primary engineer for. A client key is a
    422: this needs a person."""
    work = service.my_work(session=session, principal=principal)
    return MyWork(
        person_id=work.person_id,
        actions=[_row(a) for a in work.actions],
        work_orders=[
            WorkOrderRead.model_validate(workorder_service.view(o), from_attributes=True)
            for o in work.work_orders
        ],
        calls=[CallSummary.of(c, name) for c, name in work.calls],
        overdue_on_my_scanners=[_row(a) for a in work.overdue_on_my_scanners],
        follow_ups_due=work.follow_ups_due,
    )


@router.get("/people/{person_id}/scanners", summary="A primary engineer's scanners")
def scanners(person_id: DbId, session: DbSession, _: Reader) -> list[ScannerWorkRead]:
    """Every scanner the person is primary (or backup) engineer of, with its calls still
    being worked, open work orders, open actions (soonest due first) and the calls whose
    customer they keep informed until closed: the primary's round of follow-ups."""
    return [
        ScannerWorkRead(
            asset=AssetRead.model_validate(s.asset),
            open_calls=[CallSummary.of(c, n) for c, n in s.open_calls],
            work_orders=[
                WorkOrderRead.model_validate(workorder_service.view(o), from_attributes=True)
                for o in s.work_orders
            ],
            actions=[_row(a) for a in s.actions],
            follow_ups=[CallSummary.of(c, n) for c, n in s.follow_ups],
            follow_ups_due=s.follow_ups_due,
        )
        for s in scanner_service.scanners_of(session=session, person_id=person_id)
    ]
