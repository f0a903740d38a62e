"""The dispatcher's screens: start a call, work it, resolve it, capture it as an article."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.auth.permissions import P
from app.calls import details, ending, escalation, reuse, service, work
from app.calls.models import (
    AttemptOutcome,
    CallState,
    CancelReason,
    EscalationStatus,
    ResolutionReason,
    Urgency,
)
from app.calls.schemas import (
    ArticleAttemptCreate,
    CallSearch,
    CallSearchResult,
    CallUpdate,
    CancelRequest,
    ResolveRequest,
)
from app.db import utcnow
from app.deps import Route
from app.errors import Conflict, InvalidInput, PreconditionFailed
from app.schemas import DbId
from app.search.service import SearchLimits
from app.targets.service import WORKED, resolution_due
from app.web import call_panels
from app.web.deps import Console, console
from app.web.render import is_partial, page, redirect, templates

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Reader = Annotated[Console, console(P.CALLS_READ)]
Worker = Annotated[Console, console(P.CALLS_WORK)]
WorkerPost = Annotated[Console, console(P.CALLS_WORK, write=True)]
Writer = Annotated[Console, console(P.ARTICLES_WRITE, write=True)]

OUTCOMES = [
    (AttemptOutcome.FIXED, "Fixed", "1"),
    (AttemptOutcome.NO_CHANGE, "No change", "2"),
    (AttemptOutcome.COULD_NOT_DO, "Could not do", "3"),
    (AttemptOutcome.MADE_WORSE, "Made worse", "4"),
]
DONE = {
    "opened": "Call opened. Type the symptom; results appear as you type.",
    "escalated": "Escalated: tier 2 has the whole call. You stay the follow-up contact "
    "until an engineer accepts.",
    "resolved": "Call resolved.",
    "accepted": "Accepted: you own this call now.",
    "declined": "Declined: the escalation is back in the queue.",
    "edited": "Call details saved.",
    "cancelled": "Call cancelled: its open work orders and actions were cancelled with it.",
}
# the call's details a dispatcher corrects while the caller is on the line, with their labels
EDITABLE = {
    "caller_name": "Caller",
    "callback_number": "Callback number",
    "site_contact": "Site contact",
    "symptom": "Symptom",
    "software_version": "Software version",
    "screen_message": "What the screen says",
    "started": "When it started",
    "recent_changes": "What changed recently",
    "system_state": "System state",
    "urgency": "Urgency",
    "patient_on_table": "Patient on the table",
    "patient_impact": "Patients affected",
}
FLAGS = ("patient_on_table", "patient_impact")
CANCEL_REASONS = [
    (CancelReason.DUPLICATE, "Duplicate of another call"),
    (CancelReason.WRONG_NUMBER, "Wrong number"),
    (CancelReason.WITHDRAWN, "Withdrawn by the customer"),
]
RESOLVE_REASONS = [
    (ResolutionReason.FIXED_OTHER_MEANS, "Fixed by other means"),
    (ResolutionReason.NO_FAULT_FOUND, "No fault found"),
    (ResolutionReason.USER_TRAINING, "User training"),
    (ResolutionReason.DUPLICATE, "Duplicate of another call"),
]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]
QueryText = Annotated[str, Form(max_length=1000)]


def flash(done: str | None) -> dict[str, Any]:
    return {"flash": DONE[done]} if done in DONE else {}


# -- the call screen -------------------------------------------------------------------


def _results(
    ui: Console, call_id: int, query: str, *, record: bool
) -> tuple[CallSearchResult | None, str | None]:
    """Ranked fixes for the call (None with a message when the query cannot run)."""
    if not query.strip():
        return None, None
    limits = SearchLimits.of(ui.settings)
    try:
        result = work.search(
            session=ui.session,
            index=ui.index,
            call_id=call_id,
            data=CallSearch(query=query.strip()[: limits.max_chars]),
            principal=ui.signed.principal,
            limits=limits,
            record=record,
        )
    except InvalidInput as exc:
        return None, exc.detail
    return result, None


def _span(minutes: int) -> str:
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def due_text(due: datetime, now: datetime) -> tuple[str, bool]:
    """A target in words (console.js says it the same way as time passes), and whether it
    is overdue."""
    seconds = (due - now).total_seconds()
    if seconds >= 0:
        return f"{_span(int(seconds // 60))} left", False
    return f"overdue by {_span(math.ceil(-seconds / 60))}", True


def _targets(ui: Console, view: dict[str, Any]) -> list[dict[str, Any]]:
    """The call's running targets: the response while its escalation waits in a queue,
    the resolution while it is worked."""
    due: list[tuple[str, str, datetime]] = []
    if view["state"] == CallState.ESCALATED and view["escalation_ids"]:
        latest = escalation.get_escalation(
            session=ui.session, escalation_id=view["escalation_ids"][-1]
        )
        if latest.status == EscalationStatus.PENDING:
            due.append(("response", "Response target", latest.due_at))
    if view["state"] in WORKED:
        call = service.get(session=ui.session, call_id=view["id"])
        minutes = ui.settings.resolution_target_minutes
        due.append(("resolution", "Resolution target", resolution_due(call, minutes)))
    now = utcnow()
    keys = ("kind", "label", "due", "text", "overdue")
    return [dict(zip(keys, (k, n, d, *due_text(d, now)), strict=True)) for k, n, d in due]


def call_context(ui: Console, call_id: int) -> dict[str, Any]:
    view = service.view(session=ui.session, call_id=call_id)
    tried: dict[Any, Any] = {}
    last: dict[Any, Any] = {}
    fixed = None
    for e in view["timeline"]:
        if e.kind == "step_tried":
            aid = e.data.get("article_id")
            tried[aid] = e.data.get("title")
            last[aid] = e.data.get("outcome")
            fixed = aid if e.data.get("outcome") == AttemptOutcome.FIXED else fixed
    return {
        "call": view,
        "entries": work.timeline_entries(view["timeline"]),
        "tried_articles": tried,
        # the article that fixed it, last said so: resolving offers it first
        "fixed_article": fixed if fixed is not None and last[fixed] == "fixed" else None,
        "outcomes": OUTCOMES,
        "targets": _targets(ui, view),
        "resolve_reasons": RESOLVE_REASONS,
        **call_panels.context(ui, call_id),
    }


def _call_page(
    ui: Console,
    call_id: int,
    q: str | None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    *,
    form: str = "resolve",
    typed: dict[str, Any] | None = None,
    conflict: list[str] | None = None,
    status: int = 422,
) -> Response:
    """The call screen; after a refused form, that form (`form`: resolve, edit or cancel)
    with its errors next to the fields, an error summary first and what was typed kept."""
    context = call_context(ui, call_id)
    last = work.last_search(session=ui.session, call_id=call_id)
    query = q if q is not None else (last or context["call"]["symptom"])
    result, error = None, None
    if ui.signed.principal.can(P.CALLS_WORK):  # readers see the call, not the search
        result, error = _results(ui, call_id, query, record=False)
    errors = errors or {}
    return page(
        ui.request,
        "calls/call.html",
        ui.signed,
        status=status if errors or conflict else 200,
        section="calls",
        title=f"Call {call_id}",
        query=query,
        result=result,
        search_error=error,
        errors=errors,
        error_form=form if errors or conflict else "",
        summary=[(f"{form}-{name}", message) for name, message in errors.items()],
        focus=f"{form}-{next(iter(errors))}" if errors else ("error-summary" if conflict else ""),
        typed=typed or {},
        conflict=conflict or [],
        editable=EDITABLE,
        urgencies=list(Urgency),
        cancel_reasons=CANCEL_REASONS,
        **context,
        **flash(done),
    )


@router.get("/calls/{call_id}")
def call_screen(
    call_id: DbId,
    ui: Reader,
    q: Annotated[str | None, Query(max_length=1000)] = None,
    done: str | None = None,
) -> Response:
    """The dispatcher's screen: who owns the call, live fixes, outcomes, escalate, resolve
    (roles that may only read calls see the status and the timeline)."""
    return _call_page(ui, call_id, q, done)


Results = tuple[CallSearchResult | None, str | None]


def _fragments(
    ui: Console, call_id: int, query: str, template: str, ranked: Results | None = None
) -> Response:
    """Parts of the call screen for the script to swap in place (`ranked`: results the
    handler already has for this query, so they are not searched for again)."""
    result, error = ranked or _results(ui, call_id, query, record=False)
    return templates.TemplateResponse(
        ui.request,
        template,
        {
            "result": result,
            "search_error": error,
            "query": query,
            "csrf": ui.signed.csrf_token,
            "fragment": True,
            "me": ui.signed.principal,
            "errors": {},
            **call_context(ui, call_id),
        },
    )


@router.get("/calls/{call_id}/results")
def live_results(
    call_id: DbId, ui: Worker, q: Annotated[str, Query(max_length=1000)] = ""
) -> Response:
    """Results while the dispatcher types (a fragment; not recorded here: the script posts
    the query to /shown once the dispatcher has paused on the results)."""
    ranked = _results(ui, call_id, q, record=False)
    response = _fragments(ui, call_id, q, "calls/_results.html", ranked)
    if ranked[0] is not None:  # results were shown: say where to record them
        response.headers["X-Record-Shown"] = f"/ui/calls/{call_id}/shown"
    return response


def _after_work(
    ui: Console, call_id: int, query: str, anchor: str = "", ranked: Results | None = None
) -> Response:
    """Fragments for the script (results, timeline, status); a redirect for plain forms."""
    if not is_partial(ui.request):
        return redirect(ui.request, f"/ui/calls/{call_id}?q={quote(query)}{anchor}")
    return _fragments(ui, call_id, query, "calls/_work.html", ranked)


def _record_query(ui: Console, call_id: int, query: str) -> Results | None:
    """Record the search the dispatcher acted on, unless it is already the latest one;
    returns its results when it ran."""
    if query.strip() and work.last_search(session=ui.session, call_id=call_id) != (query.strip()):
        return _results(ui, call_id, query, record=True)
    return None


@router.post("/calls/{call_id}/search")
def record_search(call_id: DbId, ui: WorkerPost, q: QueryText = "") -> Response:
    """Enter in the symptom box: the search goes on the timeline."""
    # the recorded results are the ones to show; an outcome, by contrast, re-ranks
    return _after_work(ui, call_id, q, ranked=_record_query(ui, call_id, q))


@router.post("/calls/{call_id}/shown")
def record_shown(call_id: DbId, ui: WorkerPost, q: QueryText = "") -> Response:
    """Live results the dispatcher saw, then paused on: the search goes on the timeline
    (via "live") and the call's timeline comes back; 204 when nothing was recorded (a blank
    box, or the same search as the latest)."""
    limits = SearchLimits.of(ui.settings)
    event = work.record_shown(
        session=ui.session,
        index=ui.index,
        call_id=call_id,
        query=q.strip()[: limits.max_chars],
        principal=ui.signed.principal,
        limits=limits,
    )
    if event is None:
        return Response(status_code=204)
    return templates.TemplateResponse(
        ui.request, "calls/_timeline.html", {"fragment": True, **call_context(ui, call_id)}
    )


@router.post("/calls/{call_id}/attempts")
def record_outcome(
    call_id: DbId,
    ui: WorkerPost,
    article_id: Short = "",
    outcome: Short = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    q: QueryText = "",
) -> Response:
    """One click: what happened when the caller tried an article."""
    _record_query(ui, call_id, q)
    try:
        data = ArticleAttemptCreate(article_id=article_id, outcome=outcome, note=note.strip())
    except ValidationError as exc:
        raise InvalidInput("choose one of the outcomes for the article", errors=[]) from exc
    work.record_attempt(
        session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal
    )
    # it worked: the resolve form, with this article chosen, is the next thing to do
    anchor = "#resolve" if data.outcome == AttemptOutcome.FIXED else f"#article-{article_id}"
    return _after_work(ui, call_id, q, anchor)


@router.post("/calls/{call_id}/notes")
def add_note(call_id: DbId, ui: WorkerPost, text: Text = "", q: QueryText = "") -> Response:
    """A note on the timeline (it goes into the escalation package)."""
    if text.strip():
        work.add_note(
            session=ui.session,
            call_id=call_id,
            text=text.strip(),
            principal=ui.signed.principal,
        )
    return _after_work(ui, call_id, q)


@router.post("/calls/{call_id}/resolve")
def resolve_call(
    call_id: DbId,
    ui: WorkerPost,
    article_id: Short = "",
    reason: Short = "",
    notes: Text = "",
) -> Response:
    """Resolve: at tier 1 with the article that fixed it or how it was resolved without
    one, at tier 2 with notes."""
    typed = {"article_id": article_id, "reason": reason, "notes": notes}
    call = service.get(session=ui.session, call_id=call_id)
    errors = {}
    if call.state == CallState.OPEN and not (article_id or reason):
        errors["article_id"] = "Pick the article that fixed it, or say how it was resolved."
    elif call.state == CallState.OPEN and article_id and reason:
        errors["reason"] = "Pick the article or a reason, not both."
    elif call.state != CallState.OPEN and not notes.strip():
        errors["notes"] = "Write what was done to resolve it: tier 2 resolves with notes."
    if not errors:
        try:
            data = ResolveRequest(
                article_id=article_id or None, reason=reason or None, notes=notes.strip() or None
            )
            ending.resolve(
                session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal
            )
            return redirect(ui.request, f"/ui/calls/{call_id}?done=resolved")
        except (InvalidInput, ValidationError, Conflict) as exc:
            ui.session.rollback()
            message = exc.detail if isinstance(exc, Conflict) else "Check this choice."
            errors["notes" if call.state != CallState.OPEN else "article_id"] = message
    return _call_page(ui, call_id, None, errors=errors, form="resolve", typed=typed)


async def _form(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]


def _value(form: FormData, name: str) -> str | bool:
    """A posted detail: a flag is on when ticked, text is trimmed."""
    value = form.get(name)
    if name in FLAGS:
        return value == "1"
    return value.strip() if isinstance(value, str) else ""


def _said(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"“{str(value).replace('_', ' ')}”" if value else "empty"


def _in_words(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors as the dispatcher would say them, by field."""
    out: dict[str, str] = {}
    for e in exc.errors():
        name = str(e["loc"][-1]) if e["loc"] else ""
        label = EDITABLE.get(name, "This")
        if e["type"] == "string_too_long":
            out[name] = f"{label} is too long: keep it under {e['ctx']['max_length']} characters."
        elif e["type"] == "string_too_short":
            out[name] = f"{label} cannot be empty: type it as the caller gave it."
        else:
            out[name] = f"{label}: choose one of the options."
    return out


