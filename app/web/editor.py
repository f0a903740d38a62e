"""The engineer's article editor: new and edit forms, the edit conflict view, the version
history with its side-by-side differences, and restoring an old version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.articles import review, service
from app.articles.models import Article, ArticleStatus, Modality
from app.articles.review_models import ArticleRevision
from app.articles.schemas import ArticleCreate, ArticleUpdate
from app.auth.permissions import P
from app.deps import Route
from app.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from app.schemas import DbId
from app.search import similar
from app.search.schemas import SimilarArticle
from app.web.article_form import (
    FIELD_LABELS,
    MODALITY_CHOICES,
    compare,
    content_from_form,
    error_summary,
    form_errors,
    form_from_content,
    normalised,
    posted_text,
    read_form,
    side_by_side,
)
from app.web.deps import Console, console
from app.web.render import page, redirect

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
Writer = Annotated[Console, console(P.ARTICLES_WRITE)]
WriterPost = Annotated[Console, console(P.ARTICLES_WRITE, write=True)]
VersionField = Annotated[str, Form(max_length=20)]

EMPTY_STEP_ROWS = 2
DONE = {
    "created": "Draft created. Dispatchers do not see it until it is published.",
    "saved": "Saved as a new version.",
    "unchanged": "Nothing changed, so no new version was saved.",
    "published": "Published: dispatchers find it from now on.",
    "archived": "Archived: it left search at once.",
    "restored": "Restored as a new version.",
    # a non-publisher's edit of a published article (app/articles/review.py)
    "pending": "Your change waits for review: a publisher approves it before dispatchers "
    "see it. Below is the version they see now.",
}
# a saved edit of a published article is live at once: the flash says so
SAVED_LIVE = "Saved and published: dispatchers see this version from now on."
# what the editor's save button does, named after it (a new article is saved as a draft)
SAVE_LABELS = {
    ArticleStatus.DRAFT: "Save draft",
    ArticleStatus.PUBLISHED: "Save and publish",
    ArticleStatus.ARCHIVED: "Save, keep archived",
}
REVIEW_LABEL = "Send for review"


async def _posted(request: Request) -> FormData:
    # the steps editor posts numbered names (steps-<i>-text), so the whole form is read
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


def flash(done: str | None, status: str | None = None) -> dict[str, Any]:
    """The message for a `done=` redirect (none for an unknown one)."""
    if done == "saved" and status == ArticleStatus.PUBLISHED:
        return {"flash": SAVED_LIVE}
    return {"flash": DONE[done]} if done in DONE else {}


def version_number(raw: str) -> int | None:
    """A posted version number, or None when the field is missing or not a number."""
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def apply_change(
    ui: Console, change: Callable[..., Article], article_id: int, on_screen: str, **what: Any
) -> Article:
    """Apply a service change as the engineer, to the version on screen (rolled back if refused)."""
    try:
        return change(
            session=ui.session,
            ref=article_id,
            actor=ui.signed.principal.name,
            indexer=ui.index,
            # the engineer changes the version on screen, not one saved since
            if_match=version_number(on_screen),
            **what,
        )
    except (Conflict, PreconditionFailed):
        ui.session.rollback()
        raise


def _edit_page(
    ui: Console,
    article: Article | None,
    form: dict[str, Any],
    errors: dict[str, str],
    *,
    status: int = 200,
    based_on: int | None = None,
    **context: Any,
) -> Response:
    title = f"Edit: {article.title}" if article else "New article"
    summary = error_summary(errors)
    state = ArticleStatus(article.status) if article else ArticleStatus.DRAFT
    principal = ui.signed.principal
    gated = article is not None and review.waits_for_review(article=article, actor=principal)
    return page(
        ui.request,
        "knowledge/edit.html",
        ui.signed,
        status=status,
        section="articles",
        title=("Error: " + title) if errors else title,
        article=article,
        form=form,
        errors=errors,
        summary=summary,
        first_error=next((target for target, _, _ in summary if target), ""),
        save_label=REVIEW_LABEL if gated else SAVE_LABELS[state],
        gated=gated,
        based_on=based_on if based_on is not None else (article.version if article else None),
        modalities=MODALITY_CHOICES,
        empty_rows=EMPTY_STEP_ROWS,
        **context,
    )


@router.get("/articles/new")
def new_article(
    ui: Writer,
    title: Annotated[str, Query(max_length=200)] = "",
    issue: Annotated[str, Query(max_length=4000)] = "",
    modality: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """The editor for a new draft, optionally prefilled (from a knowledge gap)."""
    form = form_from_content(
        {"title": title, "issue": issue, "modality": modality if modality in set(Modality) else ""}
    )
    return _edit_page(ui, None, form, {})


@router.post("/articles")
def create_article(ui: WriterPost, posted: Posted) -> Response:
    """Save a new draft and show it as a dispatcher would see it."""
    values = read_form(posted)
    author = ui.signed.principal.name
    try:
        data = ArticleCreate.model_validate(
            content_from_form(values) | {"status": "draft", "author": author}
        )
        if posted_text(posted, "checked_similar") != "1":
            # search before you create: likely duplicates are shown before anything is saved
            close = _likely_duplicates(ui, data)
            if close:
                return _edit_page(ui, None, values, {}, similar=close)
        article = service.create(session=ui.session, data=data, actor=author, indexer=ui.index)
    except (InvalidInput, ValidationError) as exc:
        ui.session.rollback()
        return _edit_page(ui, None, values, form_errors(exc), status=422)
    return redirect(ui.request, f"/ui/articles/{article.id}?done=created")


def _likely_duplicates(
    ui: Console, data: ArticleCreate, *, exclude: int | None = None
) -> list[SimilarArticle]:
    """The published articles that probably cover the same fault as `data` (never the
    article `exclude`)."""
    found = similar.find(
        session=ui.session,
        index=ui.index,
        draft=similar.draft_of(data, exclude_id=exclude),
        threshold=ui.settings.duplicate_score,
    )
    return [row for row in found.results if row.likely_duplicate]


@router.get("/articles/{article_id}/edit")
def edit_article(article_id: DbId, ui: Writer) -> Response:
    """Every KCS field of the current version, with an ordered steps editor; the caller's
    own change waiting for review, when there is one, fills the form instead."""
    article = service.get(session=ui.session, ref=article_id)
    principal = ui.signed.principal
    mine = None
    if review.is_gated(article=article, actor=principal):
        mine = review.own_pending(session=ui.session, article=article, actor=principal)
    content = mine.content if mine is not None else service.content_of(article)
    close: list[SimilarArticle] = []
    if article.status == ArticleStatus.DRAFT and (article.source or "").startswith("call:"):
        # a draft captured from a call: the articles it may repeat, before it is completed
        close = _likely_duplicates(ui, ArticleCreate.model_validate(content), exclude=article.id)
    return _edit_page(
        ui, article, form_from_content(content), {}, pending=mine, captured_similar=close
    )


def _merge(
    base: dict[str, Any] | None, theirs: dict[str, Any], yours: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Theirs where only they changed a field, yours otherwise; notes on fields both changed."""
    merged = dict(yours)
    notes: dict[str, str] = {}
    for name in FIELD_LABELS:
        if theirs[name] == yours[name]:
            continue
        if base is not None and yours[name] == base[name]:
            merged[name] = theirs[name]
            notes[name] = "taken from the saved version: only they changed this"
        elif base is not None and theirs[name] == base[name]:
            notes[name] = "your change, kept: they did not change this"
        else:
            notes[name] = "you both changed this: your text is in the form, compare with theirs"
    return merged, notes


