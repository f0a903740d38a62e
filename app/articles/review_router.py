"""HTTP routes of the review gate: the queue of pending revisions, an article's revisions,
approve and reject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.articles import review
from app.articles.deps import Indexer
from app.articles.review_models import ArticleRevision, RevisionStatus
from app.articles.review_schemas import (
    Approval,
    Rejection,
    RevisionDetail,
    RevisionPage,
    RevisionRead,
)
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, Route
from app.schemas import MAX_ID, DbId

router = APIRouter(tags=["reviews"], route_class=Route)

ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": RevisionRead,
        "description": "Kept for review: the caller may not publish, so the change waits as "
        "a pending revision (Location) and the article is unchanged.",
    }
}
ConfirmClaims = Annotated[
    bool,
    Query(
        description="Approve a change that claims an error code another published article "
        "claims: without it such an approval answers 409 listing the claimants."
    ),
]


def accepted(session: Session, revision: ArticleRevision) -> JSONResponse:
    """202 with the pending revision an edit became, and where to find it."""
    view = review.read(*review.get_any(session=session, revision_id=revision.id))
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/articles/{revision.article_id}/revisions/{revision.id}"},
    )


@router.get("/reviews", summary="Review queue")
def review_queue(
    session: DbSession,
    _: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> RevisionPage:
    """Pending revisions of published articles, newest first; `stale` ones were made from
    an older version than the article's and cannot be approved."""
    rows, total = review.queue(session=session, limit=limit, offset=offset)
    items = [review.read(revision, article) for revision, article in rows]
    return RevisionPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/articles/{ref}/revisions", summary="An article's revisions")
def list_revisions(
    ref: str,
    session: DbSession,
    _: Annotated[Principal, permit(P.ARTICLES_WRITE)],
    status: RevisionStatus | None = None,
) -> list[RevisionRead]:
    """Every proposed change to the article (or those of one status), newest first."""
    revisions, article = review.of_article(session=session, ref=ref, status=status)
    return [review.read(revision, article) for revision in revisions]


@router.get("/articles/{ref}/revisions/{revision_id}", summary="Read a revision")
def read_revision(
    ref: str,
    revision_id: DbId,
    session: DbSession,
    _: Annotated[Principal, permit(P.ARTICLES_WRITE)],
) -> RevisionDetail:
    """The proposed content, and field by field how it differs from the article now."""
    revision, article = review.get(session=session, ref=ref, revision_id=revision_id)
    return review.detail(revision, article)


@router.post("/articles/{ref}/revisions/{revision_id}/approve", summary="Approve a revision")
def approve_revision(
    ref: str,
    revision_id: DbId,
    session: DbSession,
    index: Indexer,
    actor: Annotated[Principal, permit(P.ARTICLES_PUBLISH)],
    data: Annotated[Approval | None, Body()] = None,
    confirm_claims: ConfirmClaims = False,
) -> RevisionRead:
    """The revision becomes the article's next version, live at once. Refused with 409 when
    it is not pending, or was made from an older version than the article's (approving it
    would undo what was saved since: reject it with a note instead)."""
    revision, article = review.approve(
        session=session,
        ref=ref,
        revision_id=revision_id,
        actor=actor,
        indexer=index,
        note=data.note if data else None,
        confirm_claims=confirm_claims,
    )
    return review.read(revision, article)


@router.post("/articles/{ref}/revisions/{revision_id}/reject", summary="Reject a revision")
def reject_revision(
    ref: str,
    revision_id: DbId,
    data: Rejection,
    session: DbSession,
    actor: Annotated[Principal, permit(P.ARTICLES_PUBLISH)],
) -> RevisionRead:
    """Turn the revision down; the note (required) tells its author why. The article is
    not changed."""
    revision, article = review.reject(
        session=session, ref=ref, revision_id=revision_id, actor=actor, note=data.note
    )
    return review.read(revision, article)