@router.post("/calls/{call_id}/details")
def edit_call(call_id: DbId, ui: WorkerPost, form: Posted) -> Response:
    """Correct or complete what the caller said; based on the version the form was read
    at: when someone else saved first, their changes are named and what was typed kept."""
    typed = {name: _value(form, name) for name in EDITABLE}
    was = {name: _value(form, f"was_{name}") for name in EDITABLE}
    version = str(form.get("version", ""))
    try:
        data = CallUpdate.model_validate({**typed, "urgency": typed["urgency"] or None})
        details.edit(
            session=ui.session,
            call_id=call_id,
            data=data,
            if_match=int(version) if version.isdigit() else None,
            principal=ui.signed.principal,
        )
    except ValidationError as exc:
        return _call_page(ui, call_id, None, errors=_in_words(exc), form="edit", typed=typed)
    except PreconditionFailed:
        ui.session.rollback()
        now = service.view(session=ui.session, call_id=call_id)
        theirs = [n for n in EDITABLE if _value_of(now[n]) != was[n]]
        for name in theirs:  # what the dispatcher did not touch takes the other change
            if typed[name] == was[name]:
                typed[name] = _value_of(now[name])
        conflict = [f"{EDITABLE[n]} is now {_said(now[n])}" for n in theirs] or [
            "the call moved on (its state or owners), none of these details"
        ]
        return _call_page(
            ui, call_id, None, form="edit", typed=typed, conflict=conflict, status=409
        )
    except Conflict as exc:
        ui.session.rollback()
        errors = {"form": exc.detail}
        return _call_page(ui, call_id, None, errors=errors, form="edit", typed=typed, status=409)
    return redirect(ui.request, f"/ui/calls/{call_id}?done=edited")


