"""Article use on the calls opened in a range: shown, opened, tried, fixed, fix rate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Row, case, cast, func, null, or_, select
from sqlalchemy.orm import Session

from app.articles.models import Article
from app.calls.models import Call, CallArticle
from app.later import wait_for_records
from app.reports.schemas import ArticleFigures, ArticleReport, ArticleSort
from app.reports.service import (
    Window,
    first_call_id,
    flag,
    in_range,
    rate,
    sort_in_memory,
)


def report(
    *, session: Session, window: Window, sort: ArticleSort, limit: int, offset: int
) -> ArticleReport:
    """Per article used on the calls of `window`: shown, opened, tried, fixed and the fix
    rate (fixed / tried), sorted by `sort` (largest first, then by id) and paged."""
    wait_for_records(session)
    sort_in_memory(session)
    link = CallArticle
    first_id = first_call_id(session, window)
    counts = (
        select(
            link.article_id,
            func.sum(flag(link.suggested > 0)).label("shown"),
            func.sum(flag(link.opened.is_(True))).label("opened"),
            func.sum(flag(link.outcome.is_not(None))).label("tried"),
            func.sum(flag(link.fixed_tier.is_not(None))).label("fixed"),
        )
        .join(Call, Call.id == link.call_id)
        # the window's calls' ids are all from first_id: older links are not read
        .where(*in_range(window), link.call_id >= (first_id or 0))
        .group_by(link.article_id)
        .subquery("counts")
    )
    c = counts.c
    used = or_(c.shown > 0, c.opened > 0, c.tried > 0)
    fix_rate = case((c.tried > 0, cast(c.fixed, Float) / c.tried), else_=null())
    by = fix_rate if sort == ArticleSort.FIX_RATE else c[str(sort)]
    page = session.execute(
        select(
            c.article_id,
            Article.slug,
            Article.title,
            c.shown,
            c.opened,
            c.tried,
            c.fixed,
            func.count().over().label("articles_total"),
        )
        .join(Article, Article.id == c.article_id)
        .where(used)
        .order_by(by.desc().nulls_last(), c.article_id)
        .limit(limit)
        .offset(offset)
    ).all()
    if page:
        articles_total = int(page[0].articles_total)
    else:  # past the last page: counted on its own
        articles_total = session.scalar(select(func.count()).select_from(counts).where(used)) or 0
    return ArticleReport(
        from_=window.start,
        to=window.end,
        sort=sort,
        limit=limit,
        offset=offset,
        articles_total=articles_total,
        articles=[_article(r) for r in page],
    )


def _article(row: Row[Any]) -> ArticleFigures:
    tried, fixed = int(row.tried), int(row.fixed)
    return ArticleFigures(
        article_id=row.article_id,
        slug=row.slug,
        title=row.title,
        shown=int(row.shown),
        opened=int(row.opened),
        tried=tried,
        fixed=fixed,
        fix_rate=rate(fixed, tried),
    )
