"""Starting a call in the console: the calls list, the new-call form, the scanner picker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import ValidationError

from app.articles.models import Modality
from app.assets import service as asset_service
from app.auth.permissions import P
from app.calls import service
from app.calls.models import CallState, Urgency
from app.calls.schemas import CallCreate
from app.deps import Route
from app.errors import InvalidInput
from app.web.calls import Reader, Short, Text, Worker, WorkerPost, flash
from app.web.deps import Console, console
from app.web.render import field_errors, page, redirect, templates

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
AssetReader = Annotated[Console, console(P.ASSETS_READ)]


# -- starting a call -------------------------------------------------------------------


@router.get("/calls")
def calls_home(ui: Reader, done: str | None = None) -> Response:
    """My calls, and a start button."""
    mine = service.list(session=ui.session, owner_id=ui.signed.principal.person_id)
    active = [(c, n) for c, n in mine if c.state not in (CallState.RESOLVED, CallState.CLOSED)]
    recent = service.list(session=ui.session, limit=20)
    return page(
        ui.request,
        "calls/list.html",
        ui.signed,
        section="calls",
        title="Calls",
        mine=active,
        recent=recent,
        **flash(done),
    )


def _new_call_page(ui: Console, form: dict[str, Any], errors: dict[str, str]) -> Response:
    return page(
        ui.request,
        "calls/new.html",
        ui.signed,
        status=422 if errors else 200,
        section="calls",
        title="New call",
        form=form,
        errors=errors,
        urgencies=list(Urgency),
        modalities=list(Modality),
    )


@router.get("/calls/new")
def new_call(ui: Worker) -> Response:
    """The start-a-call form."""
    return _new_call_page(ui, {"urgency": Urgency.DEGRADED}, {})


@router.get("/assets/pick")
def pick_asset(ui: AssetReader, asset_q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Scanners matching part of a serial number, site or model (a fragment)."""
    assets: list[Any] = []
    if len(asset_q.strip()) >= 2:
        assets, _ = asset_service.list_assets(session=ui.session, q=asset_q, limit=12)
    return templates.TemplateResponse(
        ui.request,
        "calls/_asset_pick.html",
        {"assets": assets, "asset_q": asset_q, "chosen": None},
    )


@router.post("/calls")
def create_call(
    ui: WorkerPost,
    caller_name: Short = "",
    callback_number: Short = "",
    asset_id: Short = "",
    asset_q: Short = "",
    urgency: Short = "",
    patient_impact: Short = "",
    symptom: Text = "",
) -> Response:
    """Open the call and go to its screen."""
    form: dict[str, Any] = {
        "caller_name": caller_name,
        "callback_number": callback_number,
        "asset_id": asset_id,
        "asset_q": asset_q,
        "urgency": urgency,
        "patient_impact": bool(patient_impact),
        "symptom": symptom,
    }
    try:
        if not asset_id:
            raise InvalidInput(
                "pick the scanner",
                errors=[
                    {
                        "field": "asset_id",
                        "message": "type part of the serial or site, then pick one",
                    }
                ],
            )
        data = CallCreate(
            caller_name=caller_name.strip(),
            callback_number=callback_number.strip(),
            asset_id=asset_id,
            urgency=urgency,
            patient_impact=bool(patient_impact),
            symptom=symptom.strip(),
        )
        call = service.open_call(session=ui.session, data=data, principal=ui.signed.principal)
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        if asset_q:
            form["assets"], _ = asset_service.list_assets(session=ui.session, q=asset_q, limit=12)
        return _new_call_page(ui, form, field_errors(exc))
    return redirect(ui.request, f"/ui/calls/{call.id}?done=opened")
