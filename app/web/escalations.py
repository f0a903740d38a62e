"""The warm transfer in the console: the escalate page, the tier-2 queue, the package."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.auth import service as people
from app.auth.permissions import P, Role
from app.calls import escalation as escalations
from app.calls import package, service
from app.calls.models import CallState, Urgency
from app.calls.package_schemas import EscalationPackage
from app.calls.schemas import EscalateRequest
from app.db import utcnow
from app.deps import Route
from app.errors import Conflict, InvalidInput, PreconditionFailed
from app.schemas import DbId
from app.web import markdown  # noqa: F401 - registers the `md` filter the templates use
from app.web.calls import Short, call_context, flash
from app.web.deps import Console, console
from app.web.render import field_errors, is_partial, page, redirect, templates
from app.workorders import service as work_orders
from app.workorders.schemas import WorkOrderCreate

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Escalator = Annotated[Console, console(P.CALLS_ESCALATE)]
EscalatorPost = Annotated[Console, console(P.CALLS_ESCALATE, write=True)]
QueueReader = Annotated[Console, console(P.ESCALATIONS_READ)]
Tier2Post = Annotated[Console, console(P.ESCALATIONS_HANDLE, write=True)]
RequesterPost = Annotated[Console, console(P.WORK_ORDERS_REQUEST, write=True)]
DONE = {
    "work_order": "Work order sent: the call is with the field engineer now.",
    "work_order_cancelled": "Work order cancelled: the call is back with you.",
}
PART_ROWS = 3  # empty part rows without the script; with it, "Add a part" adds more
_PART_ERROR = re.compile(r"^parts\.(\d+)\.(part_number|description|quantity)$")


async def _posted(request: Request) -> FormData:
    # the parts rows post repeated names, so the whole form is read
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


def _flash(done: str | None) -> dict[str, Any]:
    return {"flash": DONE[done]} if done in DONE else flash(done)


def _iso(value: datetime) -> str:
    """A time for the script's countdown (stored times are UTC-aware)."""
    return value.isoformat()


# -- escalation ------------------------------------------------------------------------


def _escalate_page(
    ui: Console, call_id: int, form: dict[str, Any], errors: dict[str, str]
) -> Response:
    reason = str(form.get("reason") or "")
    urgency = form.get("urgency") if form.get("urgency") in set(Urgency) else None
    data = EscalateRequest(
        reason=reason.strip() or "(no reason given yet)",
        urgency=urgency,
        queue=str(form.get("queue") or "tier2")[:50],
        nothing_applicable=str(form.get("nothing_applicable") or "")[:1000] or None,
    )
    missing, pkg = escalations.preview_escalation(
        session=ui.session,
        index=ui.index,
        call_id=call_id,
        data=data,
        principal=ui.signed.principal,
        targets=ui.settings.response_target_minutes,
    )
    if not reason.strip():
        missing = [*missing, {"field": "reason", "message": "say why tier 2 is needed"}]
    return page(
        ui.request,
        "calls/escalate.html",
        ui.signed,
        status=422 if errors else 200,
        section="calls",
        title=f"Escalate call {call_id}",
        missing=missing,
        brief=package.render_brief(pkg),
        form=form,
        errors=errors,
        urgencies=list(Urgency),
        idempotency_key=form.get("idempotency_key") or secrets.token_urlsafe(16),
        **call_context(ui, call_id),
    )


def _escalate_form(
    reason: str, urgency: str, queue: str, idempotency_key: str, nothing_applicable: str
) -> dict[str, Any]:
    return {
        "reason": reason,
        "urgency": urgency,
        "queue": queue,
        "idempotency_key": idempotency_key,
        "nothing_applicable": nothing_applicable,
    }


@router.get("/calls/{call_id}/escalate")
def escalate_form(call_id: DbId, ui: Escalator) -> Response:
    """What the completeness check still needs, and the brief exactly as tier 2 sees it."""
    return _escalate_page(ui, call_id, {"queue": "tier2"}, {})