def _value_of(value: Any) -> str | bool:
    return value if isinstance(value, bool) else str(value or "")


@router.post("/calls/{call_id}/cancel")
def cancel_call(call_id: DbId, ui: WorkerPost, reason: Short = "", note: Text = "") -> Response:
    """End a call needing no repair, with its open work orders and actions."""
    typed = {"reason": reason, "note": note}
    if reason not in set(CancelReason):
        errors = {"reason": "Say why the call ends: a duplicate, a wrong number or withdrawn."}
        return _call_page(ui, call_id, None, errors=errors, form="cancel", typed=typed)
    try:
        data = CancelRequest(reason=CancelReason(reason), note=note.strip())
        ending.cancel(session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal)
    except ValidationError:
        errors = {"note": "The note is too long: keep it under 1000 characters."}
        return _call_page(ui, call_id, None, errors=errors, form="cancel", typed=typed)
    except Conflict as exc:
        ui.session.rollback()
        errors = {"reason": exc.detail}
        return _call_page(ui, call_id, None, errors=errors, form="cancel", typed=typed)
    return redirect(ui.request, f"/ui/calls/{call_id}?done=cancelled")


@router.post("/calls/{call_id}/draft-article")
def capture_article(call_id: DbId, ui: Writer) -> Response:
    """Capture as article: a draft prefilled from the call (the one made before, if the
    call was captured already), opened in the editor."""
    article, _ = reuse.draft_article(
        session=ui.session, index=ui.index, call_id=call_id, principal=ui.signed.principal
    )
    return redirect(ui.request, f"/ui/articles/{article.id}/edit")
