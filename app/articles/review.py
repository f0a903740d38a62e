"""The review gate: a KCS licence decides whose article edits go live at once.

A publisher's edits apply directly. Anyone else's edit of a published (or archived)
article is kept as a pending revision and the article stays as it is, in reads and in
search, until a publisher approves it; drafts are edited directly, a candidate's only
their own. The rules are in docs/knowledge.md.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.articles import service as article_service
from app.articles.imports import UpsertOutcome, import_slug, upsert
from app.articles.models import Article, ArticleStatus
from app.articles.review_models import ArticleRevision, RevisionStatus
from app.articles.review_schemas import FieldChange, RevisionDetail, RevisionRead
from app.articles.schemas import ArticleContent, ArticleCreate, ArticleUpdate
from app.articles.service import CONTENT_FIELDS, ArticleIndexer
from app.auth.permissions import Licence, Permission
from app.auth.service import Principal
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.lifecycle import Lifecycle

LIFECYCLE = Lifecycle(
    "revision",
    {
        RevisionStatus.PENDING: frozenset(
            {RevisionStatus.APPROVED, RevisionStatus.REJECTED, RevisionStatus.SUPERSEDED}
        ),
    },
    field="status",
)


def publishes(actor: Principal) -> bool:
    """Whether the caller's edits go live without review (a person's licence caps the
    permission: app/auth/permissions.py)."""
    return actor.can(Permission.ARTICLES_PUBLISH)


def check_create(*, actor: Principal, data: ArticleCreate) -> None:
    """Only a publisher creates an article already published (403 naming the licence)."""
    if data.status == ArticleStatus.PUBLISHED and not publishes(actor):
        raise Forbidden(
            f"only a KCS {Licence.PUBLISHER} may publish; your licence is {actor.licence}: "
            "save it as a draft and a publisher publishes it",
            needed_licence=str(Licence.PUBLISHER),
            licence=str(actor.licence),
        )


def check_draft(*, article: Article, actor: Principal) -> None:
    """A candidate changes only the drafts they are the author of."""
    if actor.licence == Licence.CANDIDATE and not publishes(actor) and article.author != actor.name:
        raise Forbidden(
            f"a KCS {Licence.CANDIDATE} changes only their own drafts; {article.slug} is "
            f"{article.author}'s: a {Licence.CONTRIBUTOR} or {Licence.PUBLISHER} may change it",
            needed_licence=str(Licence.CONTRIBUTOR),
            licence=str(actor.licence),
        )


def waits_for_review(*, article: Article, actor: Principal) -> bool:
    """Whether the caller's edit of the article is kept for review rather than applied."""
    return not publishes(actor) and article.status != ArticleStatus.DRAFT


def is_gated(*, article: Article, actor: Principal) -> bool:
    """Whether the caller's edit of the article waits for review; 403 for a draft the
    caller may not change."""
    if waits_for_review(article=article, actor=actor):
        return True
    if not publishes(actor):
        check_draft(article=article, actor=actor)
    return False


def _own_pending(session: Session, article: Article, name: str) -> builtins.list[ArticleRevision]:
    stmt = (
        select(ArticleRevision)
        .where(
            ArticleRevision.article_id == article.id,
            ArticleRevision.status == RevisionStatus.PENDING,
            ArticleRevision.proposed_by == name,
        )
        .order_by(ArticleRevision.id.desc())
    )
    return builtins.list(session.scalars(stmt))


def own_pending(*, session: Session, article: Article, actor: Principal) -> ArticleRevision | None:
    """The caller's pending revision of the article made from its current version, if any:
    their next edit amends it."""
    found = _own_pending(session, article, actor.name)
    return next((r for r in found if r.based_on == article.version), None)


def _propose(
    session: Session, article: Article, content: dict[str, Any], change: str, proposer: str
) -> Article | ArticleRevision:
    """Keep `content` as the proposer's one pending revision of the article (an earlier
    one of theirs is superseded); the article itself is not touched."""
    clean = ArticleContent.model_validate(content).model_dump(mode="json")
    digest = article_service.content_hash(clean)
    earlier = _own_pending(session, article, proposer)
    same = next(
        (r for r in earlier if r.based_on == article.version and r.content_hash == digest), None
    )
    if same is not None:
        return same  # sent again: nothing new to review
    for old in earlier:
        LIFECYCLE.move(old, RevisionStatus.SUPERSEDED, name=str(old.id))
    if digest == article.content_hash:
        session.flush()
        return article  # the change undoes itself: nothing to review
    revision = ArticleRevision(
        article_id=article.id,
        based_on=article.version,
        change=change,
        content=clean,
        content_hash=digest,
        status=RevisionStatus.PENDING,
        proposed_by=proposer,
        proposed_at=utcnow(),
    )
    session.add(revision)
    session.flush()
    return revision


