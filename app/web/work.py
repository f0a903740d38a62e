"""The field engineer's screens: my work, my scanners, and a work order's visit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from app.actions import scanners as scanner_service
from app.actions import service as action_service
from app.assets import service as asset_service
from app.assets.models import Asset
from app.auth.permissions import P
from app.calls import service as call_service
from app.db import utcnow
from app.deps import Route
from app.errors import Conflict, Forbidden, InvalidInput, PreconditionFailed
from app.schemas import DbId
from app.web.deps import Console, console
from app.web.render import page, redirect
from app.workorders import service as order_service
from app.workorders.models import WorkOrder, WorkOrderResult
from app.workorders.schemas import WorkOrderComplete, WorkOrderPart

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
WorkReader = Annotated[Console, console(P.ACTIONS_READ)]
ActionPost = Annotated[Console, console(P.ACTIONS_WORK, write=True)]
OrderReader = Annotated[Console, console(P.WORK_ORDERS_READ)]
FieldEngineer = Annotated[Console, console(P.WORK_ORDERS_WORK)]
FieldPost = Annotated[Console, console(P.WORK_ORDERS_WORK, write=True)]
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=4000)]
Cells = Annotated[list[str], Form(max_length=30)]

ROWS, MORE_ROWS, MAX_ROWS = 3, 3, 30
DONE = {
    "acknowledged": "Acknowledged: the action is yours to do.",
    "done": "Action done.",
    "scheduled": "Visit booked.",
    "arrived": "Arrival recorded: you are on site.",
    "fixed": "Visit complete: the call is resolved.",
    "returned": "Visit complete: the call is back with tier 2, with your findings.",
}
RESULTS = [
    (WorkOrderResult.FIXED, "Fixed: the scanner works; this resolves the call"),
    (WorkOrderResult.RETURNED_TO_TIER2, "Not fixed: return the call to tier 2 with findings"),
]
# the offsets of the zones in use, whole hours and the common half and quarter hours
OFFSETS = [f"{'-' if h < 0 else '+'}{abs(h):02d}:00" for h in range(-12, 15)]
OFFSETS += ["-03:30", "+03:30", "+04:30", "+05:30", "+05:45", "+06:30", "+09:30", "+10:30"]
OFFSETS.sort(key=lambda o: (1 if o[0] == "+" else -1) * (int(o[1:3]) * 60 + int(o[4:])))
LABELS = {
    "scheduled_for": "date and time",
    "offset": "time zone",
    "work_done": "work done",
    "part_number": "part number",
    "description": "description",
    "quantity": "quantity",
    "result": "result",
    "findings": "findings",
}
FORM_ORDER = ("scheduled_for", "offset", "work_done", "parts", "result", "findings")
WORDS = {
    "work_done": "say what you did on site",
    "result": "choose how the visit ended",
    "findings": "say what you found: tier 2 takes the call back with your findings",
    "part_number": "give the part number, or clear the row",
    "description": "keep the description under 300 characters",
    "quantity": "give a whole number from 1 to 1000",
}


def _span(seconds: int) -> str:
    minutes = seconds // 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def due_in_words(when: datetime, now: datetime | None = None) -> str:
    """ "overdue by 2 h 5 min" or "due in 40 min": the state in words, not colour."""
    seconds = int((when - (now or utcnow())).total_seconds())
    return f"overdue by {_span(-seconds)}" if seconds < 0 else f"due in {_span(seconds)}"


def _version(raw: str) -> int | None:
    """The version the form was rendered at (None: the form did not say)."""
    return int(raw) if raw.strip().isdigit() else None


def _flash(done: str | None) -> dict[str, Any]:
    return {"flash": DONE[done]} if done in DONE else {}


def _refused(message: str) -> dict[str, Any]:
    return {"flash": message, "flash_kind": "error"}


def _assets(ui: Console, ids: list[int | None]) -> dict[int, Asset]:
    """The scanners named by work orders, by id."""
    return {i: asset_service.get_asset(session=ui.session, asset_id=i) for i in set(ids) if i}


# -- my work -----------------------------------------------------------------------------


def _work_page(ui: Console, *, status: int = 200, **extra: Any) -> Response:
    work = action_service.my_work(session=ui.session, principal=ui.signed.principal)
    scanners = scanner_service.scanners_of(session=ui.session, person_id=work.person_id)
    # the scanners with something open first (stable: by serial number within each group)
    scanners.sort(key=lambda s: not (s.open_calls or s.work_orders or s.actions))
    orders = [o for s in scanners for o in s.work_orders]
    now = utcnow()
    return page(
        ui.request,
        "work/my_work.html",
        ui.signed,
        status=status,
        section="work",
        title="My work",
        work=work,
        scanners=scanners,
        person_id=work.person_id,
        assets=_assets(ui, [o.asset_id for o in [*work.work_orders, *orders]]),
        due=lambda when: due_in_words(when, now),
        overdue=lambda action: action_service.is_overdue(action, now),
        **extra,
    )


@router.get("/work")
def my_work(ui: WorkReader, done: str | None = None) -> Response:
    """My work orders and actions (overdue first), callbacks due, overdue actions on my
    scanners, and each scanner I look after with what is open on it."""
    return _work_page(ui, **_flash(done))


def _action_refused(ui: Console, action_id: int, exc: Conflict | PreconditionFailed) -> Response:
    """A step on an action that changed meanwhile: My work as it is now, and why."""
    ui.session.rollback()
    action = action_service.get(session=ui.session, action_id=action_id)
    if isinstance(exc, PreconditionFailed):
        why = f"“{action.title}” changed since this page was loaded, so nothing was saved"
    else:
        why = f"“{action.title}” is {action.state} now, so nothing was changed"
    return _work_page(ui, status=409, **_refused(f"{why}. Here it is as it stands now."))


@router.post("/work/actions/{action_id}/acknowledge")
def acknowledge_action(action_id: DbId, ui: ActionPost, version: Short = "") -> Response:
    """The assignee takes the action on."""
    try:
        action_service.acknowledge(
            session=ui.session,
            action_id=action_id,
            if_match=_version(version),
            principal=ui.signed.principal,
        )
    except (Conflict, PreconditionFailed) as exc:
        return _action_refused(ui, action_id, exc)
    return redirect(ui.request, f"/ui/work?done=acknowledged#action-{action_id}")


@router.post("/work/actions/{action_id}/complete")
def complete_action(
    action_id: DbId,
    ui: ActionPost,
    version: Short = "",
    outcome: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The assignee has done it, with how it ended if worth saying."""
    try:
        action_service.complete(
            session=ui.session,
            action_id=action_id,
            outcome=outcome.strip() or None,
            if_match=_version(version),
            principal=ui.signed.principal,
        )
    except (Conflict, PreconditionFailed) as exc:
        return _action_refused(ui, action_id, exc)
    return redirect(ui.request, "/ui/work?done=done#actions")


