"""The warm transfer in the console: the escalate page, the tier-2 queue, the package."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.permissions import P
from app.calls import escalation as escalations
from app.calls import package, service
from app.calls.models import CallState, Urgency
from app.calls.package_schemas import EscalationPackage
from app.calls.schemas import EscalateRequest
from app.deps import Route
from app.errors import InvalidInput
from app.schemas import DbId
from app.web.calls import Short, call_context, flash
from app.web.deps import Console, console
from app.web.render import field_errors, page, redirect

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Escalator = Annotated[Console, console(P.CALLS_ESCALATE)]
EscalatorPost = Annotated[Console, console(P.CALLS_ESCALATE, write=True)]
QueueReader = Annotated[Console, console(P.ESCALATIONS_READ)]
Tier2Post = Annotated[Console, console(P.ESCALATIONS_HANDLE, write=True)]


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


@router.get("/calls/{call_id}/escalate")
def escalate_form(
    call_id: DbId,
    ui: Escalator,
    reason: Annotated[str, Query(max_length=2000)] = "",
    urgency: Annotated[str, Query(max_length=40)] = "",
    queue: Annotated[str, Query(max_length=50)] = "tier2",
) -> Response:
    """What the completeness check still needs, and the brief exactly as tier 2 sees it."""
    return _escalate_page(ui, call_id, {"reason": reason, "urgency": urgency, "queue": queue}, {})


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
    form = {
        "reason": reason,
        "urgency": urgency,
        "queue": queue,
        "idempotency_key": idempotency_key,
        "nothing_applicable": nothing_applicable,
    }
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


# -- tier 2 ------------------------------------------------------------------------------


@router.get("/escalations")
def queue_screen(ui: QueueReader, done: str | None = None) -> Response:
    """Pending escalations, most urgent first, then oldest, with time left."""
    me = ui.signed.principal.person_id
    mine = (
        service.list(session=ui.session, owner_id=me, state=CallState.ACCEPTED)
        if me is not None
        else []
    )
    return page(
        ui.request,
        "calls/queue.html",
        ui.signed,
        section="queue",
        title="Escalation queue",
        items=escalations.queue(session=ui.session),
        mine=mine,
        **flash(done),
    )


def _escalation_page(
    ui: Console, escalation_id: int, done: str | None = None, errors: dict[str, str] | None = None
) -> Response:
    escalation = escalations.get_escalation(session=ui.session, escalation_id=escalation_id)
    pkg = EscalationPackage.model_validate(escalation.package)
    return page(
        ui.request,
        "calls/escalation.html",
        ui.signed,
        status=422 if errors else 200,
        section="queue",
        title=f"Escalation {escalation_id}",
        escalation=escalation,
        minutes_left=escalations.minutes_left(escalation),
        brief=package.render_brief(pkg),
        errors=errors or {},
        **call_context(ui, escalation.call_id),
        **flash(done),
    )


@router.get("/escalations/{escalation_id}")
def escalation_screen(escalation_id: DbId, ui: QueueReader, done: str | None = None) -> Response:
    """The package: the brief, then the whole timeline; accept, decline, resolve, capture."""
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