def update(
    *,
    session: Session,
    ref: str | int,
    data: ArticleUpdate,
    actor: Principal,
    indexer: ArticleIndexer | None,
    if_match: int | None = None,
    confirm_claims: bool = False,
) -> Article | ArticleRevision:
    """A partial edit: applied (a publisher's, or of a draft), or kept for review. A
    second edit by the same person amends their pending revision."""
    article = article_service.get(session=session, ref=ref)
    if not is_gated(article=article, actor=actor):
        return article_service.update(
            session=session,
            ref=article.id,
            data=data,
            actor=actor.name,
            indexer=indexer,
            if_match=if_match,
            confirm_claims=confirm_claims,
        )
    based_on = if_match if if_match is not None else data.version
    article_service.check_version(article, based_on, if_match=if_match is not None)
    mine = own_pending(session=session, article=article, actor=actor)
    base = mine.content if mine is not None else article_service.content_of(article)
    changes = data.model_dump(exclude_unset=True, exclude={"version"}, mode="json")
    return _propose(session, article, base | changes, "updated", actor.name)


def restore(
    *,
    session: Session,
    ref: str | int,
    version: int,
    actor: Principal,
    indexer: ArticleIndexer | None,
    if_match: int | None,
) -> Article | ArticleRevision:
    """Restore an old version's content: applied, or kept for review like an edit."""
    article = article_service.get(session=session, ref=ref)
    if not is_gated(article=article, actor=actor):
        return article_service.restore(
            session=session,
            ref=article.id,
            version=version,
            actor=actor.name,
            indexer=indexer,
            if_match=if_match,
        )
    old = article_service.get_version(session=session, ref=article.id, version=version)
    article_service.check_version(article, if_match, if_match=True)
    return _propose(session, article, old.content, f"restored version {version}", actor.name)


Upserted = tuple[Article, UpsertOutcome]


def import_line(importer: Principal) -> Callable[..., Upserted]:
    """The import's save for one line by `importer` (article_service.import_jsonl): for a
    non-publisher, new articles are drafts and changes to published ones wait."""
    if publishes(importer):
        return upsert

    def save(*, session: Session, data: ArticleCreate, actor: str) -> Upserted:
        slug = import_slug(data)
        existing = session.scalars(select(Article).where(Article.slug == slug)).first()
        if existing is None:
            if data.status != ArticleStatus.PUBLISHED:
                return upsert(session=session, data=data, actor=actor)
            draft = data.model_copy(update={"status": ArticleStatus.DRAFT})
            article, _ = upsert(session=session, data=draft, actor=actor)
            return article, UpsertOutcome.DRAFTED
        if not is_gated(article=existing, actor=importer):
            return upsert(session=session, data=data, actor=actor)
        content = data.model_dump(include=set(CONTENT_FIELDS), mode="json")
        if article_service.content_hash(content) == existing.content_hash:
            return existing, UpsertOutcome.UNCHANGED
        _propose(session, existing, content, "imported", actor)
        return existing, UpsertOutcome.PENDING

    return save


# -- reading and deciding ------------------------------------------------------------------


def _article(session: Session, revision: ArticleRevision) -> Article:
    article = session.get(Article, revision.article_id)
    assert article is not None  # the revision goes with its article (ON DELETE CASCADE)
    return article


def get(*, session: Session, ref: str | int, revision_id: int) -> tuple[ArticleRevision, Article]:
    """A revision of an article, and the article."""
    article = article_service.get(session=session, ref=ref)
    revision = session.get(ArticleRevision, revision_id)
    if revision is None or revision.article_id != article.id:
        raise NotFound(f"article {article.slug} has no revision {revision_id}")
    return revision, article


def get_any(*, session: Session, revision_id: int) -> tuple[ArticleRevision, Article]:
    """A revision by its id alone, and its article."""
    revision = session.get(ArticleRevision, revision_id)
    if revision is None:
        raise NotFound(f"no revision with id {revision_id}")
    return revision, _article(session, revision)