@router.post("/calls/{call_id}/escalate/preview")
def escalate_preview(
    call_id: DbId,
    ui: EscalatorPost,
    reason: Annotated[str, Form(max_length=2000)] = "",
    urgency: Short = "",
    queue: Short = "tier2",
    idempotency_key: Short = "",
    nothing_applicable: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Update preview: the check and the brief for what is typed so far, nothing saved (a
    post, so the form's token, retry key and reason never appear in an address)."""
    form = _escalate_form(reason, urgency, queue, idempotency_key, nothing_applicable)
    return _escalate_page(ui, call_id, form, {})


@router.post("/calls/{call_id}/escalate")
def escalate(
    call_id: DbId,
    ui: EscalatorPost,
    reason: Annotated[str, Form(max_length=2000)] = "",
    urgency: Short = "",
    queue: Short = "tier2",
    idempotency_key: Short = "",
    nothing_applicable: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Send: the package is frozen and the call goes to the tier-2 queue (a retried post
    of the same form returns the same escalation)."""
    form = _escalate_form(reason, urgency, queue, idempotency_key, nothing_applicable)
    try:
        data = EscalateRequest(
            reason=reason.strip(),
            urgency=urgency or None,
            queue=queue.strip() or "tier2",
            nothing_applicable=nothing_applicable.strip() or None,
        )
        escalations.escalate(
            session=ui.session,
            index=ui.index,
            call_id=call_id,
            data=data,
            idempotency_key=idempotency_key or None,
            principal=ui.signed.principal,
            targets=ui.settings.response_target_minutes,
        )
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        return _escalate_page(ui, call_id, form, field_errors(exc))
    return redirect(ui.request, f"/ui/calls/{call_id}?done=escalated")


# -- tier 2: the queue -------------------------------------------------------------------


def _queue_context(ui: Console) -> dict[str, Any]:
    """The pending escalations with when each is due (for the live countdown)."""
    items = escalations.queue(session=ui.session)
    # the queue loaded these escalations: reading them again comes from the session
    due = {
        it.escalation_id: _iso(
            escalations.get_escalation(session=ui.session, escalation_id=it.escalation_id).due_at
        )
        for it in items
    }
    return {"items": items, "due": due, "pending": len(items), "now_iso": _iso(utcnow())}


@router.get("/escalations")
def queue_screen(ui: QueueReader, done: str | None = None) -> Response:
    """Pending escalations, most urgent first, then oldest, with time left (the script asks
    for the list alone every few seconds, with X-Partial)."""
    context = _queue_context(ui)
    if is_partial(ui.request):
        fragment = templates.TemplateResponse(
            ui.request, "tier2/_queue.html", {"fragment": True, **context}
        )
        fragment.headers["Cache-Control"] = "no-store"
        return fragment
    me = ui.signed.principal.person_id
    mine = (
        service.list(session=ui.session, owner_id=me, state=CallState.ACCEPTED)
        if me is not None
        else []
    )
    pending = context["pending"]
    return page(
        ui.request,
        "calls/queue.html",
        ui.signed,
        section="queue",
        title=f"({pending}) Escalation queue" if pending else "Escalation queue",
        mine=mine,
        **context,
        **_flash(done),
    )


# -- tier 2: one escalation --------------------------------------------------------------


def _blank_part() -> dict[str, str]:
    return {"part_number": "", "description": "", "quantity": "1"}


def _visit_context(
    ui: Console, call: dict[str, Any], visit: dict[str, Any] | None
) -> dict[str, Any]:
    """The call's work orders, and the form asking for one when this engineer may."""
    me = ui.signed.principal
    orders = work_orders.list_work_orders(session=ui.session, call_id=call["id"], limit=10)
    open_order = next((o for o in orders if o.state in work_orders.OPEN_STATES), None)
    owner = call["owners"]["current"]
    may_request = (
        call["state"] == CallState.ACCEPTED
        and me.can(P.WORK_ORDERS_REQUEST)
        and open_order is None
        and (owner.id == me.person_id or me.is_admin)
    )
    engineers = (
        [p for p in people.list_people(session=ui.session, role=Role.FIELD_ENGINEER) if p.active]
        if may_request
        else []
    )
    primary = call["owners"]["primary_engineer"]
    primary_id = primary.id if primary is not None else None
    form = dict(visit or {})
    if not form.get("field_engineer_id") and any(e.id == primary_id for e in engineers):
        form["field_engineer_id"] = str(primary_id)  # the scanner's primary goes by default
    parts = list(form.get("parts") or [])
    form["parts"] = parts + [_blank_part() for _ in range(PART_ROWS - len(parts))]
    return {
        "orders": orders,
        "open_order": open_order,
        "may_request": may_request,
        "engineers": engineers,
        "primary_id": primary_id,
        "visit": form,
    }


def _escalation_page(
    ui: Console,
    escalation_id: int,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    *,
    visit: dict[str, Any] | None = None,
    visit_errors: dict[str, str] | None = None,
    cancel_error: str = "",
    status: int | None = None,
) -> Response:
    escalation = escalations.get_escalation(session=ui.session, escalation_id=escalation_id)
    pkg = EscalationPackage.model_validate(escalation.package)
    context = call_context(ui, escalation.call_id)
    failed = bool(errors or visit_errors or cancel_error)
    return page(
        ui.request,
        "calls/escalation.html",
        ui.signed,
        status=status or (422 if failed else 200),
        section="queue",
        title=f"Escalation {escalation_id}",
        escalation=escalation,
        minutes_left=escalations.minutes_left(escalation),
        due_iso=_iso(escalation.due_at),
        now_iso=_iso(utcnow()),
        brief=package.render_brief(pkg),
        errors=errors or {},
        visit_errors=visit_errors or {},
        visit_summary=_summary(visit_errors or {}),
        cancel_error=cancel_error,
        **_visit_context(ui, context["call"], visit),
        **context,
        **_flash(done),
    )


@router.get("/escalations/{escalation_id}")
def escalation_screen(escalation_id: DbId, ui: QueueReader, done: str | None = None) -> Response:
    """The package: the brief, then the whole timeline; accept, decline, resolve, capture,
    ask for a field visit."""
    return _escalation_page(ui, escalation_id, done)


@router.post("/escalations/{escalation_id}/accept")
def accept(escalation_id: DbId, ui: Tier2Post) -> Response:
    """Take the call: ownership moves to you (a second engineer gets a clear refusal)."""
    escalations.accept(
        session=ui.session, escalation_id=escalation_id, principal=ui.signed.principal
    )
    return redirect(ui.request, f"/ui/escalations/{escalation_id}?done=accepted")


@router.post("/escalations/{escalation_id}/decline")
def decline(
    escalation_id: DbId, ui: Tier2Post, reason: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    """Back to the queue, with the reason on the timeline."""
    if not reason.strip():
        errors = {"reason": "say why you decline, so the next engineer knows"}
        return _escalation_page(ui, escalation_id, errors=errors)
    escalations.decline(
        session=ui.session,
        escalation_id=escalation_id,
        reason=reason.strip(),
        principal=ui.signed.principal,
    )
    return redirect(ui.request, "/ui/escalations?done=declined")


# -- tier 2: the work order --------------------------------------------------------------

# pydantic's messages for the fields of a work order, in the engineer's words
VISIT_MESSAGES = {
    "fault": "say what fault you found, for the field engineer",
    "part_number": "give the part number, or clear this row",
    "description": "at most 300 characters",
    "quantity": "a whole number from 1 to 1000",
    "field_engineer_id": "choose an active field engineer",
    "target_date": "a date like 2030-05-31",
    "notes": "at most 4000 characters",
}


# what the error summary calls each field of the form (by the id it links to)
VISIT_LABELS = {
    "fault": "Fault found",
    "field_engineer_id": "Field engineer",
    "target_date": "Target date",
    "visit-notes": "Notes for the visit",
    "part_number": "part number",
    "description": "description",
    "quantity": "quantity",
}
_PART_KEY = re.compile(r"^part-(\d+)-(part_number|description|quantity)$")


def _summary(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """The form's errors as (field id, field name, message), in the form's order."""
    out = []
    for key, message in errors.items():
        part = _PART_KEY.match(key)
        name = (
            f"Part {int(part[1]) + 1}, {VISIT_LABELS[part[2]]}"
            if part
            else VISIT_LABELS.get(key, "")
        )
        out.append((key, name, message))
    order = ["form", "fault", "part", "field_engineer_id", "target_date", "visit-notes"]
    return sorted(
        out, key=lambda e: next((i for i, k in enumerate(order) if e[0].startswith(k)), len(order))
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def _read_visit(form: FormData) -> dict[str, Any]:
    """The work order form as typed; part rows in posted order."""
    columns = [
        [v if isinstance(v, str) else "" for v in form.getlist(name)][:100]
        for name in ("part_number", "part_description", "part_quantity")
    ]
    size = max(len(c) for c in columns)
    numbers, descriptions, quantities = (c + [""] * (size - len(c)) for c in columns)
    parts = [
        {"part_number": n.strip(), "description": d.strip(), "quantity": q.strip() or "1"}
        for n, d, q in zip(numbers, descriptions, quantities, strict=True)
    ]
    return {
        "fault": _text(form, "fault"),
        "parts": parts,
        "field_engineer_id": _text(form, "field_engineer_id"),
        "target_date": _text(form, "target_date"),
        "notes": _text(form, "notes"),
    }


def _visit_errors(exc: InvalidInput | ValidationError, rows: list[int]) -> dict[str, str]:
    """Errors keyed as the form names its fields (`part-<row>-<column>` for a part)."""
    out: dict[str, str] = {}
    for field, message in field_errors(exc).items():
        part = _PART_ERROR.match(field)
        if part:
            key = f"part-{rows[int(part[1])]}-{part[2]}"
            out.setdefault(key, VISIT_MESSAGES[part[2]])
        elif field in VISIT_MESSAGES:
            out.setdefault("visit-notes" if field == "notes" else field, VISIT_MESSAGES[field])
        else:
            out.setdefault("form", message)
    return out


@router.post("/escalations/{escalation_id}/work-order")
def request_visit(escalation_id: DbId, ui: RequesterPost, posted: Posted) -> Response:
    """Send the accepted call to the field: the fault, the parts, who visits (the scanner's
    primary by default), by when; the call moves to `field`."""
    escalation = escalations.get_escalation(session=ui.session, escalation_id=escalation_id)
    visit = _read_visit(posted)
    # blank rows are the form's spare ones; `rows` maps a part back to its row on screen
    rows = [i for i, p in enumerate(visit["parts"]) if p["part_number"] or p["description"]]
    try:
        engineer = visit["field_engineer_id"]
        data = WorkOrderCreate(
            fault=visit["fault"],
            parts=[visit["parts"][i] for i in rows],
            field_engineer_id=engineer or None,
            target_date=visit["target_date"] or None,
            notes=visit["notes"],
        )
        work_orders.request(
            session=ui.session,
            call_id=escalation.call_id,
            data=data,
            principal=ui.signed.principal,
        )
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        errors = _visit_errors(exc, rows)
        return _escalation_page(ui, escalation_id, visit=visit, visit_errors=errors)
    except Conflict as exc:
        ui.session.rollback()
        errors = {"form": exc.detail}
        return _escalation_page(ui, escalation_id, visit=visit, visit_errors=errors, status=409)
    return redirect(ui.request, f"/ui/escalations/{escalation_id}?done=work_order")


@router.post("/escalations/{escalation_id}/work-orders/{work_order_id}/cancel")
def cancel_visit(
    escalation_id: DbId,
    work_order_id: DbId,
    ui: RequesterPost,
    reason: Annotated[str, Form(max_length=1000)] = "",
    version: Short = "",
) -> Response:
    """Call the visit off, with the reason; the call comes back to the engineer who asked."""
    escalation = escalations.get_escalation(session=ui.session, escalation_id=escalation_id)
    order = work_orders.get(session=ui.session, work_order_id=work_order_id)
    if order.call_id != escalation.call_id:
        raise InvalidInput(f"work order {order.id} is not on call {escalation.call_id}", errors=[])
    if not reason.strip():
        return _escalation_page(
            ui, escalation_id, cancel_error="say why the visit is no longer needed"
        )
    try:
        work_orders.cancel(
            session=ui.session,
            work_order_id=order.id,
            reason=reason.strip(),
            if_match=int(version) if version.isdigit() and len(version) < 10 else None,
            principal=ui.signed.principal,
        )
    except (Conflict, PreconditionFailed) as exc:
        ui.session.rollback()
        return _escalation_page(ui, escalation_id, cancel_error=exc.detail, status=exc.status)
    return redirect(ui.request, f"/ui/escalations/{escalation_id}?done=work_order_cancelled")
