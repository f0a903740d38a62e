"""The engineer's knowledge screens: the library, an article with its figures and its
publishing, and the knowledge gaps. The editor and version history are in editor.py."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from app.articles import review, service
from app.articles.models import ArticleStatus, Modality
from app.auth.permissions import P
from app.calls import reuse
from app.deps import Route
from app.errors import Conflict, PreconditionFailed
from app.reports import gaps
from app.schemas import DbId
from app.web import editor
from app.web.article_form import MODALITY_CHOICES, side_by_side
from app.web.deps import Console, console
from app.web.editor import VersionField, Writer, apply_change, flash
from app.web.render import page, redirect

__all__ = ["router", "side_by_side"]

_library = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
PublisherPost = Annotated[Console, console(P.ARTICLES_WRITE, P.ARTICLES_PUBLISH, write=True)]

PAGE_SIZE = 25
REVISIONS_SHOWN = 5  # the article's latest changes sent for review
GAP_GROUPS = 100


def _article_page(
    ui: Console, article_id: int, *, status: int = 200, done: str | None = None, **context: Any
) -> Response:
    article = service.get(session=ui.session, ref=article_id)
    context = flash(done, article.status) | context
    return page(
        ui.request,
        "knowledge/article.html",
        ui.signed,
        status=status,
        section="articles",
        title=article.title,
        article=article,
        stats=reuse.article_stats(session=ui.session, article_id=article.id),
        allowed=service.LIFECYCLE.allowed(ArticleStatus(article.status)),
        revisions=review.of_article(session=ui.session, ref=article.id)[0][:REVISIONS_SHOWN],
        **context,
    )


@_library.get("/articles")
def article_list(
    ui: Writer,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    modality: Annotated[str, Query(max_length=4)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """The library, filtered by text in the title, status and modality, a page at a time."""
    chosen_status = ArticleStatus(status) if status in set(ArticleStatus) else None
    chosen_modality = modality if modality in set(Modality) else None
    items, total = service.list(
        session=ui.session,
        status=chosen_status,
        modality=chosen_modality,
        q=q.strip() or None,
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
    )
    pages = max(1, -(-total // PAGE_SIZE))
    filters = {"q": q.strip(), "status": chosen_status or "", "modality": chosen_modality or ""}

    def link(n: int) -> str:
        kept = {k: v for k, v in filters.items() if v}
        return "/ui/articles?" + urlencode({**kept, "page": n})

    return page(
        ui.request,
        "knowledge/list.html",
        ui.signed,
        section="articles",
        title="Knowledge",
        items=items,
        total=total,
        page_no=page_no,
        pages=pages,
        prev_link=link(page_no - 1) if page_no > 1 else None,
        next_link=link(page_no + 1) if page_no < pages else None,
        filters=filters,
        statuses=list(ArticleStatus),
        modalities=MODALITY_CHOICES,
    )


@_library.get("/articles/{article_id}")
def article_screen(article_id: DbId, ui: Writer, done: str | None = None) -> Response:
    """The article as a dispatcher sees it, its figures on calls, and what can be done."""
    return _article_page(ui, article_id, done=done)


def _move(
    ui: Console, article_id: int, version: str, target: ArticleStatus, *, confirm: bool = False
) -> Response:
    """Publish or archive; the flash is named after the new status. A refused claim on
    another article's error code shows the claimants and a confirming button."""
    try:
        apply_change(
            ui, service.transition, article_id, version, target=target, confirm_claims=confirm
        )
    except (Conflict, PreconditionFailed) as exc:
        found = exc.extra.get("claimants") or []
        return _article_page(
            ui,
            article_id,
            status=409,
            flash=None if found else exc.detail,
            flash_kind="error",
            claimants=found,
            claimed_codes=sorted({code for c in found for code in c["codes"]}),
        )
    return redirect(ui.request, f"/ui/articles/{article_id}?done={target.value}")


@_library.post("/articles/{article_id}/publish")
def publish_article(
    article_id: DbId,
    ui: PublisherPost,
    version: VersionField = "",
    confirm_claims: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Publish the version on screen: dispatchers find it at once (a claim on another
    published article's error code is confirmed with a second button)."""
    return _move(ui, article_id, version, ArticleStatus.PUBLISHED, confirm=confirm_claims == "1")


@_library.post("/articles/{article_id}/archive")
def archive_article(article_id: DbId, ui: PublisherPost, version: VersionField = "") -> Response:
    """Archive: it leaves search at once."""
    return _move(ui, article_id, version, ArticleStatus.ARCHIVED)


@_library.get("/gaps")
def gaps_screen(ui: Writer) -> Response:
    """Searches that found nothing useful, similar ones grouped, largest group first:
    each group a candidate new article."""
    settings = ui.settings
    report = gaps.report(
        session=ui.session,
        index=ui.index,
        similarity=settings.gap_group_similarity,
        limit=GAP_GROUPS,
    )
    rows = []
    for group in report.groups:
        # the new-article form takes a title, an issue and a modality
        prefill = {"title": group.suggested_title, "issue": "\n".join(group.examples)[:4000]}
        if len(group.modalities) == 1:
            prefill["modality"] = group.modalities[0]
        rows.append((group, "/ui/articles/new?" + urlencode(prefill)))
    return page(
        ui.request,
        "knowledge/gaps.html",
        ui.signed,
        section="gaps",
        title="Knowledge gaps",
        rows=rows,
        report=report,
    )


# the one router app/web/router.py installs: the editor's routes first, so that
# /ui/articles/new is not taken for an article id
router = APIRouter(include_in_schema=False, route_class=Route)
router.include_router(editor.router)
router.include_router(_library)
