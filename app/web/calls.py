"""The dispatcher's screens: start a call, work it, resolve it, capture it as an article."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.permissions import P
from app.calls import ending, reuse, service, work
from app.calls.models import AttemptOutcome, CallState
from app.calls.schemas import (
    ArticleAttemptCreate,
    CallSearch,
    CallSearchResult,
    ResolveRequest,
)
from app.deps import Route
from app.errors import InvalidInput
from app.schemas import DbId
from app.search.service import SearchLimits
from app.web import call_panels
from app.web.deps import Console, console
from app.web.render import field_errors, is_partial, page, redirect, templates

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
}
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


def call_context(ui: Console, call_id: int) -> dict[str, Any]:
    view = service.view(session=ui.session, call_id=call_id)
    tried = {
        e.data.get("article_id"): e.data.get("title")
        for e in view["timeline"]
        if e.kind == "step_tried"
    }
    return {
        "call": view,
        "tried_articles": tried,
        "outcomes": OUTCOMES,
        **call_panels.context(ui, call_id),
    }


def _call_page(
    ui: Console,
    call_id: int,
    q: str | None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    context = call_context(ui, call_id)
    last = work.last_search(session=ui.session, call_id=call_id)
    query = q if q is not None else (last or context["call"]["symptom"])
    result, error = None, None
    if ui.signed.principal.can(P.CALLS_WORK):  # readers see the call, not the search
        result, error = _results(ui, call_id, query, record=False)
    return page(
        ui.request,
        "calls/call.html",
        ui.signed,
        status=422 if errors else 200,
        section="calls",
        title=f"Call {call_id}",
        query=query,
        result=result,
        search_error=error,
        errors=errors or {},
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
    return _after_work(ui, call_id, q, f"#article-{article_id}")


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
    call_id: DbId, ui: WorkerPost, article_id: Short = "", notes: Text = ""
) -> Response:
    """Resolve: at tier 1 with the article that fixed it, at tier 2 with notes."""
    try:
        data = ResolveRequest(article_id=article_id or None, notes=notes.strip() or None)
        ending.resolve(
            session=ui.session, call_id=call_id, data=data, principal=ui.signed.principal
        )
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        errors = field_errors(exc)
        if "body" in errors:  # "article or notes": name the one this tier must give
            call = service.get(session=ui.session, call_id=call_id)
            errors = {"notes" if call.state == CallState.ACCEPTED else "article_id": errors["body"]}
        return _call_page(ui, call_id, None, errors=errors)
    return redirect(ui.request, f"/ui/calls/{call_id}?done=resolved")


@router.post("/calls/{call_id}/draft-article")
def capture_article(call_id: DbId, ui: Writer) -> Response:
    """Capture as article: a draft prefilled from the call (the one made before, if the
    call was captured already), opened in the editor."""
    article, _ = reuse.draft_article(
        session=ui.session, index=ui.index, call_id=call_id, principal=ui.signed.principal
    )
    return redirect(ui.request, f"/ui/articles/{article.id}/edit")