# -- a work order ------------------------------------------------------------------------


def _may_work(ui: Console, order: WorkOrder) -> bool:
    """Only the assigned field engineer (or an admin) records the visit."""
    p = ui.signed.principal
    return p.can(P.WORK_ORDERS_WORK) and (p.person_id == order.field_engineer_id or p.is_admin)


def _in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """Errors in the order of the form's fields, so the summary and focus follow it."""

    def place(name: str) -> tuple[int, int]:
        head, _, rest = name.partition(".")
        row = int(rest.split(".")[0]) if head == "parts" and rest[:1].isdigit() else 0
        return (FORM_ORDER.index(head) if head in FORM_ORDER else len(FORM_ORDER), row)

    return dict(sorted(errors.items(), key=lambda item: place(item[0])))


def _blank_rows(count: int) -> list[dict[str, str]]:
    return [{"part_number": "", "description": "", "quantity": ""} for _ in range(count)]


def _order_page(
    ui: Console,
    work_order_id: int,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    rows: int = ROWS,
    status: int = 200,
    **extra: Any,
) -> Response:
    order = order_service.get(session=ui.session, work_order_id=work_order_id)
    form = form or {}
    errors = _in_form_order(errors or {})
    parts = list(form.get("parts") or [])
    parts += _blank_rows(max(rows - len(parts), 0))
    call = None
    if ui.signed.principal.can(P.CALLS_READ):  # the caller's details are call data
        call = call_service.get(session=ui.session, call_id=order.call_id)
    asset = _assets(ui, [order.asset_id]).get(order.asset_id or 0)
    return page(
        ui.request,
        "work/order.html",
        ui.signed,
        status=status,
        section="work",
        title=f"Work order {order.id}",
        order=order,
        call=call,
        asset=asset,
        may_work=_may_work(ui, order),
        form=form,
        parts=parts,
        more_rows=min(len(parts) + MORE_ROWS, MAX_ROWS),
        errors=errors,
        first_error=next(iter(errors), ""),
        labels=LABELS,
        offsets=OFFSETS,
        results=RESULTS,
        **extra,
    )


