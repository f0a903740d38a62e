"""Articles like one being written or captured, listed before it is saved, so the desk
keeps one article per fault (KCS: search before you create)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from app.search.index import ArticleIndex
from app.search.schemas import SimilarArticle, SimilarRequest, SimilarResponse


class Written(Protocol):
    """An article as far as it is written: a saved one, or a new one's fields."""

    @property
    def title(self) -> str: ...
    @property
    def issue(self) -> str: ...
    @property
    def reported_as(self) -> Sequence[str]: ...
    @property
    def error_codes(self) -> Sequence[str]: ...


# the draft's text searched: what DUPLICATE_SCORE was measured on
DRAFT_CHARS = 1000


def draft_of(article: Written, *, exclude_id: int | None = None) -> SimilarRequest:
    """What the closest articles are searched by, for an article (never `exclude_id`)."""
    return SimilarRequest(
        title=article.title,
        issue=article.issue,
        reported_as=list(article.reported_as),
        error_codes=list(article.error_codes),
        exclude_id=exclude_id,
    )


def text_of(draft: SimilarRequest) -> str:
    """What is searched for: the title, the issue, its other phrasings and its codes."""
    parts = [draft.title, draft.issue, *draft.reported_as, " ".join(draft.error_codes)]
    return "\n".join(p for p in parts if p.strip())


def find(
    *,
    session: Session | Callable[[], Session],
    index: ArticleIndex,
    draft: SimilarRequest,
    threshold: float,
) -> SimilarResponse:
    """The published articles closest to `draft` (never the article itself), each marked
    a likely duplicate when its search score reaches `threshold`."""
    text = text_of(draft)[:DRAFT_CHARS]
    found = index.searches.run(index.search, session, text, draft.limit + 1)
    rows = []
    for hit in found.hits:
        if hit.card.id == draft.exclude_id:
            continue
        card = hit.card.hit
        rows.append(
            SimilarArticle(
                id=hit.card.id,
                slug=card["slug"],
                title=card["title"],
                modality=card["modality"],
                error_codes=card["error_codes"],
                score=round(hit.score, 4),
                likely_duplicate=hit.score >= threshold,
                shared_error_codes=list(hit.error_codes),
            )
        )
    return SimilarResponse(threshold=threshold, results=rows[: draft.limit])
