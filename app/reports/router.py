"""The service desk's figures over HTTP, as JSON or, when asked for, CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.db import utcnow
from app.deps import DbSession, Route, SettingsDep
from app.reports import articles, export, gaps, service
from app.reports.schemas import (
    ArticleReport,
    ArticleSort,
    DeskReport,
    GapReport,
    GroupBy,
    Period,
)
from app.search.deps import SearchIndex

router = APIRouter(tags=["reports"], route_class=Route)
Reader = Annotated[Principal, permit(P.REPORTS_READ)]
From = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="First day or instant counted, UTC unless an offset is given "
        "(2024-05-01 or 2024-05-01T08:00:00Z). Default: 30 days before `to`.",
    ),
]
To = Annotated[
    datetime | None,
    Query(
        description="First day or instant not counted (to=2024-06-01 ends with May 31). "
        "Default: the end of today, UTC. At most 400 days after `from`."
    ),
]
Accept = Annotated[
    str | None,
    Header(description="`text/csv` (ranked above application/json) answers the table as CSV."),
]
CSV_TOO: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report; as CSV (a header row, then one row per row of the "
        "JSON table) when Accept prefers text/csv.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/reports/desk",
    summary="The desk's figures",
    response_model=DeskReport,
    responses=CSV_TOO,
)
def desk_report(
    session: DbSession,
    settings: SettingsDep,
    response: Response,
    _: Reader,
    from_: From = None,
    to: To = None,
    group_by: Annotated[
        GroupBy | None,
        Query(description="One row per period, modality, model, site or dispatcher."),
    ] = None,
    period: Annotated[
        Period | None,
        Query(description="With group_by=period: day (default), week (from Monday) or month."),
    ] = None,
    accept: Accept = None,
) -> DeskReport | Response:
    """Over the calls opened in [from, to): calls opened and resolved, the tier-1
    resolution, first-contact resolution, escalation and KCS link rates, the response and
    resolution targets met, the median minutes to resolve and to escalate, calls per
    scanner and repeat faults, with the counts behind each rate (a rate is null when its
    denominator is 0). Per group with `group_by`, and in total. Definitions:
    docs/reports.md. 422 naming the field: from not before to, a range over 400 days,
    period without group_by=period."""
    now = utcnow()
    window = service.window(start=from_, end=to, now=now)
    length = service.grouping(group_by, period)
    report = service.desk(
        session=session,
        window=window,
        group_by=group_by,
        period=length,
        resolution_minutes=settings.resolution_target_minutes,
        now=now,
    )
    return export.negotiate(report, accept=accept, response=response, as_csv=export.desk_csv)


@router.get(
    "/reports/articles",
    summary="Article use on calls",
    response_model=ArticleReport,
    responses=CSV_TOO,
)
def article_report(
    session: DbSession,
    response: Response,
    _: Reader,
    from_: From = None,
    to: To = None,
    sort: Annotated[
        ArticleSort, Query(description="Largest first; ties by article id.")
    ] = ArticleSort.SHOWN,
    limit: Annotated[int, Query(ge=1, le=500, description="Articles per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Articles skipped.")] = 0,
    accept: Accept = None,
) -> ArticleReport | Response:
    """Per article used on the calls opened in [from, to): the calls where a search
    showed it, where it was opened, where an outcome was recorded for it (tried), where
    the call was resolved naming it (fixed), and the fix rate (fixed / tried; null when
    never tried). `articles_total` counts every page."""
    window = service.window(start=from_, end=to, now=utcnow())
    report = articles.report(session=session, window=window, sort=sort, limit=limit, offset=offset)
    return export.negotiate(report, accept=accept, response=response, as_csv=export.articles_csv)


@router.get(
    "/reports/gaps",
    summary="Knowledge gaps, grouped by meaning",
    response_model=GapReport,
    responses=CSV_TOO,
)
def gap_report(
    session: DbSession,
    settings: SettingsDep,
    index: SearchIndex,
    response: Response,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500, description="Groups returned.")] = 50,
    accept: Accept = None,
) -> GapReport | Response:
    """The newest 500 searches on calls that the library did not answer (match none: no
    good match, or nothing found) and escalated calls resolved without a fixing
    article, grouped by the meaning of their queries (cosine with a group's centroid at
    least GAP_GROUP_SIMILARITY): largest group first, then the newest. Each group gives
    its size, calls, modalities, up to 5 example phrasings (the most central first), a
    suggested title, the best existing article found and why its searches are gaps: one
    article per group answers them. Definitions: docs/reports.md."""
    report = gaps.report(
        session=session,
        index=index,
        similarity=settings.gap_group_similarity,
        limit=limit,
    )
    return export.negotiate(
        report, accept=accept, response=response, as_csv=lambda r: export.gaps_csv(r, utcnow())
    )