def queue(
    *, session: Session, limit: int = 20, offset: int = 0
) -> tuple[builtins.list[tuple[ArticleRevision, Article]], int]:
    """Pending revisions, newest first, with their articles; and how many there are."""
    pending = ArticleRevision.status == RevisionStatus.PENDING
    total = session.scalar(select(func.count()).select_from(ArticleRevision).where(pending))
    stmt = (
        select(ArticleRevision, Article)
        .join(Article, Article.id == ArticleRevision.article_id)
        .where(pending)
        .order_by(ArticleRevision.proposed_at.desc(), ArticleRevision.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = [(revision, article) for revision, article in session.execute(stmt).tuples()]
    return rows, int(total or 0)


def of_article(
    *, session: Session, ref: str | int, status: RevisionStatus | None = None
) -> tuple[builtins.list[ArticleRevision], Article]:
    """An article's revisions (all, or of one status), newest first, and the article."""
    article = article_service.get(session=session, ref=ref)
    stmt = select(ArticleRevision).where(ArticleRevision.article_id == article.id)
    if status is not None:
        stmt = stmt.where(ArticleRevision.status == status)
    found = session.scalars(stmt.order_by(ArticleRevision.id.desc()))
    return builtins.list(found), article


def approve(
    *,
    session: Session,
    ref: str | int,
    revision_id: int,
    actor: Principal,
    indexer: ArticleIndexer | None,
    note: str | None = None,
    confirm_claims: bool = False,
) -> tuple[ArticleRevision, Article]:
    """Make a pending revision the article's new version (refused, 409, when the article
    changed since the revision was made: approving it would undo those changes)."""
    revision, article = get(session=session, ref=ref, revision_id=revision_id)
    LIFECYCLE.check(str(revision.id), RevisionStatus(revision.status), RevisionStatus.APPROVED)
    if revision.based_on != article.version:
        raise Conflict(
            f"revision {revision.id} was made from version {revision.based_on} of "
            f"{article.slug}, which is at version {article.version} now: approving it would "
            "undo what was saved since. Reject it with a note; its author can make the "
            "change again on the current version",
            current_version=article.version,
            based_on=revision.based_on,
        )
    data = ArticleUpdate.model_validate({"version": revision.based_on, **revision.content})
    article_service.update(
        session=session,
        ref=article.id,
        data=data,
        actor=actor.name,
        indexer=indexer,
        confirm_claims=confirm_claims,
        change=f"approved revision {revision.id} by {revision.proposed_by}"[:200],
    )
    _decide(revision, RevisionStatus.APPROVED, actor, note)
    session.flush()
    return revision, article


def reject(
    *, session: Session, ref: str | int, revision_id: int, actor: Principal, note: str
) -> tuple[ArticleRevision, Article]:
    """Turn a pending revision down with a note; the article stays as it is."""
    revision, article = get(session=session, ref=ref, revision_id=revision_id)
    _decide(revision, RevisionStatus.REJECTED, actor, note)
    session.flush()
    return revision, article


def _decide(
    revision: ArticleRevision, target: RevisionStatus, actor: Principal, note: str | None
) -> None:
    LIFECYCLE.move(revision, target, name=str(revision.id))
    revision.reviewed_by = actor.name
    revision.reviewed_at = utcnow()
    revision.review_note = note or None


# -- shapes ------------------------------------------------------------------------------


def differences(revision: ArticleRevision, article: Article) -> builtins.list[FieldChange]:
    """The content fields where the revision differs from the article as it is now."""
    current = article_service.content_of(article)
    return [
        FieldChange(field=name, current=current[name], proposed=revision.content.get(name))
        for name in CONTENT_FIELDS
        if current[name] != revision.content.get(name)
    ]


def read(revision: ArticleRevision, article: Article) -> RevisionRead:
    """A revision as the API shows it."""
    return RevisionRead.model_validate(_fields(revision, article))


def detail(revision: ArticleRevision, article: Article) -> RevisionDetail:
    """A revision with its field-by-field difference from the current article."""
    fields = _fields(revision, article) | {"diff": differences(revision, article)}
    return RevisionDetail.model_validate(fields)


def _fields(revision: ArticleRevision, article: Article) -> dict[str, Any]:
    pending = revision.status == RevisionStatus.PENDING
    return {
        "id": revision.id,
        "article_id": article.id,
        "article_slug": article.slug,
        "article_title": article.title,
        "based_on": revision.based_on,
        "current_version": article.version,
        "stale": pending and revision.based_on != article.version,
        "change": revision.change,
        "status": revision.status,
        "proposed_by": revision.proposed_by,
        "proposed_at": revision.proposed_at,
        "reviewed_by": revision.reviewed_by,
        "reviewed_at": revision.reviewed_at,
        "review_note": revision.review_note,
        "changed_fields": [c.field for c in differences(revision, article)],
        "content": revision.content,
    }
