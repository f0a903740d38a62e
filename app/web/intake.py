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


# the form's fields in page order (the error summary's order), and what to say when one is
# refused, in the dispatcher's words rather than the validator's
FIELDS = {
    "asset_id": ("asset_q", "Scanner"),
    "caller_name": ("caller_name", "Caller name"),
    "callback_number": ("callback_number", "Callback number"),
    "urgency": ("urgency", "Urgency"),
    "patient_impact": ("patient_impact", "Patients are affected"),
    "symptom": ("symptom", "Symptom"),
}
NO_SCANNER = (
    "Choose the scanner: type part of its serial number, hospital or model, then pick it"
    " from the list"
)
SAY = {
    "caller_name": "Enter the caller's name (100 characters at most)",
    "callback_number": "Enter a callback number of 40 characters at most",
    "urgency": "Choose how urgent the call is",
    "symptom": "Shorten the symptom to 4000 characters at most",
}


def _in_words(errors: dict[str, str]) -> dict[str, str]:
    """Field errors in the dispatcher's words, in the form's order (unknown fields last)."""
    ordered = {f: SAY.get(f, errors[f]) for f in FIELDS if f in errors}
    ordered.update({f: m for f, m in errors.items() if f not in FIELDS})
    return ordered


def _new_call_page(ui: Console, form: dict[str, Any], errors: dict[str, str]) -> Response:
    errors = _in_words(errors)
    return page(
        ui.request,
        "calls/new.html",
        ui.signed,
        status=422 if errors else 200,
        section="calls",
        title="New call",
        form=form,
        errors=errors,
        fields=FIELDS,
        # the first field at fault takes the focus (autofocus: no script needed)
        focus=next(iter(errors), "asset_id"),
        urgencies=list(Urgency),
        modalities=list(Modality),
    )


@router.get("/calls/new")
def new_call(ui: Worker) -> Response:
    """The start-a-call form."""
    return _new_call_page(ui, {"urgency": Urgency.DEGRADED}, {})


@router.get("/assets/pick")
def pick_asset(
    ui: AssetReader,
    asset_q: Annotated[str, Query(max_length=200)] = "",
    asset_id: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Scanners matching part of a serial number, site or model: the combobox's options (a
    fragment), the one already chosen kept, else the first preselected."""
    assets: list[Any] = []
    if len(asset_q.strip()) >= 2:
        assets, _ = asset_service.list_assets(session=ui.session, q=asset_q, limit=12)
    ids = [a.id for a in assets]
    chosen = int(asset_id) if asset_id.isdigit() and int(asset_id) in ids else None
    return templates.TemplateResponse(
        ui.request,
        "calls/_asset_pick.html",
        {"assets": assets, "asset_q": asset_q, "chosen": chosen or (ids[0] if ids else None)},
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
    # every field at fault at once, the missing scanner with the others
    errors = {} if asset_id else {"asset_id": NO_SCANNER}
    try:
        data = CallCreate(
            caller_name=caller_name.strip(),
            callback_number=callback_number.strip(),
            asset_id=asset_id or None,
            urgency=urgency,
            patient_impact=bool(patient_impact),
            symptom=symptom.strip(),
        )
        if errors:
            raise InvalidInput("pick the scanner", errors=[])
        call = service.open_call(session=ui.session, data=data, principal=ui.signed.principal)
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        if asset_q:
            form["assets"], _ = asset_service.list_assets(session=ui.session, q=asset_q, limit=12)
        return _new_call_page(ui, form, {**errors, **field_errors(exc)})
    return redirect(ui.request, f"/ui/calls/{call.id}?done=opened")