def _conflict_page(ui: Console, article_id: int, based_on: int, yours: dict[str, Any]) -> Response:
    """A stale edit: both versions side by side and the edit re-based on the current one."""
    session = ui.session
    article = service.get(session=session, ref=article_id)
    theirs = normalised(service.content_of(article))
    try:
        base: dict[str, Any] | None = normalised(
            service.get_version(session=session, ref=article_id, version=based_on).content
        )
    except NotFound:
        base = None
    merged, notes = _merge(base, theirs, yours)
    newer = [
        v for v in service.list_versions(session=session, ref=article_id) if v.version > based_on
    ]
    return _edit_page(
        ui,
        article,
        form_from_content(merged),
        {},
        status=409,
        based_on=article.version,
        conflict={
            "based_on": based_on,
            "differences": compare(theirs, yours),
            "notes": notes,
            "newer": newer,
        },
    )


@router.post("/articles/{article_id}/edit")
def save_article(article_id: DbId, ui: WriterPost, posted: Posted) -> Response:
    """Save the edit as a new version (or, for a non-publisher editing a published article,
    send it for review); a stale edit gets the conflict page, never a save."""
    article = service.get(session=ui.session, ref=article_id)
    values = read_form(posted)
    based_on = version_number(posted_text(posted, "version"))
    if based_on is None:
        raise InvalidInput(
            "the form did not say which version it edited: open the editor again",
            errors=[{"field": "version", "message": "missing"}],
        )
    try:
        data = ArticleUpdate.model_validate({"version": based_on, **content_from_form(values)})
        yours = normalised(data.model_dump(exclude={"version"}, mode="json"))
    except ValidationError as exc:
        return _edit_page(ui, article, values, form_errors(exc), status=422, based_on=based_on)
    if based_on != article.version and service.content_hash(yours) == article.content_hash:
        # someone already saved exactly this: nothing of the engineer's is lost
        return redirect(ui.request, f"/ui/articles/{article_id}?done=unchanged")
    try:
        saved = review.update(
            session=ui.session,
            ref=article_id,
            data=data,
            actor=ui.signed.principal,
            indexer=ui.index,
            confirm_claims=posted_text(posted, "confirm_claims") == "1",
        )
    except Conflict as exc:
        ui.session.rollback()
        found = exc.extra.get("claimants")
        if found:  # a new error code another published article claims: look, then confirm
            errors = {"error_codes": exc.detail}
            return _edit_page(
                ui, article, values, errors, status=409, based_on=based_on, claimants=found
            )
        return _conflict_page(ui, article_id, based_on, yours)
    if isinstance(saved, ArticleRevision):
        return redirect(ui.request, f"/ui/articles/{article_id}?done=pending")
    done = "saved" if saved.version != based_on else "unchanged"
    return redirect(ui.request, f"/ui/articles/{article_id}?done={done}")


