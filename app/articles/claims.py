"""Error-code claims: publishing an article that claims a code another published article
already claims needs an explicit confirmation, so no bulk import or hasty capture takes a
code's first rank unseen (the search ranks claimants by fix record, then by match)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from app.articles.models import Article, ArticleStatus
from app.articles.schemas import Claimant
from app.calls.models import COUNTED_OUTCOMES, AttemptOutcome, CallArticle
from app.errors import Conflict
from embeddings.exact import normalise


def codes_of(article: Article) -> set[str]:
    """The article's error codes, normalised as the exact lane matches them."""
    return {key for key in (normalise(code) for code in article.error_codes) if key}


def claimants(
    *, session: Session, article: Article | None, codes: Sequence[str] | None = None
) -> list[Claimant]:
    """The other published articles that claim one of the article's codes (or of
    `codes`), with the codes they share and their record on calls, best record first."""
    if codes is None and article is None:
        return []
    keys = {normalise(c) for c in codes} if codes is not None else codes_of(article)  # type: ignore[arg-type]
    keys.discard("")
    if not keys:
        return []
    stmt = select(Article).where(
        Article.status == ArticleStatus.PUBLISHED,
        or_(*(Article.codes_key.contains(f"|{key}|", autoescape=True) for key in sorted(keys))),
    )
    if article is not None and article.id is not None:
        stmt = stmt.where(Article.id != article.id)
    others = list(session.scalars(stmt))
    if not others:
        return []
    record = _records(session, [o.id for o in others])
    found = []
    for other in others:
        fixed, tried = record.get(other.id, (0, 0))
        shared = [code for code in other.error_codes if normalise(code) in keys]
        found.append(
            Claimant(
                id=other.id,
                slug=other.slug,
                title=other.title,
                codes=shared,
                fixed=fixed,
                tried=tried,
            )
        )
    found.sort(key=lambda c: (-(c.fixed + 1) / (c.tried + 2), -c.tried, c.id))
    return found


def check(
    *,
    session: Session,
    article: Article | None,
    confirmed: bool,
    codes: Sequence[str] | None = None,
) -> list[Claimant]:
    """Refuse (409 naming the claimants) to publish a claim on codes that other published
    articles hold, unless `confirmed`; returns the claimants."""
    found = claimants(session=session, article=article, codes=codes)
    if found and not confirmed:
        shared = sorted({code for c in found for code in c.codes})
        names = ", ".join(f"{c.slug} (fixed {c.fixed} of {c.tried} calls)" for c in found)
        raise Conflict(
            f"{', '.join(shared)} is already claimed by {names}; "
            "look at them, then send confirm_claims=true to publish this claim as well",
            field="confirm_claims",
            claimants=[c.model_dump(mode="json") for c in found],
        )
    return found


def added_codes(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """The codes of `after` that `before` did not claim (as the exact lane compares them)."""
    old = {normalise(code) for code in before}
    return [code for code in after if normalise(code) and normalise(code) not in old]


def _records(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Fixed and tried calls per article (every recorded outcome)."""
    fixed = func.sum(case((CallArticle.outcome == AttemptOutcome.FIXED, 1), else_=0))
    stmt = (
        select(CallArticle.article_id, fixed, func.count())
        .where(
            CallArticle.article_id.in_(ids),
            CallArticle.outcome.in_(COUNTED_OUTCOMES),
        )
        .group_by(CallArticle.article_id)
    )
    return {row[0]: (int(row[1] or 0), int(row[2])) for row in session.execute(stmt)}
