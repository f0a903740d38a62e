"""Calls, the tier-2 escalation queue and article reuse figures over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from app import later
from app.articles.schemas import ArticleRead
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.calls import details, ending, package, resolution, reuse, service, similar, work
from app.calls import escalation as escalations
from app.calls.models import CallState, Escalation
from app.calls.package_schemas import EscalationPackage, SimilarCall
from app.calls.schemas import (
    ArticleAttemptCreate,
    ArticleStats,
    CallCreate,
    CallRead,
    CallSearch,
    CallSearchResult,
    CallSummary,
    CallUpdate,
    CancelRequest,
    DeclineRequest,
    DraftFromCall,
    EscalateRequest,
    EscalationPreview,
    EscalationRead,
    EventRead,
    FollowUpRequest,
    NoteCreate,
    QueueItem,
    ReasonRequest,
    ResolveRequest,
)
from app.deps import DbSession, IfMatch, Route, SettingsDep, set_etag
from app.schemas import MAX_ID, DbId
from app.search.deps import SearchIndex
from app.search.service import SearchLimits

router = APIRouter(tags=["calls"], route_class=Route)
Reader = Annotated[Principal, permit(P.CALLS_READ)]
Worker = Annotated[Principal, permit(P.CALLS_WORK)]
Tier2 = Annotated[Principal, permit(P.ESCALATIONS_HANDLE)]
PackageReader = Annotated[Principal, permit(P.ESCALATIONS_READ)]


def _read(session: DbSession, call_id: DbId, response: Response | None = None) -> CallRead:
    """The call as returned, with its version as ETag (what If-Match sends back)."""
    call = CallRead.model_validate(
        service.view(session=session, call_id=call_id), from_attributes=True
    )
    if response is not None:
        set_etag(response, call.version)
    return call


@router.post("/calls", status_code=status.HTTP_201_CREATED, summary="Open a call")
def open_call(data: CallCreate, session: DbSession, principal: Worker) -> CallRead:
    """The opener owns the call; the scanner's primary engineer is the follow-up owner."""
    call = service.open_call(session=session, data=data, principal=principal)
    return _read(session, call.id)


@router.get("/calls", summary="List calls")
def list_calls(
    session: DbSession,
    _: Reader,
    state: CallState | None = None,
    owner_id: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[CallSummary]:
    """Newest first, optionally by state or current owner."""
    rows = service.list(session=session, state=state, owner_id=owner_id, limit=limit, offset=offset)
    return [CallSummary.of(c, name) for c, name in rows]


@router.get("/calls/{call_id}", summary="Read a call")
def read_call(call_id: DbId, response: Response, session: DbSession, _: Reader) -> CallRead:
    """State, current owner, follow-up owner, the scanner's primary engineer, the whole
    timeline and the ownership history; the ETag is the call's version."""
    return _read(session, call_id, response)


@router.patch("/calls/{call_id}", summary="Edit a call")
def edit_call(
    call_id: DbId,
    data: CallUpdate,
    response: Response,
    session: DbSession,
    if_match: IfMatch,
    principal: Worker,
) -> CallRead:
    """Correct or complete what the caller said (caller, callback number, site contact,
    symptom, software version, what the screen says, when it started, what changed,
    system state, patient on the table, urgency) while the call is worked. Send the
    version you read as If-Match: none is 428, a stale one 412. Each change is on the
    timeline with its old and new value."""
    details.edit(
        session=session, call_id=call_id, data=data, if_match=if_match, principal=principal
    )
    return _read(session, call_id, response)


@router.post("/calls/{call_id}/cancel", summary="Cancel a call")
def cancel(call_id: DbId, data: CancelRequest, session: DbSession, principal: Worker) -> CallRead:
    """End a call that needs no repair: a duplicate, a wrong number, withdrawn by the
    customer. Its pending escalations close; its open work orders and actions are cancelled;
    `reopen` brings it back."""
    ending.cancel(session=session, call_id=call_id, data=data, principal=principal)
    return _read(session, call_id)


@router.post("/calls/{call_id}/follow-up", summary="Hand over the follow-up")
def set_follow_up(
    call_id: DbId, data: FollowUpRequest, session: DbSession, principal: Worker
) -> CallRead:
    """The follow-up owner keeps the customer informed; the change is kept as an interval."""
    service.set_follow_up(
        session=session,
        call_id=call_id,
        person_id=data.person_id,
        reason=data.reason,
        principal=principal,
    )
    return _read(session, call_id)


@router.post("/calls/{call_id}/search", summary="Search within a call")
def search_in_call(
    call_id: DbId,
    data: CallSearch,
    session: DbSession,
    index: SearchIndex,
    settings: SettingsDep,
    principal: Worker,
    request: Request,
    background: BackgroundTasks,
) -> CallSearchResult:
    """Applies the scanner's modality, manufacturer and model as filters (unless
    overridden); articles already tried without success on this call are ranked below
    untried ones and marked. Recorded on the timeline with the results shown (on SQLite
    just after the answer; the call's next request sees it)."""
    first = later.answers_first(session)
    result = work.search(
        session=session,
        index=index,
        call_id=call_id,
        data=data,
        principal=principal,
        limits=SearchLimits.of(settings),
        record=not first,
    )
    if first:

        def write(into: Session) -> None:
            work.record_search(session=into, call_id=call_id, result=result, principal=principal)

        later.record_after_answer(request, background, session, call_id, write)
    return result


@router.get("/calls/{call_id}/similar", summary="Similar past calls")
def similar_calls(
    call_id: DbId,
    session: DbSession,
    index: SearchIndex,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=similar.MAX_LIMIT)] = similar.DEFAULT_LIMIT,
) -> list[SimilarCall]:
    """Resolved calls whose symptom, notes and resolution read like this call's (its text
    as it stands now), on the same scanner model first, then the same maker, the same
    modality, any other; within each, most similar first. Each with what fixed it: the
    article, or the resolution notes or reason. Never the call itself; no caller details."""
    return similar.similar_calls(session=session, index=index, call_id=call_id, limit=limit)


