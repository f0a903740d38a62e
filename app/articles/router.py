"""HTTP routes for the article library."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.articles import export, imports, review, service, sources
from app.articles.deps import Indexer
from app.articles.models import Article, ArticleStatus, Modality
from app.articles.review_models import ArticleRevision
from app.articles.review_router import ACCEPTED, accepted
from app.articles.schemas import (
    ArticleCreate,
    ArticlePage,
    ArticleRead,
    ArticleSort,
    ArticleUpdate,
    ArticleVersionRead,
    ArticleVersionSummary,
    ImportReport,
)
from app.articles.sources.openapi import EXPORT_RESPONSES, IMPORT_BODY
from app.articles.sources.records import SourceReport
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, IfMatch, Route, Sessions, SettingsDep, set_etag
from app.errors import InvalidInput
from app.schemas import MAX_ID, DbId

router = APIRouter(prefix="/articles", tags=["articles"], route_class=Route)

REF = "Numeric id or slug of the article."
ConfirmClaims = Annotated[
    bool,
    Query(
        description=(
            "Publish a claim on an error code that another published article already "
            "claims: without it such a publish answers 409 listing the claimants."
        )
    ),
]


def _read(response: Response, article: Article) -> ArticleRead:
    """The article as returned, with its version as ETag (what If-Match sends back)."""
    set_etag(response, article.version)
    return ArticleRead.model_validate(article)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an article")
def create_article(
    data: ArticleCreate,
    response: Response,
    session: DbSession,
    index: Indexer,
    actor: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    confirm_claims: ConfirmClaims = False,
) -> ArticleRead:
    """Create a draft (or directly published) article; a published one is searchable at once.
    Published with an error code another published article claims: 409 with `claimants`,
    unless `confirm_claims`. Only a KCS publisher creates one published (else 403)."""
    review.check_create(actor=actor, data=data)
    article = service.create(
        session=session,
        data=data,
        actor=actor.name,
        indexer=index,
        confirm_claims=confirm_claims,
    )
    response.headers["Location"] = f"/articles/{article.id}"
    return _read(response, article)


@router.get("", summary="List articles")
def list_articles(
    session: DbSession,
    _: Annotated[Principal, permit(P.ARTICLES_READ)],
    status_: Annotated[ArticleStatus | None, Query(alias="status")] = None,
    modality: Modality | None = None,
    manufacturer: Annotated[str | None, Query(max_length=100)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    error_code: Annotated[str | None, Query(max_length=40)] = None,
    author: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in title or slug.")] = None,
    sort: ArticleSort = "-updated_at",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> ArticlePage:
    """Filter, sort and page through the library (all statuses unless `status` is given)."""
    items, total = service.list(
        session=session,
        status=status_,
        modality=modality,
        manufacturer=manufacturer,
        model=model,
        error_code=error_code,
        author=author,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return ArticlePage(
        items=[ArticleRead.model_validate(a) for a in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/import",
    summary="Import articles: JSON Lines, Zendesk, ServiceNow or a folder of files",
    response_model=SourceReport,
    openapi_extra=IMPORT_BODY,
)
async def import_articles(
    request: Request,
    session: DbSession,
    index: Indexer,
    settings: SettingsDep,
    actor: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    format_: Annotated[
        Literal["jsonl", "zendesk", "servicenow", "files"],
        Query(
            alias="format",
            description="jsonl: one ArticleCreate per line. zendesk: Help Center articles "
            'JSON ({"articles": [...]}, sections side-loaded). servicenow: kb_knowledge '
            'JSON ({"result": [...]} or {"records": [...]}). files: a zip or tar.gz of '
            "Markdown and HTML files.",
        ),
    ] = "jsonl",
    modality: Annotated[
        Modality | None,
        Query(
            description="Other tools' formats: the modality of records whose section, "
            "category or folder names none (without it they fail, naming the field)."
        ),
    ] = None,
) -> ImportReport:
    """JSON Lines (`format=jsonl`, the default): one ArticleCreate object per line,
    matched by slug (or a slug made from the title). Bad records are reported with their
    line and field and skipped; good ones are saved. A record identical to the stored
    article changes nothing; a changed one becomes a new version. For an importer who is
    not a KCS publisher, new articles are saved as drafts (`drafted` counts those marked
    published) and changes to published articles wait as pending revisions (`pending`).

    Other tools (`zendesk`, `servicenow`, `files`): each record becomes a **draft**,
    whoever imports; its HTML is sanitised and converted to text (scripts, styles,
    iframes, event handlers and `javascript:` links dropped); a list in the body is the
    steps, the text before it the issue. A re-import matches each record by its source
    (`zendesk:<id>`, `servicenow:<number>`, `file:<path>`): unchanged, updated (a draft)
    or `pending` review (a published article). `records` says what each record became,
    `errors` names a bad one's number and field. The mapping: docs/knowledge.md. A body
    that cannot be read (not JSON, not an archive, an archive path with `..`) is a 422
    and imports nothing; over the import size limit, a 413.
    """
    payload = await request.body()
    if format_ == "jsonl":
        if modality is not None:
            raise InvalidInput(
                "modality applies to the other tools' formats; a JSON Lines record names its own",
                errors=[{"field": "modality", "message": "leave it out with format=jsonl"}],
            )
        return await run_in_threadpool(
            imports.import_jsonl,
            session=session,
            payload=payload,
            actor=actor.name,
            indexer=index,
            upsert_line=review.import_line(actor),
        )
    return await run_in_threadpool(
        sources.import_upload,
        session=session,
        format=format_,
        payload=payload,
        actor=actor,
        indexer=index,
        modality=modality,
        max_bytes=settings.max_import_bytes,
    )


@router.get(
    "/export",
    summary="Export the library as JSON Lines",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
def export_articles(
    sessions: Sessions,
    _: Annotated[Principal, permit(P.ARTICLES_READ)],
    status_: Annotated[ArticleStatus | None, Query(alias="status")] = None,
) -> StreamingResponse:
    """Every article (or those of one `status`), oldest first, one ArticleCreate object
    per line, streamed: what `POST /articles/import` reads back unchanged. An archived
    article is written as a draft (an import creates drafts or published articles)."""
    return StreamingResponse(
        export.lines(sessions, status_),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="articles.jsonl"'},
    )


@router.get("/{ref}", summary="Read an article")
def read_article(
    ref: str,
    response: Response,
    session: DbSession,
    _: Annotated[Principal, permit(P.ARTICLES_READ)],
) -> ArticleRead:
    """The current version; its ETag is the version to send back in If-Match."""
    article = service.get(session=session, ref=ref)
    return _read(response, article)


@router.patch("/{ref}", summary="Update an article", response_model=ArticleRead, responses=ACCEPTED)
def update_article(
    ref: str,
    data: ArticleUpdate,
    response: Response,
    session: DbSession,
    index: Indexer,
    actor: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    if_match: IfMatch,
    confirm_claims: ConfirmClaims = False,
) -> ArticleRead | JSONResponse:
    """Partial update. Send If-Match (or `version`) with the version you edited: a stale
    edit gets 412 (If-Match) or 409 (`version`) and changes nothing; neither gets 428. A
    new error code on a published article that another one claims: 409 with `claimants`,
    unless `confirm_claims`. An edit of a published or archived article by someone who is
    not a KCS publisher gets 202 with the pending revision it became."""
    article = review.update(
        session=session,
        ref=ref,
        data=data,
        actor=actor,
        indexer=index,
        if_match=if_match,
        confirm_claims=confirm_claims,
    )
    if isinstance(article, ArticleRevision):
        return accepted(session, article)
    return _read(response, article)


def _transition(target: ArticleStatus, summary: str):  # type: ignore[no-untyped-def]
    def handler(
        ref: str,
        response: Response,
        session: DbSession,
        index: Indexer,
        actor: Annotated[Principal, permit(P.ARTICLES_PUBLISH)],
        if_match: IfMatch,
        confirm_claims: ConfirmClaims = False,
    ) -> ArticleRead:
        article = service.transition(
            session=session,
            ref=ref,
            target=target,
            actor=actor.name,
            indexer=index,
            if_match=if_match,
            confirm_claims=confirm_claims,
        )
        return _read(response, article)

    handler.__doc__ = (
        f"{summary}. If-Match is optional here; an illegal move gets 409 with the "
        "current status and the allowed ones; publishing a claim on an error code another "
        "published article holds gets 409 with `claimants` unless `confirm_claims`."
    )
    return handler


router.add_api_route(
    "/{ref}/publish",
    _transition(ArticleStatus.PUBLISHED, "Publish: dispatchers can find it from now on"),
    methods=["POST"],
    summary="Publish an article",
    response_model=ArticleRead,
)
router.add_api_route(
    "/{ref}/archive",
    _transition(ArticleStatus.ARCHIVED, "Archive: it leaves search at once"),
    methods=["POST"],
    summary="Archive an article",
    response_model=ArticleRead,
)


@router.get("/{ref}/versions", summary="Version history")
def list_versions(
    ref: str, session: DbSession, _: Annotated[Principal, permit(P.ARTICLES_READ)]
) -> list[ArticleVersionSummary]:
    """Every saved version, newest first."""
    versions = service.list_versions(session=session, ref=ref)
    return [ArticleVersionSummary.model_validate(v) for v in versions]


@router.get("/{ref}/versions/{version}", summary="Read one version")
def read_version(
    ref: str, version: DbId, session: DbSession, _: Annotated[Principal, permit(P.ARTICLES_READ)]
) -> ArticleVersionRead:
    """The content as it was saved at that version."""
    found = service.get_version(session=session, ref=ref, version=version)
    return ArticleVersionRead.model_validate(found)


@router.post(
    "/{ref}/versions/{version}/restore",
    summary="Restore an old version",
    response_model=ArticleRead,
    responses=ACCEPTED,
)
def restore_version(
    ref: str,
    version: DbId,
    response: Response,
    session: DbSession,
    index: Indexer,
    actor: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    if_match: IfMatch,
) -> ArticleRead | JSONResponse:
    """Save that version's content as a new version (If-Match required); like an edit,
    it waits as a pending revision (202) when the caller may not publish."""
    article = review.restore(
        session=session,
        ref=ref,
        version=version,
        actor=actor,
        indexer=index,
        if_match=if_match,
    )
    if isinstance(article, ArticleRevision):
        return accepted(session, article)
    return _read(response, article)
