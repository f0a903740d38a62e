"""Article library: create, read, list, update, lifecycle, versions, import."""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.articles import claims
from app.articles.models import Article, ArticleStatus, ArticleVersion
from app.articles.schemas import (
    ArticleContent,
    ArticleCreate,
    ArticleSort,
    ArticleUpdate,
)
from app.db import after_commit, utcnow
from app.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from app.feed import service as feed_service
from app.feed.models import Topic
from app.lifecycle import Lifecycle
from app.schemas import MAX_ID
from app.webhooks import service as webhook_service
from app.webhooks.models import EventType
from embeddings.exact import normalise

CONTENT_FIELDS = tuple(ArticleContent.model_fields)

LIFECYCLE = Lifecycle(
    "article",
    {
        ArticleStatus.DRAFT: frozenset({ArticleStatus.PUBLISHED}),
        ArticleStatus.PUBLISHED: frozenset({ArticleStatus.ARCHIVED}),
        ArticleStatus.ARCHIVED: frozenset({ArticleStatus.PUBLISHED}),
    },
    field="status",
)


class ArticleIndexer(Protocol):
    """Receives every committed change so search reflects it at once."""

    def sync_articles(self, articles: Sequence[Article]) -> None:
        """Index published articles, drop the others."""
        ...


def content_of(article: Article) -> dict[str, Any]:
    """The KCS content of an article as a plain dict (what a version snapshot holds)."""
    return {name: getattr(article, name) for name in CONTENT_FIELDS}


def content_hash(content: dict[str, Any]) -> str:
    """Stable hash of content, to recognise a re-import of the same text."""
    canonical = ArticleContent.model_validate(content).model_dump(mode="json")
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _key(values: Sequence[str]) -> str:
    return "|" + "".join(f"{normalise(v)}|" for v in values if normalise(v))


def apply_content(article: Article, content: dict[str, Any]) -> None:
    clean = ArticleContent.model_validate(content).model_dump(mode="json")
    for name, value in clean.items():
        setattr(article, name, value)
    article.codes_key = _key(article.error_codes)
    article.models_key = _key(article.models)
    article.content_hash = content_hash(clean)


def _snapshot(session: Session, article: Article, change: str, actor: str) -> None:
    session.add(
        ArticleVersion(
            article_id=article.id,
            version=article.version,
            status=article.status,
            change=change,
            changed_by=actor,
            content=content_of(article),
            content_hash=article.content_hash,
            created_at=article.updated_at,
        )
    )


def _flush(session: Session, article: Article) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"article {article.slug} was changed by someone else meanwhile; reload and retry",
        ) from exc
    except IntegrityError as exc:
        raise Conflict(f"article slug {article.slug!r} is already taken", field="slug") from exc


def _published(session: Session, article: Article) -> None:
    """Queue the article.published event in the same transaction as the change."""
    webhook_service.emit(
        session=session,
        type=EventType.ARTICLE_PUBLISHED,
        payload={
            "article_id": article.id,
            "slug": article.slug,
            "title": article.title,
            "version": article.version,
            "modality": article.modality,
        },
    )


def notify(session: Session, indexer: ArticleIndexer | None, articles: Sequence[Article]) -> None:
    """Search follows the change once it is committed (never a write that was not kept):
    this process's index at once, every other process's through the change feed."""
    for article in articles:
        feed_service.record(session=session, topic=Topic.ARTICLE, ref=article.id)
    if indexer is not None and articles:
        changed = builtins.list(articles)
        after_commit(session, lambda: indexer.sync_articles(changed))


