"""HTTP routes for search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response

from app.audit.middleware import read_only
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, Route, Sessions, SettingsDep
from app.search import service, similar
from app.search.deps import SearchIndex
from app.search.schemas import (
    IndexStatus,
    SearchRequest,
    SearchResponse,
    SimilarRequest,
    SimilarResponse,
)

router = APIRouter(tags=["search"], route_class=Route)


@router.post("/search", summary="Ranked fixes for a symptom", response_model=SearchResponse)
@read_only  # a search changes nothing: not audited, like any read
async def search(
    request: SearchRequest,
    sessions: Sessions,
    index: SearchIndex,
    settings: SettingsDep,
    _: Annotated[Principal, permit(P.SEARCH)],
) -> Response:
    """Hybrid search over published articles: meaning (dense vectors), keywords (BM25)
    and exact error codes / model numbers ("HV-417" = "hv417" = "HV 417"). A query that
    contains a known error code ranks that article first. Filters are hard filters; an
    unknown filter value gets 422 with the valid values."""
    body = await service.search_json(
        sessions=sessions,
        index=index,
        request=request,
        limits=service.SearchLimits.of(settings),
    )
    # already in the response model's JSON form (tested): no second validation pass
    return Response(body, media_type="application/json")


@router.post(
    "/articles/similar",
    summary="Articles like one being written",
    tags=["articles"],
    response_model=SimilarResponse,
)
@read_only  # a search changes nothing: not audited, like any read
def similar_articles(
    draft: SimilarRequest,
    session: DbSession,
    index: SearchIndex,
    settings: SettingsDep,
    _: Annotated[Principal, permit(P.ARTICLES_WRITE)],
) -> SimilarResponse:
    """The published articles closest to an article being written or captured (its
    title, issue, other phrasings and error codes), best first, each marked a likely
    duplicate from DUPLICATE_SCORE; call it before creating one, so the desk keeps one
    article per fault. `exclude_id` leaves out the article itself when editing."""
    return similar.find(
        session=session,
        index=index,
        draft=draft,
        threshold=settings.duplicate_score,
    )


@router.get("/search/index", summary="Search index status")
def index_status(index: SearchIndex, _: Annotated[Principal, permit(P.SEARCH)]) -> IndexStatus:
    """How many articles are searchable and whether the index was reused from disk."""
    report = index.last_sync
    return IndexStatus(
        documents=len(index),
        loaded_from_disk=index.loaded_from_disk,
        encoder=index.encoder_name,
        last_sync={
            "added": report.added,
            "updated": report.updated,
            "removed": report.removed,
            "rebuilt": report.rebuilt,
        },
    )