@router.post("/calls/{call_id}/articles/{article_id}/open", summary="Record an opened article")
def open_article(
    call_id: DbId, article_id: DbId, session: DbSession, principal: Worker
) -> ArticleRead:
    """Returns the article; the escalation check will ask for its outcome."""
    article = work.open_article(
        session=session, call_id=call_id, article_id=article_id, principal=principal
    )
    return ArticleRead.model_validate(article)


@router.post("/calls/{call_id}/attempts", status_code=201, summary="Record what was tried")
def record_attempt(
    call_id: DbId, data: ArticleAttemptCreate, session: DbSession, principal: Worker
) -> EventRead:
    """AttemptOutcome: fixed, no_change, could_not_do or made_worse, with an optional note."""
    event = work.record_attempt(session=session, call_id=call_id, data=data, principal=principal)
    return EventRead.model_validate(event)


@router.post("/calls/{call_id}/notes", status_code=201, summary="Add a note")
def add_note(
    call_id: DbId,
    data: NoteCreate,
    session: DbSession,
    principal: Annotated[Principal, permit(P.CALLS_NOTE)],
) -> EventRead:
    """A note on the timeline (it goes into the escalation package). A field engineer adds
    notes to the calls of the scanners they look after, and to calls they own."""
    return EventRead.model_validate(
        work.add_note(session=session, call_id=call_id, text=data.text, principal=principal)
    )


@router.get("/calls/{call_id}/escalation-check", summary="What escalation still needs")
def escalation_check(call_id: DbId, session: DbSession, _: Reader) -> dict[str, Any]:
    """The completeness check, so the dispatcher can ask while the caller is on the line."""
    call = service.get(session=session, call_id=call_id)
    missing = escalations.missing_for_escalation(session=session, call=call)
    return {"ready": not missing, "missing": missing}


@router.post("/calls/{call_id}/escalation-preview", summary="Preview the escalation")
def escalation_preview(
    call_id: DbId,
    data: EscalateRequest,
    session: DbSession,
    index: SearchIndex,
    settings: SettingsDep,
    principal: Annotated[Principal, permit(P.CALLS_ESCALATE)],
) -> EscalationPreview:
    """What the completeness check still needs, and the package and brief exactly as tier
    2 would get them if sent now. Nothing is saved (the preview's escalation_id is 0)."""
    missing, pkg = escalations.preview_escalation(
        session=session,
        index=index,
        call_id=call_id,
        data=data,
        principal=principal,
        targets=settings.response_target_minutes,
    )
    return EscalationPreview(
        ready=not missing, missing=missing, package=pkg, brief=package.render_brief(pkg)
    )


def _escalation_read(e: Escalation) -> EscalationRead:
    return EscalationRead(
        id=e.id,
        call_id=e.call_id,
        status=e.status,
        urgency=e.urgency,
        queue=e.queue,
        target_engineer_id=e.target_person_id,
        created_at=e.created_at,
        due_at=e.due_at,
        minutes_left=escalations.minutes_left(e),
        accepted_by=e.accepted_by,
        accepted_at=e.accepted_at,
        package=EscalationPackage.model_validate(e.package),
    )