def slugify(text: str) -> str:
    """Lowercase words joined by hyphens, fit for an article slug."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:70].strip("-") or "article"


def _unique_slug(session: Session, base: str) -> str:
    taken = set(session.scalars(select(Article.slug).where(Article.slug.like(f"{base}%"))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def get(*, session: Session, ref: str | int) -> Article:
    """An article by numeric id or slug."""
    ref_s = str(ref)
    if ref_s.isdigit() and int(ref_s) > MAX_ID:
        raise NotFound(f"no article with id or slug {ref_s!r}")
    stmt = select(Article).where(
        Article.id == int(ref_s) if ref_s.isdigit() else Article.slug == ref_s
    )
    article = session.scalars(stmt).first()
    if article is None:
        raise NotFound(f"no article with id or slug {ref_s!r}")
    return article


def get_many(*, session: Session, ids: Sequence[int]) -> builtins.list[Article]:
    """Articles by id, in the order asked (missing ids are skipped)."""
    if not ids:
        return []
    found = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def published_versions(*, session: Session) -> dict[int, int]:
    """id -> version of every published article, for the search index's start-up check.

    Read through the database driver: far quicker than SQLAlchemy rows at 100k articles,
    where it is a visible part of the service's start-up (docs/benchmarks.md).
    """
    stmt = select(Article.id, Article.version).where(Article.status == ArticleStatus.PUBLISHED)
    connection = session.connection()
    # the value inline: no placeholder style to match per driver
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return dict(cursor.fetchall())  # both columns are integers in every driver
    finally:
        cursor.close()


def list(
    *,
    session: Session,
    status: ArticleStatus | None = None,
    modality: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    error_code: str | None = None,
    author: str | None = None,
    q: str | None = None,
    sort: ArticleSort = "-updated_at",
    limit: int = 20,
    offset: int = 0,
) -> tuple[builtins.list[Article], int]:
    """A filtered, sorted page of articles and the total count."""
    stmt = select(Article)
    if status:
        stmt = stmt.where(Article.status == status)
    if modality:
        stmt = stmt.where(Article.modality == modality)
    if manufacturer:
        stmt = stmt.where(func.lower(Article.manufacturer) == manufacturer.lower())
    if model:
        stmt = stmt.where(Article.models_key.contains(f"|{normalise(model)}|"))
    if error_code:
        stmt = stmt.where(Article.codes_key.contains(f"|{normalise(error_code)}|"))
    if author:
        stmt = stmt.where(Article.author == author)
    if q:
        # matched literally: a % or _ typed is not a wildcard
        text = q.lower()
        stmt = stmt.where(
            or_(
                func.lower(Article.title).contains(text, autoescape=True),
                Article.slug.contains(text, autoescape=True),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column = getattr(Article, sort.lstrip("-"))
    order = column.desc() if sort.startswith("-") else column.asc()
    items = session.scalars(stmt.order_by(order, Article.id).limit(limit).offset(offset)).all()
    return builtins.list(items), int(total)


def create(
    *,
    session: Session,
    data: ArticleCreate,
    actor: str,
    indexer: ArticleIndexer | None,
    source: str | None = None,
    change: str = "created",
    confirm_claims: bool = False,
) -> Article:
    """Create an article (draft or published) as version 1; publishing a claim on another
    published article's error code needs `confirm_claims`."""
    if data.status == ArticleStatus.PUBLISHED:
        claims.check(
            session=session, article=None, confirmed=confirm_claims, codes=data.error_codes
        )
    article = insert(session=session, data=data, actor=actor, source=source, change=change)
    _flush(session, article)
    notify(session, indexer, [article])
    return article


def insert(
    *, session: Session, data: ArticleCreate, actor: str, source: str | None, change: str
) -> Article:
    now = utcnow()
    slug = data.slug or _unique_slug(session, f"{data.modality.lower()}-{slugify(data.title)}")
    if data.slug and session.scalar(select(Article.id).where(Article.slug == data.slug)):
        raise Conflict(f"article slug {data.slug!r} is already taken", field="slug")
    article = Article(
        slug=slug,
        status=data.status,
        author=data.author or actor,
        updated_by=actor,
        version=1,
        source=source,
        created_at=now,
        updated_at=now,
        published_at=now if data.status == ArticleStatus.PUBLISHED else None,
    )
    apply_content(article, data.model_dump(include=set(CONTENT_FIELDS)))
    session.add(article)
    session.flush()
    _snapshot(session, article, change, actor)
    if article.status == ArticleStatus.PUBLISHED:
        _published(session, article)
    return article


