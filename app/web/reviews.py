"""The publisher's review queue: changes to published articles that wait for review, each
with its field-by-field difference from the live article, approved or rejected with a note."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from app.articles import review, service
from app.articles.models import Article
from app.articles.review_models import ArticleRevision
from app.auth.permissions import P
from app.deps import Route
from app.errors import Conflict
from app.schemas import DbId
from app.web.article_form import FIELD_LABELS, compare
from app.web.deps import Console, console
from app.web.render import page, redirect

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Reader = Annotated[Console, console(P.ARTICLES_WRITE)]
Reviewer = Annotated[Console, console(P.ARTICLES_WRITE, P.ARTICLES_PUBLISH, write=True)]
NoteField = Annotated[str, Form(max_length=2000)]

PAGE_SIZE = 25
DONE = {
    "approved": "Approved: it is live, and dispatchers see it from now on.",
    "rejected": "Rejected: the article stays as it was, and its author can read your note.",
}


@router.get("/reviews")
def review_queue(
    ui: Reader,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Pending changes to published articles, newest first."""
    rows, total = review.queue(
        session=ui.session, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    items = [
        (revision, article, [FIELD_LABELS[c.field] for c in review.differences(revision, article)])
        for revision, article in rows
    ]
    pages = max(1, -(-total // PAGE_SIZE))
    done_flash: dict[str, Any] = {"flash": DONE[done]} if done in DONE else {}
    return page(
        ui.request,
        "knowledge/reviews.html",
        ui.signed,
        section="reviews",
        title=f"Review queue ({total})",
        items=items,
        total=total,
        page_no=page_no,
        prev_link=f"/ui/reviews?page={page_no - 1}" if page_no > 1 else None,
        next_link=f"/ui/reviews?page={page_no + 1}" if page_no < pages else None,
        **done_flash,
    )


def _review_page(
    ui: Console,
    revision: ArticleRevision,
    article: Article,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    note: str = "",
    **context: Any,
) -> Response:
    newer = [
        v
        for v in service.list_versions(session=ui.session, ref=article.id)
        if v.version > revision.based_on
    ]
    return page(
        ui.request,
        "knowledge/review.html",
        ui.signed,
        status=status,
        section="reviews",
        title=("Error: " if errors else "") + f"Review: {article.title}",
        revision=revision,
        article=article,
        differences=compare(service.content_of(article), revision.content),
        stale=revision.status == "pending" and revision.based_on != article.version,
        newer=newer,
        errors=errors or {},
        note=note,
        **context,
    )


@router.get("/reviews/{revision_id}")
def review_screen(revision_id: DbId, ui: Reader) -> Response:
    """One change: what it does to the live article, field by field, and the decision."""
    revision, article = review.get_any(session=ui.session, revision_id=revision_id)
    return _review_page(ui, revision, article)


def _refused(ui: Console, revision_id: int, exc: Conflict, note: str) -> Response:
    """A decision the service refused (decided already, stale, a claimed code): the page
    again, saying why; a claim on another article's code can be confirmed."""
    ui.session.rollback()
    revision, article = review.get_any(session=ui.session, revision_id=revision_id)
    found = exc.extra.get("claimants") or []
    return _review_page(
        ui,
        revision,
        article,
        status=409,
        note=note,
        flash=exc.detail,
        flash_kind="error",
        claimants=found,
    )


@router.post("/reviews/{revision_id}/approve")
def approve(
    revision_id: DbId,
    ui: Reviewer,
    note: NoteField = "",
    confirm_claims: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Make the change live as the article's next version."""
    revision, article = review.get_any(session=ui.session, revision_id=revision_id)
    try:
        review.approve(
            session=ui.session,
            ref=article.id,
            revision_id=revision.id,
            actor=ui.signed.principal,
            indexer=ui.index,
            note=note.strip() or None,
            confirm_claims=confirm_claims == "1",
        )
    except Conflict as exc:
        return _refused(ui, revision_id, exc, note)
    return redirect(ui.request, "/ui/reviews?done=approved")


@router.post("/reviews/{revision_id}/reject")
def reject(revision_id: DbId, ui: Reviewer, note: NoteField = "") -> Response:
    """Turn the change down; the note says why, for its author."""
    revision, article = review.get_any(session=ui.session, revision_id=revision_id)
    if not note.strip():
        errors = {"note": "write why it is rejected: its author reads this"}
        return _review_page(ui, revision, article, status=422, errors=errors)
    try:
        review.reject(
            session=ui.session,
            ref=article.id,
            revision_id=revision.id,
            actor=ui.signed.principal,
            note=note.strip(),
        )
    except Conflict as exc:
        return _refused(ui, revision_id, exc, note)
    return redirect(ui.request, "/ui/reviews?done=rejected")