@router.get("/work-orders/{work_order_id}")
def work_order_screen(
    work_order_id: DbId,
    ui: OrderReader,
    done: str | None = None,
    rows: Annotated[int, Query(ge=1, le=MAX_ROWS)] = ROWS,
) -> Response:
    """The visit: the fault, the parts identified, the notes, the call's summary, and for
    its field engineer the next step (book, arrive, complete)."""
    return _order_page(ui, work_order_id, rows=rows, **_flash(done))


@router.get("/work-orders/{work_order_id}/complete")
def complete_form(
    work_order_id: DbId,
    ui: FieldEngineer,
    rows: Annotated[int, Query(ge=1, le=MAX_ROWS)] = ROWS,
) -> Response:
    """The work order with its completion form (`rows` part rows), for its engineer."""
    order = order_service.get(session=ui.session, work_order_id=work_order_id)
    if not _may_work(ui, order):
        raise Forbidden(
            f"work order {order.id} is assigned to {order.field_engineer.name}; only they "
            "(or an admin) may record the visit"
        )
    return _order_page(ui, work_order_id, rows=rows)


def _stale(
    ui: Console,
    work_order_id: int,
    exc: Conflict | PreconditionFailed,
    form: dict[str, Any],
    rows: int = ROWS,
) -> Response:
    """The work order changed meanwhile: as it is now, with what was typed kept."""
    ui.session.rollback()
    order = order_service.get(session=ui.session, work_order_id=work_order_id)
    state = str(order.state).replace("_", " ")
    if isinstance(exc, PreconditionFailed):
        why = (
            f"Someone changed this work order while you were filling in the form (it is "
            f"{state} now), so nothing was saved. Check it below; what you typed is kept, "
            "send it again if it still applies."
        )
    else:
        why = f"This work order is {state} now, so that step no longer applies; nothing was saved."
    return _order_page(ui, work_order_id, form=form, rows=rows, status=409, conflict=why)


def _invalid(
    ui: Console, work_order_id: int, form: dict[str, Any], errors: dict[str, str], rows: int = ROWS
) -> Response:
    ui.session.rollback()
    return _order_page(ui, work_order_id, form=form, errors=errors, rows=rows, status=422)


def _scheduled_for(value: str, offset: str) -> datetime:
    """The visit's time as typed (a local date and time) at the chosen UTC offset."""
    errors = []
    if offset not in OFFSETS:
        errors.append({"field": "offset", "message": "choose the time zone offset from the list"})
    try:
        local = datetime.fromisoformat(value.strip())
    except ValueError:
        local = None
        message = "give the date and time of the visit, e.g. 2031-05-02 09:30"
        errors.append({"field": "scheduled_for", "message": message})
    if errors or local is None:
        raise InvalidInput("the visit's time is not complete", errors=errors)
    minutes = (int(offset[1:3]) * 60 + int(offset[4:])) * (-1 if offset[0] == "-" else 1)
    return local.replace(tzinfo=timezone(timedelta(minutes=minutes)))