def check_version(article: Article, based_on: int | None, *, if_match: bool) -> None:
    """Refuse an edit that is not based on the current version."""
    if based_on is None:
        raise PreconditionRequired(
            f'say which version you edited: send If-Match: "{article.version}" '
            "or a 'version' field",
            current_version=article.version,
        )
    if based_on != article.version:
        error = PreconditionFailed if if_match else Conflict
        raise error(
            f"article {article.slug} is at version {article.version} but your edit was based "
            f"on version {based_on}; reload it, reapply your change and retry",
            current_version=article.version,
            your_version=based_on,
        )


def bump(session: Session, article: Article, change: str, actor: str) -> None:
    article.version += 1
    article.updated_by = actor
    article.updated_at = utcnow()
    _snapshot(session, article, change, actor)


def update(
    *,
    session: Session,
    ref: str | int,
    data: ArticleUpdate,
    actor: str,
    indexer: ArticleIndexer | None,
    if_match: int | None = None,
    confirm_claims: bool = False,
    change: str = "updated",
) -> Article:
    """Apply a partial edit based on a known version (stale edits are refused); a new
    error code on a published article is a claim like a publish (`confirm_claims`)."""
    article = get(session=session, ref=ref)
    based_on = if_match if if_match is not None else data.version
    check_version(article, based_on, if_match=if_match is not None)
    changes = data.model_dump(exclude_unset=True, exclude={"version"}, mode="json")
    content = content_of(article) | changes
    if content_hash(content) == article.content_hash:
        return article
    if article.status == ArticleStatus.PUBLISHED:
        new_codes = claims.added_codes(article.error_codes, content["error_codes"])
        claims.check(session=session, article=article, confirmed=confirm_claims, codes=new_codes)
    apply_content(article, content)
    bump(session, article, change, actor)
    _flush(session, article)
    notify(session, indexer, [article])
    return article


def transition(
    *,
    session: Session,
    ref: str | int,
    target: ArticleStatus,
    actor: str,
    indexer: ArticleIndexer | None,
    if_match: int | None = None,
    confirm_claims: bool = False,
) -> Article:
    """Move an article along its lifecycle (the only place status changes); publishing a
    claim on another published article's error code needs `confirm_claims`."""
    article = get(session=session, ref=ref)
    if if_match is not None:
        check_version(article, if_match, if_match=True)
    LIFECYCLE.check(article.slug, ArticleStatus(article.status), target)
    if target == ArticleStatus.PUBLISHED:
        claims.check(session=session, article=article, confirmed=confirm_claims)
    LIFECYCLE.move(article, target, name=article.slug)
    bump(session, article, str(target), actor)
    if target == ArticleStatus.PUBLISHED:
        article.published_at = utcnow()
        _published(session, article)
    _flush(session, article)
    notify(session, indexer, [article])
    return article


def list_versions(*, session: Session, ref: str | int) -> builtins.list[ArticleVersion]:
    """Every saved version of an article, newest first."""
    article = get(session=session, ref=ref)
    stmt = (
        select(ArticleVersion)
        .where(ArticleVersion.article_id == article.id)
        .order_by(ArticleVersion.version.desc())
    )
    return builtins.list(session.scalars(stmt))


def get_version(*, session: Session, ref: str | int, version: int) -> ArticleVersion:
    """One saved version of an article."""
    article = get(session=session, ref=ref)
    found = session.get(ArticleVersion, (article.id, version))
    if found is None:
        raise NotFound(f"article {article.slug} has no version {version}")
    return found


def restore(
    *,
    session: Session,
    ref: str | int,
    version: int,
    actor: str,
    indexer: ArticleIndexer | None,
    if_match: int | None,
) -> Article:
    """Save the content of an old version as a new version."""
    old = get_version(session=session, ref=ref, version=version)
    article = get(session=session, ref=ref)
    check_version(article, if_match, if_match=True)
    apply_content(article, old.content)
    bump(session, article, f"restored version {version}", actor)
    _flush(session, article)
    notify(session, indexer, [article])
    return article