@router.post("/calls/{call_id}/escalate", status_code=201, summary="Escalate to tier 2")
def escalate(
    call_id: DbId,
    data: EscalateRequest,
    response: Response,
    session: DbSession,
    index: SearchIndex,
    settings: SettingsDep,
    principal: Annotated[Principal, permit(P.CALLS_ESCALATE)],
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> EscalationRead:
    """Warm transfer. Incomplete calls get 422 listing exactly what is missing (a `safety`
    event skips the check). A retry with the same Idempotency-Key returns the same
    escalation (200) instead of a second one, also when retries race; the same key with a
    different body gets 422 naming `Idempotency-Key`."""
    escalation, created = escalations.escalate(
        session=session,
        index=index,
        call_id=call_id,
        data=data,
        idempotency_key=idempotency_key,
        principal=principal,
        targets=settings.response_target_minutes,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/escalations/{escalation.id}"
    return _escalation_read(escalation)


@router.get("/escalations", summary="The tier-2 queue")
def escalation_queue(
    session: DbSession, _: PackageReader, queue: str | None = None
) -> list[QueueItem]:
    """Pending escalations, most urgent first, then oldest; with time left to the target."""
    return escalations.queue(session=session, queue_name=queue)


@router.get("/escalations/{escalation_id}", summary="Read an escalation package")
def read_escalation(escalation_id: DbId, session: DbSession, _: PackageReader) -> EscalationRead:
    """The immutable package (JSON Schema: docs/escalation-package.schema.json). It holds
    customer contact data: only roles with escalations:read see it."""
    return _escalation_read(
        escalations.get_escalation(session=session, escalation_id=escalation_id)
    )


@router.get(
    "/escalations/{escalation_id}/brief",
    summary="One-screen brief",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def read_brief(escalation_id: DbId, session: DbSession, _: PackageReader) -> PlainTextResponse:
    """The package as plain text / Markdown, for a person."""
    e = escalations.get_escalation(session=session, escalation_id=escalation_id)
    text = package.render_brief(EscalationPackage.model_validate(e.package))
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.post("/escalations/{escalation_id}/accept", summary="Accept (tier 2)")
def accept(escalation_id: DbId, session: DbSession, principal: Tier2) -> EscalationRead:
    """Ownership moves to the accepting engineer; a second accept gets 409."""
    return _escalation_read(
        escalations.accept(session=session, escalation_id=escalation_id, principal=principal)
    )


@router.post("/escalations/{escalation_id}/decline", summary="Decline (back to the queue)")
def decline(
    escalation_id: DbId, data: DeclineRequest, session: DbSession, principal: Tier2
) -> EscalationRead:
    """The escalation stays pending in its queue for another engineer."""
    return _escalation_read(
        escalations.decline(
            session=session, escalation_id=escalation_id, reason=data.reason, principal=principal
        )
    )


@router.post("/calls/{call_id}/resolve", summary="Resolve a call")
def resolve(call_id: DbId, data: ResolveRequest, session: DbSession, principal: Worker) -> CallRead:
    """At tier 1, name the article that fixed it (a reuse), or how it was resolved without
    one (`reason`: fixed by other means, no fault found, user training, duplicate); at tier
    2 or in the field, give notes. While a work order is open the call is resolved by
    completing it (409 here, naming it), or after cancelling it."""
    ending.resolve(session=session, call_id=call_id, data=data, principal=principal)
    return _read(session, call_id)


@router.post("/calls/{call_id}/close", summary="Close a resolved call")
def close(call_id: DbId, session: DbSession, principal: Worker) -> CallRead:
    """Resolved → closed."""
    resolution.close(session=session, call_id=call_id, principal=principal)
    return _read(session, call_id)


@router.post("/calls/{call_id}/reopen", summary="Reopen a call")
def reopen(call_id: DbId, data: ReasonRequest, session: DbSession, principal: Worker) -> CallRead:
    """Resolved or closed → open at tier 1, owned by whoever reopens it."""
    resolution.reopen(session=session, call_id=call_id, reason=data.reason, principal=principal)
    return _read(session, call_id)


@router.post("/calls/{call_id}/draft-article", status_code=201, summary="Capture as article")
def draft_article(
    call_id: DbId,
    response: Response,
    session: DbSession,
    index: SearchIndex,
    principal: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    settings: SettingsDep,
) -> DraftFromCall:
    """A draft prefilled from the call (issue in the caller's words, environment from the
    scanner, steps from what fixed it: steps taken from tier-2 notes are marked tier 2
    only), linked to the call, with the closest published articles (likely duplicates
    marked). A call captured before answers 200 with its draft."""
    article, created = reuse.draft_article(
        session=session, index=index, call_id=call_id, principal=principal
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/articles/{article.id}"
    neighbours = reuse.draft_neighbours(
        session=session,
        index=index,
        article=article,
        threshold=settings.duplicate_score,
    )
    return DraftFromCall(
        article=ArticleRead.model_validate(article), call_id=call_id, similar=neighbours
    )


@router.get("/articles/{article_id}/stats", summary="Article reuse figures", tags=["articles"])
def article_stats(article_id: DbId, session: DbSession, _: Reader) -> ArticleStats:
    """Times suggested, opened, tried, fixed (reuse), and the tier-1 fix rate."""
    return reuse.article_stats(session=session, article_id=article_id)