@router.post("/work-orders/{work_order_id}/schedule")
def schedule(
    work_order_id: DbId,
    ui: FieldPost,
    version: Short = "",
    scheduled_for: Short = "",
    offset: Short = "+00:00",
) -> Response:
    """Book the visit: a date and time with its offset."""
    form = {"scheduled_for": scheduled_for, "offset": offset}
    try:
        order_service.schedule(
            session=ui.session,
            work_order_id=work_order_id,
            scheduled_for=_scheduled_for(scheduled_for, offset),
            if_match=_version(version),
            principal=ui.signed.principal,
        )
    except InvalidInput as exc:
        errors = {str(e["field"]): str(e["message"]) for e in exc.errors}
        return _invalid(ui, work_order_id, form, errors)
    except (Conflict, PreconditionFailed) as exc:
        return _stale(ui, work_order_id, exc, form)
    return redirect(ui.request, f"/ui/work-orders/{work_order_id}?done=scheduled")


@router.post("/work-orders/{work_order_id}/arrive")
def arrive(work_order_id: DbId, ui: FieldPost, version: Short = "") -> Response:
    """I am at the scanner (booked or not)."""
    try:
        order_service.arrive(
            session=ui.session,
            work_order_id=work_order_id,
            if_match=_version(version),
            principal=ui.signed.principal,
        )
    except (Conflict, PreconditionFailed) as exc:
        return _stale(ui, work_order_id, exc, {})
    return redirect(ui.request, f"/ui/work-orders/{work_order_id}?done=arrived")


def _parts_used(rows: list[dict[str, str]]) -> tuple[list[WorkOrderPart], dict[str, str]]:
    """The filled rows as parts, and errors keyed `parts.<row>.<column>` (blank rows are
    skipped: the form always has spare ones)."""
    parts: list[WorkOrderPart] = []
    errors: dict[str, str] = {}
    for i, row in enumerate(rows):
        if not any(v.strip() for v in row.values()):
            continue
        quantity = row["quantity"].strip() or "1"
        if not quantity.isdigit():
            errors[f"parts.{i}.quantity"] = WORDS["quantity"]
            continue
        try:
            parts.append(
                WorkOrderPart(
                    part_number=row["part_number"].strip(),
                    description=row["description"].strip(),
                    quantity=int(quantity),
                )
            )
        except ValidationError as exc:
            for e in exc.errors():
                column = str(e["loc"][0]) if e["loc"] else "part_number"
                errors.setdefault(f"parts.{i}.{column}", WORDS.get(column, str(e["msg"])))
    return parts, errors


@router.post("/work-orders/{work_order_id}/complete")
def complete(
    work_order_id: DbId,
    ui: FieldPost,
    version: Short = "",
    work_done: Text = "",
    result: Short = "",
    findings: Text = "",
    part_number: Cells = [],  # noqa: B006 (FastAPI copies form defaults)
    description: Cells = [],  # noqa: B006
    quantity: Cells = [],  # noqa: B006
    more: Short = "",
) -> Response:
    """End the visit: what was done, the parts used, and the result (fixed resolves the
    call; returned to tier 2 needs findings). "More rows" re-shows the form, unsaved."""
    count = max(len(part_number), len(description), len(quantity))

    def cell(column: list[str], i: int) -> str:
        return column[i] if i < len(column) else ""

    rows = [
        {
            "part_number": cell(part_number, i),
            "description": cell(description, i),
            "quantity": cell(quantity, i),
        }
        for i in range(count)
    ]
    form = {"work_done": work_done, "result": result, "findings": findings, "parts": rows}
    if more:
        return _order_page(ui, work_order_id, form=form, rows=min(count + MORE_ROWS, MAX_ROWS))
    parts, errors = _parts_used(rows)
    data = None
    try:
        data = WorkOrderComplete(
            work_done=work_done.strip(),
            parts_used=parts,
            result=result,
            findings=findings.strip() or None,
        )
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "result"
            errors.setdefault(field, WORDS.get(field, str(e["msg"])))
    if errors or data is None:
        return _invalid(ui, work_order_id, form, errors, rows=max(count, ROWS))
    try:
        order = order_service.complete(
            session=ui.session,
            work_order_id=work_order_id,
            data=data,
            if_match=_version(version),
            principal=ui.signed.principal,
        )
    except (Conflict, PreconditionFailed) as exc:
        return _stale(ui, work_order_id, exc, form, rows=max(count, ROWS))
    done = "fixed" if order.result == WorkOrderResult.FIXED else "returned"
    return redirect(ui.request, f"/ui/work-orders/{work_order_id}?done={done}")