@router.get("/articles/{article_id}/versions")
def article_versions(
    article_id: DbId,
    ui: Writer,
    a: DbId | None = None,
    b: DbId | None = None,
    done: str | None = None,
) -> Response:
    """Every version, and a side-by-side difference between two of them."""
    session = ui.session
    article = service.get(session=session, ref=article_id)
    versions = service.list_versions(session=session, ref=article_id)
    right = b or article.version
    left = a or max(1, right - 1)
    old = service.get_version(session=session, ref=article_id, version=left)
    new = service.get_version(session=session, ref=article_id, version=right)
    differences = compare(old.content, new.content)
    if old.status != new.status:
        status_rows = side_by_side(str(old.status), str(new.status))
        differences.insert(0, {"name": "status", "label": "Status", "rows": status_rows})
    return page(
        ui.request,
        "knowledge/versions.html",
        ui.signed,
        section="articles",
        title=f"Versions: {article.title}",
        article=article,
        versions=versions,
        old=old,
        new=new,
        differences=differences,
        **flash(done),
    )


@router.post("/articles/{article_id}/versions/{version}/restore")
def restore_version(
    article_id: DbId, version: DbId, ui: WriterPost, current: VersionField = ""
) -> Response:
    """Save an old version's content as a new version (if nobody saved meanwhile), or send
    it for review like an edit."""
    try:
        article = review.restore(
            session=ui.session,
            ref=article_id,
            version=version,
            actor=ui.signed.principal,
            indexer=ui.index,
            if_match=version_number(current),
        )
    except (Conflict, PreconditionFailed) as exc:
        ui.session.rollback()
        raise Conflict(f"{exc.detail}. Nothing was restored.") from exc
    if isinstance(article, ArticleRevision):
        return redirect(ui.request, f"/ui/articles/{article_id}?done=pending")
    query = urlencode({"a": version, "b": article.version, "done": "restored"})
    return redirect(ui.request, f"/ui/articles/{article_id}/versions?{query}")
